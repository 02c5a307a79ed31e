"""One connected charger: the ten OCPP 1.6 messages a charge point sends (§4), answered.

Each ``@on`` handler reads like the library's own central-system example: take
the payload's fields, apply the domain rules (``domain/charging.py``), publish
what the dashboard should see, return the ``call_result``. The frame engine
underneath (parsing, validation, the group commit, answering after it, the
CS->CP ``request``) is ``dispatch.Dispatcher``.
"""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action, MessageTrigger

from ..domain import charging, meter_readings
from ..domain.authorization import id_tag_info
from ..timeutil import parse_charger_time, to_rfc3339, utcnow
from .dispatch import Dispatcher, Send, SessionContext


class ChargePointSession(Dispatcher):
    """The OCPP side of one charger's WebSocket connection."""

    def __init__(self, charger_id: str, send: Send, context: SessionContext,
                 registration_status: str = "Accepted"):
        super().__init__(charger_id, send, context, registration_status)
        # meterStart of the transactions known to belong to this charger: saves a query
        # per MeterValues and gives the live session energy.
        self._meter_starts: dict[int, int] = {}
        self._boots = 0                  # BootNotifications on this connection
        self._boot_requested = False     # a TriggerMessage BootNotification is out

    async def request(self, payload: Any, timeout: float) -> Any:
        """Dispatcher.request, remembering a TriggerMessage BootNotification: the Boot that
        answers it is no reboot (docs/decisions.md D24). Set before sending, because the
        charger may send the Boot in the same read as its TriggerMessage.conf."""
        if not _asks_for_boot(payload):
            return await super().request(payload, timeout)
        self._boot_requested = True
        try:
            result = await super().request(payload, timeout)
        except OCPPError:
            self._boot_requested = False
            raise
        # A timeout keeps the mark: the Boot may still come on this connection.
        if result.status != "Accepted":
            self._boot_requested = False
        return result

    def _boot_is_reboot(self) -> bool:
        """Only the first BootNotification of a connection, unasked for, is a reboot: a
        rebooted charger opens a new connection; later Boots on the same one are answers
        to TriggerMessage or a Pending charger's retries (§4.2.1)."""
        return self._boots == 0 and not self._boot_requested

    @after(Action.boot_notification)
    def after_boot_notification(self, **payload: Any) -> None:
        # Counted once answered (after the commit): a Boot that got InternalError and is
        # sent again is still the connection's first.
        self._boots += 1
        self._boot_requested = False

    @on(Action.boot_notification)
    def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        now = utcnow()
        status = charging.record_boot(self.id, payload, now, reboot=self._boot_is_reboot())
        self.registration_status = status
        context = self.context
        interval = (context.heartbeat_interval if status == "Accepted"
                    else context.boot_retry_interval)
        self.publish("charger.boot", charger_id=self.id, status=status,
                     vendor=payload.get("charge_point_vendor"),
                     model=payload.get("charge_point_model"))
        return call_result.BootNotification(current_time=to_rfc3339(now), interval=interval,
                                            status=status)

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=to_rfc3339(utcnow()))

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, error_code: str, status: str,
                               **kwargs: Any) -> call_result.StatusNotification:
        closed = charging.record_status(
            self.id, connector_id, status, error_code, utcnow(), info=kwargs.get("info", ""),
            vendor_id=kwargs.get("vendor_id", ""),
            vendor_error_code=kwargs.get("vendor_error_code", ""),
            timestamp=kwargs.get("timestamp"))
        self.publish("connector.status", key=("status", self.id, connector_id),
                     charger_id=self.id, connector_id=connector_id, status=status,
                     error_code=error_code, info=kwargs.get("info", ""),
                     timestamp=to_rfc3339(parse_charger_time(kwargs.get("timestamp"))))
        for transaction_id in closed:
            self.publish("transaction.stopped", charger_id=self.id,
                         transaction_id=transaction_id, inferred=True)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **kwargs: Any) -> call_result.Authorize:
        info = id_tag_info(id_tag, self.context.policy, utcnow())
        return call_result.Authorize(id_tag_info=info)

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int,
                             timestamp: str, **kwargs: Any) -> call_result.StartTransaction:
        started = charging.start_transaction(
            self.id, connector_id, id_tag, meter_start, timestamp, self.context.policy,
            utcnow(), reservation_id=kwargs.get("reservation_id"))
        self._meter_starts[started.transaction_id] = meter_start
        if not started.duplicate:
            self.publish("transaction.started", charger_id=self.id, connector_id=connector_id,
                         transaction_id=started.transaction_id, id_tag=id_tag,
                         meter_start=meter_start, status=started.id_tag_info["status"])
        return call_result.StartTransaction(transaction_id=started.transaction_id,
                                            id_tag_info=started.id_tag_info)

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop: int | None, timestamp: str | None,
                            transaction_id: int | None, **kwargs: Any
                            ) -> call_result.StopTransaction:
        # None: a value the charger sent that could not be used (tolerance.STOP_UNKNOWN).
        stopped = charging.stop_transaction(
            self.id, transaction_id, meter_stop, timestamp, self.context.policy, utcnow(),
            reason=kwargs.get("reason"), id_tag=kwargs.get("id_tag"),
            transaction_data=kwargs.get("transaction_data"))
        self._meter_starts.pop(transaction_id, None)
        self.publish("transaction.stopped", charger_id=self.id, transaction_id=transaction_id,
                     energy_wh=stopped.energy_wh)
        return call_result.StopTransaction(id_tag_info=stopped.id_tag_info)

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list, **kwargs: Any
                        ) -> call_result.MeterValues:
        requested = kwargs.get("transaction_id")
        report = charging.check_meter_values(
            self.id, connector_id, requested, meter_value, utcnow(),
            known_meter_start=self._meter_starts.get(requested))
        transaction_id = report.transaction_id
        # The live event is worked out before the rows are queued: queued rows are
        # inserted with the batch even if this message then fails, and a message must
        # never be both refused (InternalError, so the charger retries) and stored.
        event = (meter_readings.live_event(meter_value, report.meter_start)
                 if self._events.wanted else None)
        self._committer.add_rows(charging.sample_insert(), report.rows)
        if transaction_id is not None:
            self._meter_starts[transaction_id] = report.meter_start
        if event is not None:
            self.publish("meter", key=("meter", self.id, connector_id), charger_id=self.id,
                         connector_id=connector_id, transaction_id=transaction_id, **event)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> call_result.DataTransfer:
        status = charging.record_data_transfer(self.id, vendor_id, kwargs.get("message_id"),
                                               kwargs.get("data"), utcnow())
        return call_result.DataTransfer(status=status)

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, status: str, **kwargs: Any
                                           ) -> call_result.DiagnosticsStatusNotification:
        charging.record_diagnostics_status(self.id, status, utcnow())
        self.publish("charger.diagnostics", charger_id=self.id, status=status)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status: str, **kwargs: Any
                                        ) -> call_result.FirmwareStatusNotification:
        charging.record_firmware_status(self.id, status, utcnow())
        self.publish("charger.firmware", charger_id=self.id, status=status)
        return call_result.FirmwareStatusNotification()


def _asks_for_boot(payload: Any) -> bool:
    return (isinstance(payload, call.TriggerMessage)
            and payload.requested_message == MessageTrigger.boot_notification)
