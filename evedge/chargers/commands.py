"""Commands to chargers (CS -> CP calls): gatekeeping, timeouts, the audit log.

The REST layer calls ``Commands.send`` and gets the charger's answer as a
``call_result`` dataclass, or one of the domain errors in ``errors.py``, which
it maps to 404/409/502/503/504.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, is_dataclass
from typing import Any

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError

from .. import errors
from ..charging import as_json
from ..models import Charger, CommandLog
from ..timeutil import utcnow
from .registry import ConnectedChargers

log = logging.getLogger(__name__)


class Commands:
    def __init__(self, chargers: ConnectedChargers, timeout: float):
        self._chargers = chargers
        self._timeout = timeout

    async def send(self, charger_id: str, payload: Any, username: str = "") -> Any:
        """Send ``payload`` (an ``ocpp.v16.call`` dataclass) and return the charger's answer."""
        session = self._chargers.get(charger_id)
        if session is None:
            if not Charger.select().where(Charger.id == charger_id).exists():
                raise errors.NotFound(f"charger {charger_id} is not known")
            raise errors.ChargerOffline(f"charger {charger_id} is not connected")
        if session.registration_status != "Accepted":
            # architecture.md §5: nothing is sent to a Pending or Rejected charger.
            raise errors.ChargerNotAccepted(
                f"charger {charger_id} is {session.registration_status}, not Accepted",
                registration_status=session.registration_status)
        action = type(payload).__name__
        entry = CommandLog.create(charger=charger_id, username=username, action=action,
                                  request=as_json(asdict(payload)), outcome="sent",
                                  sent_at=utcnow())
        try:
            result = await session.request(payload, self._timeout)
        except OCPPError as exc:
            self._finish(entry, "callerror", {"code": exc.code, "description": exc.description,
                                              "details": exc.details})
            raise errors.ChargerCallError(f"charger answered {action} with {exc.code}",
                                          code=exc.code, description=exc.description) from None
        except UnknownCallErrorCodeError as exc:
            self._finish(entry, "callerror", {"description": str(exc)})
            raise errors.ChargerCallError(f"charger answered {action} with an unknown error code",
                                          code="Unknown") from None
        except TimeoutError:
            self._finish(entry, "timeout", None)
            raise errors.ChargerTimeout(
                f"charger {charger_id} did not answer {action} within {self._timeout:g} s") from None
        except ConnectionError:
            self._finish(entry, "offline", None)
            raise errors.ChargerOffline(
                f"charger {charger_id} disconnected before answering {action}") from None
        self._finish(entry, "answered", asdict(result) if is_dataclass(result) else result)
        return result

    @staticmethod
    def _finish(entry: CommandLog, outcome: str, response: Any) -> None:
        entry.outcome = outcome
        entry.response = "" if response is None else as_json(response)
        entry.answered_at = utcnow()
        entry.save()
