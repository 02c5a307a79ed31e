"""Domain errors with the HTTP status the REST boundary answers them with."""

from __future__ import annotations

import math


class EvedgeError(Exception):
    status = 500

    def __init__(self, message: str, field: str | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra

    def as_json(self) -> dict:
        body = {"error": self.message}
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return body


class BadRequest(EvedgeError):
    status = 400


class Unauthorized(EvedgeError):
    status = 401


class Forbidden(EvedgeError):
    status = 403


class NotFound(EvedgeError):
    status = 404


class Conflict(EvedgeError):
    status = 409


class PayloadTooLarge(EvedgeError):
    """A body is over its limit (max_json_body_bytes, firmware_max_bytes,
    diagnostics_max_bytes)."""

    status = 413


class TooManyRequests(EvedgeError):
    """Too many failed attempts (logins, setup codes): try again after ``retry_after`` s."""

    status = 429

    def __init__(self, message: str, retry_after: float, field: str | None = None):
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(message, field=field, retry_after=self.retry_after)


class Busy(EvedgeError):
    """The box cannot take this work now (its password checks are queued up): try again
    after ``retry_after`` s."""

    status = 503

    def __init__(self, message: str, retry_after: float = 1):
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(message, retry_after=self.retry_after)


class ChargerNotAccepted(Conflict):
    """The charger is Pending or Rejected: no command is sent to it (docs/decisions.md D15)."""


class ChargerRejected(Conflict):
    """The charger answered the command with Rejected (remote start alias)."""


class ChargerCallError(EvedgeError):
    """The charger answered the command with a CALLERROR."""

    status = 502


class ChargerOffline(EvedgeError):
    status = 503


class ChargerTimeout(EvedgeError):
    status = 504


class InsufficientStorage(EvedgeError):
    """Storing the upload would leave less than min_free_bytes on the data volume."""

    status = 507
