"""Connectors, charging sessions and reservations of the simulated charger.

A session is what a driver does at a connector: present a tag, (Authorize,) Preparing,
StartTransaction, Charging, then StopTransaction, Finishing and back to idle (§4.8, §4.10). The
idle status follows availability (§5.2), faults and reservations (§5.13). A Reset (§5.14) ends
every session and reboots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ocpp.exceptions import OCPPError
from ocpp.v16.enums import (
    AuthorizationStatus,
    AvailabilityType,
    ChargePointErrorCode,
    ChargePointStatus,
    Reason,
    ReservationStatus,
    ResetType,
)

from .clock import utc_now
from .metering import ENERGY_STATUSES
from .state import Connector, Reservation
from .transport import ConnectionClosed

log = logging.getLogger("evedge.simulator")

_IDLE_STATUSES = (ChargePointStatus.available, ChargePointStatus.preparing)


class SessionsMixin:
    """Connector status, charging sessions and reservations of `SimulatedCharger`."""

    # ---- connectors ------------------------------------------------------------------------

    def _outlets(self) -> list[Connector]:
        return [c for n, c in self.connectors.items() if n > 0]

    def _outlet(self, connector_id: int | None) -> Connector | None:
        return self.connectors.get(connector_id) if connector_id and connector_id > 0 else None

    def _connector_with_transaction(self, transaction_id: int | None) -> Connector | None:
        if transaction_id is None:
            return None
        return next(
            (
                c
                for c in self._outlets()
                if c.transaction and c.transaction.transaction_id == transaction_id
            ),
            None,
        )

    def _operative(self, connector: Connector) -> bool:
        return AvailabilityType.inoperative not in (
            connector.availability,
            self.connectors[0].availability,
        )

    def _idle_status(self, connector: Connector, *, recovering: bool = False) -> str:
        """The status of a connector that has no transaction (after a fault, ``recovering``)."""
        if not self._operative(connector):
            return ChargePointStatus.unavailable
        if connector.status == ChargePointStatus.faulted and not recovering:
            return ChargePointStatus.faulted
        if connector.connector_id > 0 and self._reservation_on(connector.connector_id) is not None:
            return ChargePointStatus.reserved
        if connector.plugged_in:
            return ChargePointStatus.preparing  # §4.9: a cable is in, no session yet
        return ChargePointStatus.available

    def _apply_status(
        self,
        connector: Connector,
        status: str,
        error_code: str = ChargePointErrorCode.no_error,
        info: str | None = None,
    ):
        """The connector's own status. A car draws only in Charging and the Suspended states:
        the load starts with them (when a transaction runs) and ends with them."""
        self._read_meter(connector)  # energy up to now, under the old status
        connector.status, connector.error_code, connector.info = status, error_code, info
        if status not in ENERGY_STATUSES:
            self._end_load(connector)
        elif connector.transaction is not None and connector.connector_id > 0:
            self._begin_load(connector)

    async def _set_status(
        self, connector: Connector, status: str, error_code=ChargePointErrorCode.no_error, **extra
    ):
        """Change a connector's status and report it when registered. Returns the answer, or
        None when it was not reported or not answered."""
        if self.accepted:
            return await self._background(
                "StatusNotification",
                self.status(connector.connector_id, status, error_code, **extra),
            )
        self._apply_status(connector, status, error_code, extra.get("info"))
        return None

    async def _report_status(self, connector: Connector):
        """StatusNotification of the connector's status as it is, its info text included."""
        extra = {"info": connector.info} if connector.info else {}
        return await self.status(connector.connector_id, connector.status, connector.error_code,
                                 **extra)

    async def _announce_idle(self, connectors: list[Connector]) -> None:
        for connector in connectors:
            if not connector.busy:
                await self._set_status(connector, self._idle_status(connector))

    # ---- charging sessions -----------------------------------------------------------------

    def _can_start(self, connector: Connector, id_tag: str) -> bool:
        if connector.busy or not self._operative(connector):
            return False
        if connector.status in _IDLE_STATUSES:
            return True
        reservation = self._reservation_on(connector.connector_id)
        return (
            connector.status == ChargePointStatus.reserved
            and reservation is not None
            and self._holds(reservation, id_tag)
        )

    async def start_charging(self, connector_id: int = 1, id_tag: str = "SIM-TAG") -> bool:
        """A driver plugs in and presents ``id_tag``. Returns True once the connector is Charging
        and sending MeterValues, and False (connector idle again) when that was not possible."""
        connector = self._outlet(connector_id)
        if connector is None or not self._can_start(connector, id_tag):
            return False
        connector.claimed_by = id_tag
        return await self._start_session(connector, id_tag, remote=False)

    async def stop_charging(self, connector_id: int = 1, reason: str = Reason.local) -> bool:
        """The driver ends the session: StopTransaction, then Finishing, then Available. Returns
        True when the Central System answered the StopTransaction."""
        connector = self._outlet(connector_id)
        if connector is None or connector.transaction is None:
            return False
        return await self._end_transaction(connector, reason)

    async def fault(self, connector_id: int, error_code: str, info: str | None = None) -> bool:
        """An idle connector fails: StatusNotification Faulted with ``error_code`` (§4.9, §7.6).
        Returns True once the Central System answered. A connector in a session, or one already
        faulted, is left alone (False)."""
        connector = self._outlet(connector_id)
        if error_code not in set(ChargePointErrorCode) - {ChargePointErrorCode.no_error}:
            raise ValueError(f"error_code must be a ChargePointErrorCode other than NoError: "
                             f"{error_code!r}")
        if connector is None or connector.busy or connector.status == ChargePointStatus.faulted:
            return False
        extra = {"info": info} if info else {}
        answer = await self._set_status(connector, ChargePointStatus.faulted, error_code, **extra)
        return answer is not None

    async def recover(self, connector_id: int) -> bool:
        """A faulted connector works again and becomes idle (Available, or Unavailable or Reserved
        as it would be otherwise). Returns True once the Central System answered."""
        connector = self._outlet(connector_id)
        if connector is None or connector.status != ChargePointStatus.faulted:
            return False
        status = self._idle_status(connector, recovering=True)
        return await self._set_status(connector, status) is not None

    async def _start_session(
        self, connector: Connector, id_tag: str, *, remote: bool, profile: dict | None = None
    ) -> bool:
        """(Authorize,) Preparing, StartTransaction, then Charging with MeterValues (§4.8).
        The caller has claimed the connector."""
        try:
            if not await self._authorized(id_tag, remote=remote):
                return False
            if connector.status != ChargePointStatus.preparing:  # a car plugged in is already
                await self._set_status(connector, ChargePointStatus.preparing)
            reservation = self._reservation_on(connector.connector_id)
            reservation_id = (
                reservation.reservation_id
                if reservation and self._holds(reservation, id_tag)
                else None
            )
            result = await self.start_transaction(
                connector.connector_id, id_tag, reservation_id=reservation_id
            )
        except (ConnectionClosed, asyncio.TimeoutError, OCPPError) as exc:
            self._note_failure("starting a transaction", exc)
            await self._set_status(connector, self._idle_status(connector))
            return False
        finally:
            connector.claimed_by = None
        if result.id_tag_info.get("status") != AuthorizationStatus.accepted:
            # The Central System refused the tag: end the transaction at once.
            await self._end_transaction(connector, Reason.de_authorized, finishing=False)
            return False
        if profile is not None:
            profile["transaction_id"] = result.transaction_id
            self.profiles.install(connector.connector_id, profile)
        self._begin_load(connector)
        await self._set_status(connector, self._load_status(connector))
        self._start_meter_loop(connector)
        log.info(
            "%s: charging on connector %s, transaction %s",
            self.id,
            connector.connector_id,
            result.transaction_id,
        )
        return True

    async def _authorized(self, id_tag: str, *, remote: bool) -> bool:
        """Whether the charger may start for ``id_tag``. A remote start needs no Authorize unless
        AuthorizeRemoteTxRequests is true. With LocalPreAuthorize, the local list or the cache
        answers (§3.5)."""
        if remote and not self.config.flag("AuthorizeRemoteTxRequests"):
            return True
        known = self._local_info(id_tag)
        if known is not None and self.config.flag("LocalPreAuthorize"):
            return known.get("status") == AuthorizationStatus.accepted
        result = await self.authorize(id_tag)
        return result.id_tag_info.get("status") == AuthorizationStatus.accepted

    def _local_info(self, id_tag: str) -> dict | None:
        if self.config.flag("LocalAuthListEnabled"):
            info = self.local_list.get(id_tag)
            if info is not None:
                return info
        return self.auth_cache.get(id_tag)

    async def _end_transaction(
        self, connector: Connector, reason: str, *, announce=True, finishing=True, id_tag=None
    ) -> bool:
        """StopTransaction, then Finishing and back to idle, applying any availability change
        that was Scheduled (§5.2). With a car still plugged in, the connector stays Finishing
        until it is unplugged (§4.9). Returns True when the StopTransaction was answered."""
        if connector.transaction is None:
            return False
        answered = False
        try:
            await self.stop_transaction(
                connector_id=connector.connector_id, reason=reason, id_tag=id_tag
            )
            answered = True
        except (ConnectionClosed, asyncio.TimeoutError, OCPPError) as exc:
            self._note_failure("StopTransaction", exc)
        self.profiles.remove_tx_profiles(connector.connector_id)
        self._load_changed()
        if connector.scheduled_availability is not None:
            connector.availability, connector.scheduled_availability = (
                connector.scheduled_availability,
                None,
            )
        if connector.status == ChargePointStatus.faulted:
            return answered  # the fault outlasts the session: it stays as reported (§4.9)
        if not announce:
            self._apply_status(connector, self._idle_status(connector))
            return answered
        if finishing:
            await self._set_status(connector, ChargePointStatus.finishing)
        if not (finishing and connector.plugged_in):
            await self._set_status(connector, self._idle_status(connector))
        return answered

    async def _stop_all_transactions(self, reason: str) -> None:
        for connector in self._outlets():
            if connector.transaction is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._end_transaction(connector, reason), 5.0)

    async def _reboot(self, reset_type: str) -> None:
        """Reset (§5.14): stop transactions (SoftReset/HardReset), drop the link, and come back
        with a BootNotification. The connection loop reconnects after reboot_delay."""
        reason = Reason.hard_reset if reset_type == ResetType.hard else Reason.soft_reset
        for connector in self._outlets():
            await self._end_transaction(connector, reason, announce=False)
        for connector in self.connectors.values():
            connector.claimed_by = None
            connector.status = self._idle_status(connector)
        self.registration_status = None
        self._reboot_pending, self._backoff_attempt = True, 0
        await self._disconnect(1000, f"{reset_type} reset")

    # ---- reservations ----------------------------------------------------------------------

    def _reservation_on(self, connector_id: int) -> Reservation | None:
        return next((r for r in self.reservations.values() if r.connector_id == connector_id), None)

    def _holds(self, reservation: Reservation, id_tag: str) -> bool:
        """The tag may use the reservation: it is the reserved tag or shares its parent (§5.13)."""
        if reservation.id_tag.casefold() == id_tag.casefold():
            return True
        parent = (self._local_info(id_tag) or {}).get("parent_id_tag")
        return bool(
            reservation.parent_id_tag
            and parent
            and parent.casefold() == reservation.parent_id_tag.casefold()
        )

    def _drop_reservation(self, reservation: Reservation) -> None:
        self.reservations.pop(reservation.reservation_id, None)
        if reservation.timer is not None and reservation.timer is not asyncio.current_task():
            reservation.timer.cancel()

    async def _expire_reservation(self, reservation: Reservation) -> None:
        await asyncio.sleep(max(0.0, (reservation.expiry - utc_now()).total_seconds()))
        if self.reservations.get(reservation.reservation_id) is reservation:
            self._drop_reservation(reservation)
            await self._announce_idle([self.connectors[reservation.connector_id]])

    def _reservation_status(self, connector: Connector, replacing: Reservation | None) -> str:
        if not self._operative(connector):
            return ReservationStatus.unavailable
        if connector.status == ChargePointStatus.faulted:
            return ReservationStatus.faulted
        other = self._reservation_on(connector.connector_id)
        free = connector.status in (ChargePointStatus.available, ChargePointStatus.reserved)
        if connector.busy or not free or (other is not None and other is not replacing):
            return ReservationStatus.occupied
        return ReservationStatus.accepted
