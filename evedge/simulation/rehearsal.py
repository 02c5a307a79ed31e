"""What a technician makes a simulated charger do in a commissioning rehearsal: a car plugged
in and out, a tag swiped at the reader, a fault and its repair, the network cut and restored.

Each method does what the charge point's hardware would, and sends what a real one sends:
StatusNotification (§4.9) as the connector changes, Authorize (§4.1) and StartTransaction
(§4.8) for a swipe, StopTransaction (§4.10) when a session ends. An action that does not apply
now (a car plugged into an occupied connector, a swipe with no car, a fault on a Faulted
connector, ...) raises `NotNow`, saying why, before it changes or sends anything. A bad
argument (a connector the charger does not have, an unknown error code) is a ValueError.

While the charger is offline, connector changes are kept and reported when it is registered
again (`registration._on_accepted`), as a real charger does; a swipe needs the Central
System's answer and is refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus, Reason

from .clock import utc_now
from .state import Connector

# §7.6: the error codes of a Faulted StatusNotification (NoError is no fault).
FAULT_CODES = frozenset(ChargePointErrorCode) - {ChargePointErrorCode.no_error}
_PLUG_IN_FROM = (ChargePointStatus.available, ChargePointStatus.reserved)
_WHAT_TO_DO = {
    ChargePointStatus.faulted: "clear the fault first",
    ChargePointStatus.unavailable: "it is Inoperative: change its availability first",
    ChargePointStatus.finishing: "plug the car out (and in again) first",
    ChargePointStatus.reserved: "it is reserved for another tag",
}


class NotNow(Exception):
    """The action does not apply to the charger as it is now; the text says why."""


@dataclasses.dataclass(frozen=True)
class Swipe:
    """What a swipe did. ``authorization``: the idTagInfo status the charger acted on (None when
    it asked nothing: the tag stopped its own session). ``transaction_id``: the transaction that
    started, or with ``stopped``, the one that was stopped; None when none started."""

    authorization: str | None
    transaction_id: int | None
    stopped: bool = False


class RehearsalMixin:
    """The rehearsal actions of `SimulatedCharger` (see the module docstring)."""

    # ---- the car ---------------------------------------------------------------------------

    async def plug_in(self, connector_id: int) -> None:
        """A car's cable goes into the connector: Preparing (§4.9), or still Reserved until the
        reserved tag is swiped. The car draws once a session runs (a swipe, a remote start)."""
        connector = self._rehearsal_connector(connector_id)
        self._not_starting(connector)
        if connector.plugged_in or connector.transaction is not None:
            raise NotNow(f"connector {connector_id} has a car already")
        if connector.status not in _PLUG_IN_FROM:
            raise _refusal(connector)
        connector.plugged_in = True
        connector.car = self._default_car()
        if connector.status == ChargePointStatus.available:
            await self._set_status(connector, ChargePointStatus.preparing)

    async def plug_out(self, connector_id: int) -> None:
        """The cable comes out. A running session ends with StopTransaction reason EVDisconnected
        (StopTransactionOnEVSideDisconnect, §9.1) and the connector becomes Available; a Faulted,
        Unavailable or Reserved one stays so."""
        connector = self._rehearsal_connector(connector_id)
        self._not_starting(connector)
        if not connector.plugged_in and connector.transaction is None:
            raise NotNow(f"no car is plugged into connector {connector_id}")
        if connector.transaction is not None and not self.config.flag(
            "StopTransactionOnEVSideDisconnect"
        ):
            raise NotNow(
                "StopTransactionOnEVSideDisconnect is false here: a session that outlives its "
                "cable is not simulated"
            )
        connector.plugged_in = False
        if connector.transaction is not None:
            await self._end_transaction(connector, Reason.ev_disconnected, finishing=False)
            return
        connector.car = None
        if connector.status in (ChargePointStatus.preparing, ChargePointStatus.finishing):
            await self._set_status(connector, self._idle_status(connector))

    async def swipe(self, connector_id: int, id_tag: str) -> Swipe:
        """A driver presents ``id_tag`` at the connector's reader. With a car plugged in and no
        session: Authorize (§4.1; with LocalPreAuthorize the local list or cache answers, §3.5)
        and, once Accepted, StartTransaction and Charging (§4.8). The tag of the running session
        stops it instead: StopTransaction reason Local, with that idTag (§4.10)."""
        connector = self._rehearsal_connector(connector_id)
        self._not_starting(connector)
        running = connector.transaction
        if running is not None:
            if running.id_tag.casefold() != id_tag.casefold():  # IdToken is a CiString20 (§7)
                raise NotNow(
                    f"connector {connector_id} is in transaction {running.transaction_id} of "
                    f"tag {running.id_tag}: swipe that tag to stop it, or plug the car out"
                )
            await self._end_transaction(connector, Reason.local, id_tag=id_tag)
            return Swipe(None, running.transaction_id, stopped=True)
        if not connector.plugged_in:
            raise NotNow(f"no car is plugged into connector {connector_id}: plug one in first")
        if not self.accepted:
            raise NotNow(f"{self.id} is offline: this simulator starts sessions only online")
        if not self._can_start(connector, id_tag):
            raise _refusal(connector)
        connector.claimed_by = id_tag
        started = await self._start_session(connector, id_tag, remote=False)
        status = (self.auth_cache.get(id_tag) or {}).get("status")
        transaction = connector.transaction if started else None
        return Swipe(status, transaction.transaction_id if transaction else None)

    # ---- faults ----------------------------------------------------------------------------

    async def inject_fault(
        self, connector_id: int, error_code: str, info: str | None = None
    ) -> None:
        """The connector (0: the charge point as a whole) reports Faulted with ``error_code``
        and ``info`` (§4.9, §7.6). A session on it goes on without energy until the fault
        clears: §4.9 has Charging -> Faulted -> Charging."""
        connector = self._rehearsal_connector(connector_id, whole=True)
        if error_code not in FAULT_CODES:
            raise ValueError(f"error_code must be a ChargePointErrorCode other than NoError: "
                             f"{error_code!r}")
        self._not_starting(connector)
        if connector.status == ChargePointStatus.faulted:
            raise NotNow(f"connector {connector_id} is Faulted already ({connector.error_code})")
        extra = {"info": info} if info else {}
        await self._set_status(connector, ChargePointStatus.faulted, error_code, **extra)

    async def clear_fault(self, connector_id: int) -> None:
        """The fault is repaired. The connector reports what it is without it: Charging for a
        session (its car draws again; the load then reports a Suspended state if it pauses),
        Preparing with a car plugged in, else Available (or Reserved, Unavailable)."""
        connector = self._rehearsal_connector(connector_id, whole=True)
        if connector.status != ChargePointStatus.faulted:
            raise NotNow(f"connector {connector_id} is not Faulted (it is {connector.status})")
        if connector.transaction is not None and self._operative(connector):
            await self._set_status(connector, ChargePointStatus.charging)
        else:
            await self._set_status(connector, self._idle_status(connector, recovering=True))

    # ---- the network -----------------------------------------------------------------------

    @property
    def held_offline(self) -> bool:
        """Whether `go_offline` keeps the charger from connecting now."""
        return not self._may_connect.is_set()

    async def go_offline(self, seconds: float | None = None, *, reboot: bool = False) -> None:
        """Lose the network: the connection drops with no closing handshake, and the charger
        stays offline for ``seconds`` (``offline_until``) or until `go_online`. Without
        ``reboot`` it comes back without a BootNotification and its sessions go on; with it,
        it restarts (`drop_connection`). For a charger that `run` keeps online."""
        if seconds is not None and not (
            isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0
        ):
            raise ValueError(f"seconds must be a number above 0, or None: {seconds!r}")
        if self.held_offline:
            raise NotNow(f"{self.id} is offline already")
        self._may_connect.clear()
        if seconds is not None:
            self.offline_until = utc_now() + dt.timedelta(seconds=seconds)
            self._back_online = self._spawn(self._online_after(seconds), "back-online")
        await self.drop_connection(reboot=reboot)

    async def go_online(self) -> None:
        """End `go_offline` now: the charger reconnects at once (with a BootNotification after
        a reboot)."""
        if not self.held_offline:
            raise NotNow(f"{self.id} is not held offline")
        task = self._back_online
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._let_connect()

    async def _online_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._let_connect()

    def _let_connect(self) -> None:
        self.offline_until, self._back_online = None, None
        self._may_connect.set()

    # ---- checks ----------------------------------------------------------------------------

    def _rehearsal_connector(self, connector_id: int, *, whole: bool = False) -> Connector:
        """The connector; ValueError for one the charger does not have (0 only with whole)."""
        lowest, highest = (0 if whole else 1), len(self.connectors) - 1
        if (
            isinstance(connector_id, bool)
            or not isinstance(connector_id, int)
            or not lowest <= connector_id <= highest
        ):
            raise ValueError(f"connector_id must be from {lowest} to {highest}: {connector_id!r}")
        return self.connectors[connector_id]

    def _not_starting(self, connector: Connector) -> None:
        if connector.claimed_by is not None and connector.transaction is None:
            raise NotNow(
                f"a session is starting on connector {connector.connector_id}; try again once "
                "it has"
            )


def _refusal(connector: Connector) -> NotNow:
    advice = _WHAT_TO_DO.get(connector.status)
    text = f"connector {connector.connector_id} is {connector.status}"
    return NotNow(f"{text}: {advice}" if advice else text)
