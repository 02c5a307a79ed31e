"""The live sessions: charger id -> session, with the reconnect rule in one place."""

from __future__ import annotations

import logging
from typing import Callable, Iterator

from .session import ChargePointSession

log = logging.getLogger(__name__)


class ConnectedChargers:
    """Owner of the connected chargers.

    One live session per id (architecture.md §5): a charger that reconnects
    before its old socket was detected dead (a reconnect storm after a network
    blip) gets the new session, and the old socket is closed.
    """

    def __init__(self) -> None:
        self._sessions: dict[str, ChargePointSession] = {}
        self._closers: dict[str, Callable[[int, str], None]] = {}

    def attach(self, session: ChargePointSession, close: Callable[[int, str], None]) -> bool:
        """Make ``session`` the live one; returns True when it replaced an older one."""
        old_close = self._closers.get(session.id)
        self._sessions[session.id] = session
        self._closers[session.id] = close
        if old_close is not None:
            log.info("%s reconnected; closing its previous connection", session.id)
            old_close(1000, "replaced by a new connection")
            return True
        return False

    def detach(self, session: ChargePointSession) -> bool:
        """Forget ``session`` if it is still the live one; returns whether it was."""
        if self._sessions.get(session.id) is not session:
            return False
        del self._sessions[session.id]
        del self._closers[session.id]
        return True

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

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[ChargePointSession]:
        return iter(list(self._sessions.values()))

    def close_all(self, code: int, reason: str) -> None:
        for close in list(self._closers.values()):
            close(code, reason)
