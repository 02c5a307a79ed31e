"""The connected chargers: charger id -> live session, and the connection lifecycle.

The WebSocket handler is a transport: it asks :meth:`ConnectedChargers.admit`
before the upgrade, hands over with :meth:`connect` once the socket is open, and
reports the close with :meth:`disconnect`. Everything a connection changes
(the session registry, the connection times in the database, the dashboard
events, the reconnect rule) happens here.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterator

from .. import errors
from ..domain import charging
from ..timeutil import utcnow
from .dispatch import Send, SessionContext
from .session import ChargePointSession

log = logging.getLogger(__name__)

Close = Callable[[int, str], None]
CheckPassword = Callable[[str, str], Awaitable[bool]]


@dataclass(frozen=True)
class Admission:
    """A connection the registry lets in: the charger's registration status."""

    registration_status: str


class ConnectedChargers:
    """Owner of the connected chargers.

    One live session per id (docs/decisions.md D14): a
    charger that reconnects before its old socket was detected dead (a reconnect
    storm after a network blip) gets the new session, and the old socket is closed.
    """

    def __init__(self, context: SessionContext, check_password: CheckPassword):
        self.context = context
        self._check_password = check_password
        self._sessions: dict[str, ChargePointSession] = {}
        self._closers: dict[str, Close] = {}

    # --- the lifecycle of one connection ---------------------------------------------------

    async def admit(self, charger_id: str, password: tuple[str, str] | None) -> Admission:
        """Decide, before the WebSocket upgrade, whether a charger may connect.

        ``password`` is the HTTP Basic (user, password) pair of OCPP 1.6 security
        profile 1, or None. Raises NotFound (unknown id, admission ``reject``) or
        Unauthorized (the charger has a password and did not give it).
        """
        admitted = self.context.committer.run(
            lambda: charging.admit_charger(charger_id, self.context.policy, utcnow()))
        if admitted is None:
            log.info("refused unknown charger %s (admission policy 'reject')", charger_id)
            raise errors.NotFound("unknown charge point id")
        status, password_hash = admitted
        if password_hash is not None and not await self._password_ok(
                charger_id, password, password_hash):
            log.warning("charger %s failed HTTP Basic authentication", charger_id)
            raise errors.Unauthorized("charger authentication failed")
        return Admission(status)

    async def _password_ok(self, charger_id: str, given: tuple[str, str] | None,
                           password_hash: str) -> bool:
        """OCPP 1.6 security profile 1: Basic auth, username = charge point id."""
        if given is None or given[0] != charger_id:
            return False
        return await self._check_password(given[1], password_hash)

    def connect(self, charger_id: str, send: Send, close: Close, admission: Admission,
                remote_ip: str | None = None) -> ChargePointSession:
        """A charger's WebSocket is open: make its session the live one."""
        session = ChargePointSession(charger_id, send, self.context,
                                     admission.registration_status)
        self._attach(session, close)
        committer, events = self.context.committer, self.context.events
        committer.run(lambda: charging.record_connection(charger_id, True, utcnow()))
        events.publish_when_committed(committer, "charger.connected", charger_id=charger_id)
        log.info("charger %s connected from %s", charger_id, remote_ip)
        return session

    def disconnect(self, session: ChargePointSession, code: int | None = None) -> None:
        """A charger's WebSocket closed; forget the session if it was still the live one."""
        session.connection_closed()
        if self._detach(session):
            committer, events = self.context.committer, self.context.events
            committer.run(lambda: charging.record_connection(session.id, False, utcnow()))
            events.publish_when_committed(committer, "charger.disconnected",
                                          charger_id=session.id)
        log.info("charger %s disconnected (code %s)", session.id, code)

    def _attach(self, session: ChargePointSession, close: Close) -> bool:
        """Make ``session`` the live one; returns True when it replaced an older one."""
        old_close = self._closers.get(session.id)
        self._sessions[session.id] = session
        self._closers[session.id] = close
        if old_close is not None:
            log.info("%s reconnected; closing its previous connection", session.id)
            old_close(1000, "replaced by a new connection")
            return True
        return False

    def _detach(self, session: ChargePointSession) -> bool:
        """Forget ``session`` if it is still the live one; returns whether it was."""
        if self._sessions.get(session.id) is not session:
            return False
        del self._sessions[session.id]
        del self._closers[session.id]
        return True

    # --- what the rest of evedge asks ------------------------------------------------------

    def get(self, charger_id: str) -> ChargePointSession | None:
        return self._sessions.get(charger_id)

    def registration_changed(self, charger_id: str, status: str) -> None:
        """An admin changed the registration status of a charger.

        A downgrade (Pending, Rejected) stops commands at once; an approval takes
        effect with the charger's next BootNotification, which is answered with it.
        """
        session = self._sessions.get(charger_id)
        if session is not None and status != "Accepted":
            session.registration_status = status

    def is_online(self, charger_id: str) -> bool:
        return charger_id in self._sessions

    def last_seen(self, charger_id: str) -> dt.datetime | None:
        """Live last-seen time of a connected charger (the database lags by up to a
        housekeeping period), naive UTC."""
        session = self._sessions.get(charger_id)
        return None if session is None else _utc(session.last_seen)

    def last_seen_all(self) -> list[tuple[str, dt.datetime]]:
        return [(s.id, _utc(s.last_seen)) for s in self._sessions.values()]

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[ChargePointSession]:
        return iter(list(self._sessions.values()))

    def close_all(self, code: int, reason: str) -> None:
        for close in list(self._closers.values()):
            close(code, reason)


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).replace(tzinfo=None)
