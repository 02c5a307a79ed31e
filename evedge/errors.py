"""Domain errors with the HTTP status the REST boundary answers them with."""

from __future__ import annotations


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
    """An uploaded file is over its limit (firmware_max_bytes, diagnostics_max_bytes)."""

    status = 413


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
