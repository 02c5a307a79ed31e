"""The charger-initiated half of OCPP 1.6 (§4): the messages a simulated charger sends.

Tests and the charger's own flows call these: ``await charger.heartbeat()``,
``await charger.start_transaction(1, "TAG")``. Each returns the server's answer, and keeps the
charger's state in line with what a real charge point would remember.
"""

from __future__ import annotations

import asyncio
import logging

from ocpp.v16 import call
from ocpp.v16.enums import ChargePointErrorCode, ReadingContext, RegistrationStatus

from .clock import _whole_seconds, rfc3339, utc_now
from .state import Transaction
from .transport import ConnectionClosed

log = logging.getLogger("evedge.simulator")

VENDOR_ID = "evedge"  # the DataTransfer vendorId this charger understands


class MessagesMixin:
    """Charger-initiated messages of `SimulatedCharger`."""

    async def boot(self):
        """BootNotification (§4.2). Keeps the registration status and, on Accepted, the interval
        as HeartbeatInterval."""
        result = await self._send_call(
            call.BootNotification(
                charge_point_model=self.model,
                charge_point_vendor=self.vendor,
                charge_point_serial_number=self.serial,
                firmware_version=self.firmware_version,
            )
        )
        self.registration_status = result.status
        log.info("%s: BootNotification %s (interval %ss)", self.id, result.status, result.interval)
        if result.status == RegistrationStatus.accepted and result.interval > 0:
            self.config.set("HeartbeatInterval", str(result.interval))
        return result

    async def heartbeat(self):
        """Heartbeat (§4.6)."""
        return await self._send_call(call.Heartbeat())

    async def status(
        self,
        connector_id: int,
        status: str,
        error_code: str = ChargePointErrorCode.no_error,
        **extra,
    ):
        """StatusNotification (§4.9). The status also becomes the connector's local status.
        ``extra``: info, vendor_id, vendor_error_code, timestamp."""
        connector = self.connectors.get(connector_id)
        if connector is not None:
            self._apply_status(connector, status, error_code, extra.get("info"))
        extra.setdefault("timestamp", rfc3339(utc_now()))
        return await self._send_call(
            call.StatusNotification(
                connector_id=connector_id, error_code=error_code, status=status, **extra
            )
        )

    async def authorize(self, id_tag: str):
        """Authorize (§4.1). The answer goes into the authorization cache."""
        result = await self._send_call(call.Authorize(id_tag=id_tag))
        self.auth_cache[id_tag] = result.id_tag_info
        return result

    async def start_transaction(
        self, connector_id, id_tag, meter_start=None, timestamp=None, reservation_id=None
    ):
        """StartTransaction (§4.8). On an answer the connector holds the transaction, even when
        idTagInfo is not Accepted: the caller decides what to do, as the charger's own flows do."""
        connector = self.connectors.get(connector_id)
        if meter_start is None:
            meter_start = self._read_meter(connector) if connector else 0
        started = _whole_seconds(utc_now())  # whole seconds: Relative schedules start here
        result = await self._send_call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=timestamp or rfc3339(started),
                reservation_id=reservation_id,
            )
        )
        self.auth_cache[id_tag] = result.id_tag_info
        if connector is not None and connector_id > 0:
            connector.transaction = Transaction(
                result.transaction_id, id_tag, meter_start, started, reservation_id
            )
            reservation = self.reservations.get(reservation_id)
            if reservation is not None:  # §5.13: a reservation ends when it is used
                self._drop_reservation(reservation)
        return result

    async def meter_values(
        self,
        connector_id,
        transaction_id=None,
        values=None,
        *,
        context=ReadingContext.sample_periodic,
    ):
        """MeterValues (§4.7). ``values`` are sampledValue dicts (snake_case). By default the
        charger samples MeterValuesSampledData from its own meter. ``transaction_id`` defaults
        to the connector's running transaction."""
        connector = self.connectors.get(connector_id)
        if transaction_id is None and connector is not None and connector.transaction is not None:
            transaction_id = connector.transaction.transaction_id
        if values is None:
            values = self._samples(connector, context) if connector else []
        meter_value = [{"timestamp": rfc3339(utc_now()), "sampled_value": values}]
        return await self._send_call(
            call.MeterValues(
                connector_id=connector_id, meter_value=meter_value, transaction_id=transaction_id
            )
        )

    async def stop_transaction(
        self, transaction_id=None, connector_id=None, reason=None, meter_stop=None, id_tag=None
    ):
        """StopTransaction (§4.10) for a transaction id, or for the one running on a connector.

        The transaction ends locally at once. If the link drops first, the message waits in the
        outbox and goes out after the next reconnect (transaction messages are not lost).
        """
        connector = self._connector_with_transaction(transaction_id) or self.connectors.get(
            connector_id
        )
        transaction = connector.transaction if connector is not None else None
        if transaction_id is None:
            if transaction is None:
                raise ValueError(f"{self.id}: no transaction on connector {connector_id}")
            transaction_id = transaction.transaction_id
        if meter_stop is None:
            meter_stop = self._read_meter(connector) if connector else 0
        payload = call.StopTransaction(
            meter_stop=meter_stop,
            timestamp=rfc3339(utc_now()),
            transaction_id=transaction_id,
            reason=reason,
            id_tag=id_tag,
            transaction_data=[self._end_sample(meter_stop)],
        )
        if transaction is not None and transaction.transaction_id == transaction_id:
            self._stop_meter_loop(connector)
            connector.transaction = None
            self._end_load(connector)
            log.info("%s: transaction %s stopped (%s)", self.id, transaction_id, reason)
        try:
            return await self._send_call(payload)
        except (ConnectionClosed, asyncio.TimeoutError):
            self._outbox.append(payload)
            raise

    async def data_transfer(
        self, vendor_id: str = VENDOR_ID, message_id: str | None = None, data: str | None = None
    ):
        """DataTransfer (§4.3)."""
        return await self._send_call(
            call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data)
        )

    async def diagnostics_status(self, status: str):
        """DiagnosticsStatusNotification (§4.4)."""
        return await self._send_call(call.DiagnosticsStatusNotification(status=status))

    async def firmware_status(self, status: str):
        """FirmwareStatusNotification (§4.5)."""
        return await self._send_call(call.FirmwareStatusNotification(status=status))
