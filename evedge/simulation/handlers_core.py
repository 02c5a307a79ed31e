"""Core profile (§5) and RemoteTrigger (§5.17) actions the Central System sends the simulated
charger: remote start and stop, Reset, UnlockConnector, ChangeAvailability, Get/Change
Configuration, ClearCache, DataTransfer and TriggerMessage.

Handlers answer from the charger's state at once. What follows the answer (a session, a reboot,
status reports) is left with ``_after_reply`` and runs once the answer is on the wire.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import (
    Action,
    AvailabilityStatus,
    ChargePointStatus,
    ChargingProfilePurposeType,
    ClearCacheStatus,
    ConfigurationStatus,
    DataTransferStatus,
    DiagnosticsStatus,
    FirmwareStatus,
    MessageTrigger,
    ReadingContext,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    ResetStatus,
    TriggerMessageStatus,
    UnlockStatus,
)

from .messages import VENDOR_ID
from .smart_charging import _plain
from .state import Connector


class CoreHandlers:
    """Core and RemoteTrigger handlers of `SimulatedCharger`."""

    # ---- Core profile handlers -------------------------------------------------------------

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self, id_tag, connector_id=None, charging_profile=None, call_unique_id=None, **kwargs
    ):
        """§5.11: accept when a connector can start for this tag; the session follows."""
        connector = self._connector_for_remote_start(id_tag, connector_id)
        profile = _plain(charging_profile) if charging_profile else None
        tx_profile = (
            profile is None
            or profile["charging_profile_purpose"] == ChargingProfilePurposeType.tx_profile
        )
        if connector is None or not tx_profile or not self.accepted:
            return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.rejected)
        connector.claimed_by = id_tag

        def release() -> None:
            connector.claimed_by = None

        self._after_reply(
            call_unique_id,
            lambda: self._start_session(connector, id_tag, remote=True, profile=profile),
            release,
        )
        return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.accepted)

    def _connector_for_remote_start(
        self, id_tag: str, connector_id: int | None
    ) -> Connector | None:
        if connector_id is not None:
            connector = self._outlet(connector_id)
            return (
                connector if connector is not None and self._can_start(connector, id_tag) else None
            )
        candidates = [c for c in self._outlets() if self._can_start(c, id_tag)]
        reserved = [c for c in candidates if c.status == ChargePointStatus.reserved]
        return (reserved or candidates or [None])[0]

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id, call_unique_id=None, **kwargs):
        """§5.12: accept for a running transaction, then stop it with reason Remote."""
        connector = self._connector_with_transaction(transaction_id)
        if connector is None:
            return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.rejected)
        self._after_reply(call_unique_id, lambda: self._end_transaction(connector, Reason.remote))
        return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.accepted)

    @on(Action.reset)
    def on_reset(self, type, call_unique_id=None, **kwargs):
        """§5.14: always accepted. The reboot follows the answer."""
        self._after_reply(call_unique_id, lambda: self._reboot(type))
        return call_result.Reset(status=ResetStatus.accepted)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id, call_unique_id=None, **kwargs):
        """§5.18: unlock, first stopping the transaction there (reason UnlockCommand)."""
        connector = self._outlet(connector_id)
        if connector is None:
            return call_result.UnlockConnector(status=UnlockStatus.not_supported)
        if connector.transaction is not None:
            self._after_reply(
                call_unique_id, lambda: self._end_transaction(connector, Reason.unlock_command)
            )
        return call_result.UnlockConnector(status=UnlockStatus.unlocked)

    @on(Action.change_availability)
    def on_change_availability(self, connector_id, type, call_unique_id=None, **kwargs):
        """§5.2: connector 0 is the whole charge point. A connector with a transaction changes
        after the transaction has ended (Scheduled)."""
        if connector_id not in self.connectors:
            return call_result.ChangeAvailability(status=AvailabilityStatus.rejected)
        targets = (
            list(self.connectors.values()) if connector_id == 0 else [self.connectors[connector_id]]
        )
        scheduled, changed = False, []
        for connector in targets:
            if connector.availability == type:
                connector.scheduled_availability = None
            elif connector.busy:
                connector.scheduled_availability, scheduled = type, True
            else:
                connector.availability, connector.scheduled_availability = type, None
                changed.append(connector)
        self._after_reply(call_unique_id, lambda: self._announce_idle(changed))
        status = AvailabilityStatus.scheduled if scheduled else AvailabilityStatus.accepted
        return call_result.ChangeAvailability(status=status)

    @on(Action.get_configuration)
    def on_get_configuration(self, key=None, **kwargs):
        """§5.8: every key when none are asked for. Unknown keys are listed in unknownKey."""
        known, unknown = self.config.report(key)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value, **kwargs):
        """§5.3: readonly keys and invalid values are Rejected, unknown keys NotSupported."""
        status = self.config.change(key, value)
        if status == ConfigurationStatus.accepted:
            name = self.config.lookup(key)
            if name == "HeartbeatInterval":
                self._arm_heartbeat()
            elif name == "MeterValueSampleInterval":
                self.meter_interval = self.config.number(name)
        return call_result.ChangeConfiguration(status=status)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kwargs):
        """§5.4."""
        self.auth_cache.clear()
        return call_result.ClearCache(status=ClearCacheStatus.accepted)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, message_id=None, data=None, **kwargs):
        """§5.6: our own vendor id echoes the data. Any other vendor id is unknown."""
        if vendor_id.casefold() != VENDOR_ID:
            return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)
        return call_result.DataTransfer(status=DataTransferStatus.accepted, data=data)

    # ---- Remote trigger --------------------------------------------------------------------

    @on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message, connector_id=None, call_unique_id=None, **kwargs
    ):
        """§5.17: send the requested message after the answer. Before registration only
        BootNotification may be sent (§4.2)."""
        if connector_id is not None and connector_id not in self.connectors:
            return call_result.TriggerMessage(status=TriggerMessageStatus.rejected)
        unregistered = self.registration_status != RegistrationStatus.accepted
        if unregistered and requested_message != MessageTrigger.boot_notification:
            return call_result.TriggerMessage(status=TriggerMessageStatus.rejected)
        send = self._triggered_message(requested_message, connector_id)
        if send is None:
            return call_result.TriggerMessage(status=TriggerMessageStatus.not_implemented)
        self._after_reply(call_unique_id, lambda: self._background(requested_message, send()))
        return call_result.TriggerMessage(status=TriggerMessageStatus.accepted)

    def _triggered_message(
        self, requested: str, connector_id: int | None
    ) -> Callable[[], Awaitable] | None:
        busy_firmware = (
            FirmwareStatus.downloading,
            FirmwareStatus.downloaded,
            FirmwareStatus.installing,
        )
        firmware = (
            self.firmware_state if self.firmware_state in busy_firmware else FirmwareStatus.idle
        )
        uploading = self.diagnostics_state == DiagnosticsStatus.uploading
        diagnostics = DiagnosticsStatus.uploading if uploading else DiagnosticsStatus.idle
        senders = {
            MessageTrigger.boot_notification: self._boot_and_follow,
            MessageTrigger.heartbeat: self.heartbeat,
            MessageTrigger.status_notification: lambda: self._send_statuses(connector_id),
            MessageTrigger.meter_values: lambda: self._send_triggered_meter_values(connector_id),
            MessageTrigger.firmware_status_notification: lambda: self.firmware_status(firmware),
            MessageTrigger.diagnostics_status_notification: lambda: self.diagnostics_status(
                diagnostics
            ),
        }
        return senders.get(requested)

    async def _send_statuses(self, connector_id: int | None) -> None:
        ids = list(self.connectors) if connector_id is None else [connector_id]
        for n in ids:
            await self._report_status(self.connectors[n])

    async def _send_triggered_meter_values(self, connector_id: int | None) -> None:
        ids = [c.connector_id for c in self._outlets()] if connector_id is None else [connector_id]
        for n in ids:
            await self.meter_values(n, context=ReadingContext.trigger)
