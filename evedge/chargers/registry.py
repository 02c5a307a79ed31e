"""The connected chargers: charger id -> live session, and the connection lifecycle.

The WebSocket handler is a transport: it asks :meth:`ConnectedChargers.admit`
before the upgrade, hands over with :meth:`connect` once the socket is open, and
reports the close with :meth:`disconnect`. Everything a connection changes
(the session registry, the connection times in the database, the dashboard
events, the reconnect rule) happens here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterator

from ocpp.v16 import call
from ocpp.v16.enums import MessageTrigger

from .. import errors
from ..domain import charging
from ..storage.group_commit import CommitFailed, StorageError
from ..timeutil import utcnow
from .charger_auth import ChargerPasswords
from .dispatch import Send, SessionContext
from .session import ChargePointSession

ASK_FOR_BOOT_TIMEOUT = 30.0  # seconds a just-approved charger has to take the TriggerMessage

log = logging.getLogger(__name__)

Close = Callable[[int, str], None]
Probe = Callable[[float], Awaitable[bool]]


@dataclass(frozen=True)
class Admission:
    """A connection the registry lets in: the charger's registration status, and whether
    it proved the charger's password (HTTP Basic, security profile 1)."""

    registration_status: str
    authenticated: bool = False
    new: bool = False   # unknown until now: registered by connect(), not before (D25)


@dataclass
class _Live:
    session: ChargePointSession
    close: Close
    probe: Probe


class ConnectedChargers:
    """Owner of the connected chargers.

    One live session per id, and no takeover of a live one (docs/decisions.md D14): a
    new connection for a connected id replaces the old one only when the old one is
    dead (it does not answer a WebSocket ping within ``takeover_probe_timeout``), or
    when the newcomer proved the charger's password. A charger that reconnects before
    its old socket was noticed dead (the field case) still takes over; an impostor on
    the site network, with a live charger on that id, is refused before the upgrade.
    """

    def __init__(self, context: SessionContext, passwords: ChargerPasswords,
                 takeover_probe_timeout: float = 3.0):
        self.context = context
        self.passwords = passwords
        self._probe_timeout = takeover_probe_timeout
        self._live: dict[str, _Live] = {}
        self._sessions: dict[str, ChargePointSession] = {}
        self.refused_takeovers = 0
        self._tasks: set[asyncio.Future] = set()

    # --- the lifecycle of one connection ---------------------------------------------------

    async def admit(self, charger_id: str, password: tuple[str, bytes] | None,
                    remote_ip: str | None = None) -> Admission:
        """Decide, before the WebSocket upgrade, whether a charger may connect.

        ``password`` is the HTTP Basic (user, password) pair of OCPP 1.6 security
        profile 1, or None. Raises NotFound (unknown id, admission ``reject``),
        Unauthorized (the charger has a password and did not give it), Conflict (the id
        is connected, alive, and the newcomer did not prove the password),
        TooManyRequests (failures from this charger id or address) or Busy.
        """
        admitted = charging.admit_charger(charger_id, self.context.policy)   # writes nothing
        if admitted is None:
            log.info("charger=%s refused: unknown id (admission policy 'reject')", charger_id)
            raise errors.NotFound("unknown charge point id")
        status, password_hash = admitted.registration_status, admitted.password_hash
        authenticated = False
        if password_hash is not None:
            if not await self.passwords.verify(charger_id, password, password_hash, remote_ip):
                log.warning("charger=%s failed HTTP Basic authentication from %s", charger_id,
                            remote_ip)
                raise errors.Unauthorized("charger authentication failed")
            authenticated = True
        if not authenticated and await self._live_elsewhere(charger_id):
            self.refused_takeovers += 1
            log.warning("charger=%s refused a second connection from %s: the connected one "
                        "answered a ping (set a charger password to allow takeovers)",
                        charger_id, remote_ip)
            raise errors.Conflict(f"charge point {charger_id} is connected")
        return Admission(status, authenticated, admitted.new)

    async def _live_elsewhere(self, charger_id: str) -> bool:
        """Whether a connection for this id is open and answers a ping in time."""
        live = self._live.get(charger_id)
        return live is not None and await live.probe(self._probe_timeout)

    def connect(self, charger_id: str, send: Send, close: Close, probe: Probe,
                admission: Admission, remote_ip: str | None = None) -> ChargePointSession:
        """A charger's WebSocket is open: make its session the live one."""
        session = ChargePointSession(charger_id, send, self.context,
                                     admission.registration_status)
        self._attach(_Live(session, close, probe))
        committer, events = self.context.committer, self.context.events
        noted = self._record_connection(
            charger_id, True, admission.registration_status if admission.new else None)
        if admission.new and not noted:  # unregistered, it could not be answered as Pending
            close(1013, "try again later")  # RFC 6455 §7.4.1: Try Again Later
        events.publish_when_committed(committer, "charger.connected", charger_id=charger_id)
        log.info("charger=%s connected from %s", charger_id, remote_ip)
        return session

    def disconnect(self, session: ChargePointSession, code: int | None = None) -> None:
        """A charger's WebSocket closed; forget the session if it was still the live one."""
        session.connection_closed()
        if self._detach(session):
            committer, events = self.context.committer, self.context.events
            self._record_connection(session.id, False)
            events.publish_when_committed(committer, "charger.disconnected",
                                          charger_id=session.id)
        log.info("charger=%s disconnected (code %s)", session.id, code)

    def _record_connection(self, charger_id: str, connected: bool,
                           register_as: str | None = None) -> bool:
        """Note the (dis)connection in the charger's row (registering a new charger first).
        What is connected is known from the sessions in memory; the row is for history, so
        a database that cannot take the write right now (a lock held elsewhere) costs that
        note, not the connection of a known charger. Returns whether it was noted."""
        try:
            self.context.committer.run(lambda: charging.record_connection(
                charger_id, connected, utcnow(), register_as))
        except (CommitFailed, StorageError) as exc:
            log.warning("charger=%s could not note its %s (%s)", charger_id,
                        "connection" if connected else "disconnection", exc)
            return False
        return True

    def _attach(self, live: _Live) -> bool:
        """Make ``live`` the live one; returns True when it replaced an older one."""
        charger_id = live.session.id
        old = self._live.get(charger_id)
        self._live[charger_id] = live
        self._sessions[charger_id] = live.session
        if old is not None:
            log.info("charger=%s reconnected; closing its previous connection", charger_id)
            old.close(1000, "replaced by a new connection")
            return True
        return False

    def _detach(self, session: ChargePointSession) -> bool:
        """Forget ``session`` if it is still the live one; returns whether it was."""
        if self._sessions.get(session.id) is not session:
            return False
        del self._sessions[session.id]
        del self._live[session.id]
        return True

    # --- what the rest of evedge asks ------------------------------------------------------

    def get(self, charger_id: str) -> ChargePointSession | None:
        return self._sessions.get(charger_id)

    def registration_changed(self, charger_id: str, status: str) -> None:
        """An admin changed the registration status of a charger.

        A downgrade (Pending, Rejected) stops commands at once; an approval takes
        effect with the charger's next BootNotification, which is answered with it. A
        connected charger is asked for that BootNotification at once (TriggerMessage, which
        the Central System may send a Pending charger, OCPP 1.6 §4.2.1), so it does not
        wait out its Pending interval (often minutes) before it may charge.
        """
        session = self._sessions.get(charger_id)
        if session is None:
            return
        if status != "Accepted":
            session.registration_status = status
        elif session.registration_status != "Accepted":
            self._background(self._ask_for_boot(session))

    async def _ask_for_boot(self, session: ChargePointSession) -> None:
        trigger = call.TriggerMessage(requested_message=MessageTrigger.boot_notification)
        try:
            result = await session.request(trigger, ASK_FOR_BOOT_TIMEOUT)
        except Exception as exc:  # a CALLERROR, no answer, gone: it learns at its next boot
            log.info("charger %s approved; asking for its BootNotification failed (%s: %s)",
                     session.id, type(exc).__name__, exc)
            return
        log.info("charger %s approved; asked for its BootNotification: %s", session.id,
                 result.status)

    def _background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # a reference, or the task may be collected mid-way
        task.add_done_callback(self._tasks.discard)

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
        for live in list(self._live.values()):
            live.close(code, reason)


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).replace(tzinfo=None)
