"""Commands to chargers (CS -> CP calls): gatekeeping, timeouts, the audit log.

``Commands.run`` is the REST API's entry: validate the body against the OCPP
schema, check the charger may receive commands, let ``command_effects`` prepare
the body, send, and keep what the answer teaches us. ``Commands.send`` is the raw
path for callers that build the ``ocpp.v16.call`` payload themselves (the local
list sync through :meth:`Commands.local_list_sender`). All map failures to the
domain errors of ``errors.py`` (404/409/502/503/504).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict
from typing import Any, Awaitable, Callable

from ocpp.charge_point import remove_nones
from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError
from ocpp.v16 import call
from ocpp.v16.enums import UpdateType

from .. import errors
from ..domain import charger_admin, charger_ids, command_effects, local_lists
from ..domain.charging import as_json
from ..metrics import Metrics
from ..storage.group_commit import GroupCommit
from ..storage.models import CommandLog
from ..timeutil import utcnow
from . import catalog, charger_auth
from .registry import ConnectedChargers
from .session import ChargePointSession

log = logging.getLogger(__name__)

_UPDATE_TYPES = {"full": UpdateType.full, "differential": UpdateType.differential}


HashPassword = Callable[[bytes], Awaitable[str]]
_KEY_TAKEN = ("Accepted", "RebootRequired")


class Commands:
    def __init__(self, chargers: ConnectedChargers, timeout: float,
                 hash_password: HashPassword, metrics: Metrics | None = None,
                 committer: GroupCommit | None = None):
        self._chargers = chargers
        self._timeout = timeout
        self._hash_password = hash_password
        self._metrics = metrics or Metrics()
        self._committer = committer  # for audit rows written with the group commit

    async def run(self, charger_id: str, slug: str, body: dict[str, Any],
                  username: str = "") -> dict[str, Any]:
        """Run a REST command by its slug; returns the charger's answer in snake_case."""
        command = catalog.lookup(slug)
        catalog.check(command, body)  # a bad body is a 400 before anything else
        session = self._live_session(charger_id, command.action, body, username)
        body = command_effects.prepare(command.action, charger_id, body)
        new_key_hash = await self._new_key_hash(command.action, body)
        try:
            result = await self._request(session, command.payload_class(**body), username)
        except errors.EvedgeError as exc:
            outcome = "callerror" if isinstance(exc, errors.ChargerCallError) else "none"
            command_effects.abandon(command.action, body, outcome)
            raise
        # Fields the charger did not send are left out, not returned as null.
        response = remove_nones(asdict(result))
        command_effects.record(command.action, charger_id, body, response)
        if new_key_hash is not None and response.get("status") in _KEY_TAKEN:
            self._adopt_key(charger_id, new_key_hash)
        if command.action == "ReserveNow":
            response["reservation_id"] = body["reservation_id"]
        return response

    async def send(self, charger_id: str, payload: Any, username: str = "",
                   batched_audit: bool = False) -> Any:
        """Send an ``ocpp.v16.call`` dataclass and return the charger's call_result.

        ``batched_audit``: the command log rows go into the group commit (one fsync per
        ``commit_window`` for all of them) instead of one autocommit each, for a sender that
        sends many at once (load management: thousands of profiles after one event, where
        two fsyncs per command dominated). A row may then be lost in a crash within the
        commit window after its command was sent.
        """
        session = self._live_session(charger_id, type(payload).__name__, asdict(payload),
                                     username)
        return await self._request(session, payload, username, batched_audit)

    async def _new_key_hash(self, action: str, body: dict[str, Any]) -> str | None:
        """For a ChangeConfiguration of AuthorizationKey (1.6 security whitepaper, profile
        1): the hash of the Basic-auth password the key stands for, made before sending, so
        the charger's reconnect with its new key is never refused for lack of it."""
        if action != "ChangeConfiguration" or body.get("key") != charger_auth.AUTHORIZATION_KEY:
            return None
        return await self._hash_password(charger_auth.key_password(body["value"]))

    def _adopt_key(self, charger_id: str, password_hash: str) -> None:
        """The charger took its new AuthorizationKey: from now on it is its password."""
        charger_admin.set_password_hash(charger_id, password_hash)
        self._chargers.passwords.forget(charger_id)
        log.info("charger %s: new AuthorizationKey accepted; it is now its password",
                 charger_id)

    def local_list_sender(self, charger_id: str, username: str = "") -> local_lists.Send:
        """Turn a planned local list update into a SendLocalList (§5.15); the charger's
        status comes back as text."""
        async def send(update: local_lists.LocalListUpdate) -> str:
            result = await self.send(charger_id, call.SendLocalList(
                list_version=update.list_version,
                update_type=_UPDATE_TYPES[update.update_type],
                local_authorization_list=update.entries), username=username)
            return result.status
        return send

    def _live_session(self, charger_id: str, action: str, body: dict[str, Any],
                      username: str) -> ChargePointSession:
        """The charger's session if it may receive a command now; refusals are audited."""
        session = self._chargers.get(charger_id)
        if session is None:
            charger_ids.require_known(charger_id)
            self._refused(charger_id, action, body, username, "offline")
            raise errors.ChargerOffline(f"charger {charger_id} is not connected")
        if session.registration_status != "Accepted":
            # docs/decisions.md D15: nothing is sent to a Pending or Rejected charger.
            self._refused(charger_id, action, body, username, "not_accepted")
            raise errors.ChargerNotAccepted(
                f"charger {charger_id} is {session.registration_status}, not Accepted",
                registration_status=session.registration_status)
        return session

    def _refused(self, charger_id: str, action: str, body: dict[str, Any], username: str,
                 outcome: str) -> None:
        CommandLog.create(charger=charger_id, username=username, action=action,
                          request=as_json(command_effects.redacted(action, body)),
                          outcome=outcome, sent_at=utcnow())
        self._metrics.command(action, outcome)

    def _write(self, work: Any, batched: bool) -> Any:
        if batched and self._committer is not None:
            return self._committer.run(work)  # in a savepoint: a failure stays its own
        return work()

    async def _request(self, session: ChargePointSession, payload: Any, username: str,
                       batched: bool = False) -> Any:
        action = type(payload).__name__
        charger_id = session.id
        entry = self._write(lambda: CommandLog.create(
            charger=charger_id, username=username, action=action,
            request=as_json(command_effects.redacted(action, asdict(payload))), outcome="sent",
            sent_at=utcnow()), batched)
        finish = functools.partial(self._finish_as, batched)
        try:
            result = await session.request(payload, self._timeout)
        except OCPPError as exc:
            finish(entry, "callerror", {"code": exc.code, "description": exc.description,
                                        "details": exc.details})
            raise errors.ChargerCallError(f"charger answered {action} with {exc.code}",
                                          code=exc.code, description=exc.description) from None
        except UnknownCallErrorCodeError as exc:
            finish(entry, "callerror", {"description": str(exc)})
            raise errors.ChargerCallError(f"charger answered {action} with an unknown error code",
                                          code="Unknown") from None
        except TimeoutError:
            finish(entry, "timeout", None)
            raise errors.ChargerTimeout(
                f"charger {charger_id} did not answer {action} within {self._timeout:g} s"
            ) from None
        except ConnectionError:
            finish(entry, "offline", None)
            raise errors.ChargerOffline(
                f"charger {charger_id} disconnected before answering {action}") from None
        finish(entry, "answered", asdict(result))
        return result

    def _finish_as(self, batched: bool, entry: CommandLog, outcome: str, response: Any) -> None:
        self._write(lambda: self._finish(entry, outcome, response), batched)

    def _finish(self, entry: CommandLog, outcome: str, response: Any) -> None:
        entry.outcome = outcome
        entry.response = "" if response is None else as_json(
            command_effects.redacted(entry.action, response))
        entry.answered_at = utcnow()
        entry.save()
        self._metrics.command(entry.action, outcome, entry.sent_at, entry.answered_at)
