"""Registration (§4.2) and heartbeats (§4.6) of the simulated charger.

BootNotification until Accepted, retried at the server's interval; once Accepted, the queued
StopTransactions, a StatusNotification per connector, heartbeats and metering resume.
"""

from __future__ import annotations

import asyncio

from ocpp.exceptions import OCPPError
from ocpp.v16.enums import RegistrationStatus

from .transport import ConnectionClosed

BOOT_RETRY_DEFAULT = 10.0  # §4.2: an interval of 0 leaves the retry delay to the charge point


class RegistrationMixin:
    """BootNotification, heartbeats and the outbox of `SimulatedCharger`."""

    async def register(self):
        """BootNotification until Accepted (§4.2). Returns the first answer.

        On Accepted the charger announces its connectors and starts heartbeats. On Pending or
        Rejected a background task retries after the server's interval. Until Accepted, the
        charger sends nothing else on its own.
        """
        try:
            return await self._boot_and_follow()
        except (asyncio.TimeoutError, OCPPError):
            self._retry_boot(BOOT_RETRY_DEFAULT)
            raise

    async def _boot_and_follow(self):
        """One BootNotification, and what its answer calls for."""
        was_accepted = self.registration_status == RegistrationStatus.accepted
        result = await self.boot()
        if result.status != RegistrationStatus.accepted:
            self._retry_boot(result.interval)
        elif was_accepted:
            self._arm_heartbeat()  # a triggered BootNotification may bring a new interval
        else:
            await self._on_accepted()
        return result

    def _retry_boot(self, interval: float) -> None:
        """Start the retry loop, unless it is already running (this may be called from it)."""
        if self._boot_task is None or self._boot_task.done():
            self._boot_task = self._spawn(self._boot_retry(interval))

    async def _boot_retry(self, interval: float) -> None:
        while self.registration_status != RegistrationStatus.accepted:
            await asyncio.sleep(interval if interval > 0 else BOOT_RETRY_DEFAULT)
            if self.registration_status == RegistrationStatus.accepted:
                return  # a triggered BootNotification got there first
            result = await self._background("BootNotification", self._boot_and_follow())
            interval = result.interval if result is not None else BOOT_RETRY_DEFAULT

    async def _on_accepted(self) -> None:
        """Registered (again): deliver queued transaction messages, announce every connector,
        start heartbeats and resume metering."""
        self._backoff_attempt = 0
        await self._flush_outbox()
        for connector in self.connectors.values():
            await self._background("StatusNotification", self._report_status(connector))
        self._arm_heartbeat()
        for connector in self._outlets():
            if connector.transaction is not None:
                self._start_meter_loop(connector)
        self._online.set()
        first = self.connectors.get(1)
        if (
            self.auto_start_tag
            and first is not None
            and self._can_start(first, self.auto_start_tag)
        ):
            self._spawn(self.start_charging(1, self.auto_start_tag))

    async def _flush_outbox(self) -> None:
        while self._outbox and self.accepted:
            payload = self._outbox.pop(0)
            try:
                await self._send_call(payload)
            except (ConnectionClosed, asyncio.TimeoutError):
                self._outbox.insert(0, payload)
                return
            except OCPPError as exc:
                self._note_failure("queued StopTransaction", exc)

    def _arm_heartbeat(self) -> None:
        """(Re)start the heartbeat timer at HeartbeatInterval (§4.6). 0 switches it off."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None
        interval = self.config.number("HeartbeatInterval")
        if interval > 0 and self.accepted:
            self._heartbeat_task = self._spawn(self._heartbeat_loop(interval))

    async def _heartbeat_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self.accepted:
                await self._background("Heartbeat", self.heartbeat())
