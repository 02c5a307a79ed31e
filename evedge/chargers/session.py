"""One connected charger: OCPP 1.6 message handling on top of ``ocpp.v16.ChargePoint``.

The library supplies the routing decorators, the message dataclasses and the
CS->CP ``call()`` machinery. Inbound frames do not go through the library's
``start()``/``route_message()`` loop, which costs about 1 ms per message
(thread-pool validation twice, regex key conversion) and stays silent on
malformed frames; ``handle_frame`` does the same job synchronously with the
helpers in ``protocol.py``:

    frame -> envelope check -> schema validation (tolerance.py: a tolerant pass with a
          record of each repair only when strict validation fails) -> @on handler
          (inside the group-commit transaction) -> CALLRESULT after the commit
          -> @after hook

``@on`` handlers here are plain functions that call ``charging`` and return a
``call_result`` dataclass; a handler that needs to call the charger does it in
an ``@after`` hook (awaiting ``call()`` inside ``@on`` would deadlock,
mobilityhouse/ocpp#130).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ocpp.exceptions import InternalError, OCPPError
from ocpp.messages import CallError, CallResult
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from .. import charging, store
from ..timeutil import to_rfc3339, utcnow
from . import protocol, tolerance

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

# Handlers that only read: their answer need not wait for a commit.
_READ_ONLY = frozenset({Action.heartbeat.value, Action.authorize.value})
# Handlers that write at most one row directly (the rest goes in bulk with the commit):
# no savepoint needed around them.
_SINGLE_WRITE = frozenset({Action.meter_values.value})


@dataclass(frozen=True)
class Route:
    on: Callable[..., Any]
    after: Callable[..., Any] | None
    writes: bool
    isolated: bool


def _class_routes(cls: type) -> dict[str, Route]:
    """Action -> Route for the @on/@after methods of ``cls``, built once per class."""
    handlers: dict[str, dict[str, Any]] = {}
    for name in dir(cls):
        member = getattr(cls, name, None)
        for marker in ("_on_action", "_after_action"):
            action = getattr(member, marker, None)
            if action is not None:
                handlers.setdefault(str(action), {})[marker] = member
    routes = {}
    for action, found in handlers.items():
        handler = found.get("_on_action")
        if handler is None:
            continue
        if inspect.iscoroutinefunction(handler):
            raise TypeError(f"@on handler for {action} must be synchronous (see module docstring)")
        routes[action] = Route(handler, found.get("_after_action"), action not in _READ_ONLY,
                               action not in _SINGLE_WRITE)
    return routes


class _Outbox:
    """The ``send()`` half of the connection object ocpp.ChargePoint expects, for call()."""

    __slots__ = ("_send",)

    def __init__(self, send: Callable[[str | bytes], bool]):
        self._send = send

    async def send(self, message: str) -> None:
        if not self._send(message):
            raise ConnectionError("charger disconnected")

    async def recv(self) -> str:  # pragma: no cover - start() is never used
        raise RuntimeError("inbound frames go through ChargePointSession.handle_frame")


class ChargePointSession(ChargePoint):
    """The OCPP side of one charger's WebSocket connection."""

    _routes: dict[str, Route] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._routes = _class_routes(cls)

    def __init__(self, charger_id: str, send: Callable[[str | bytes], bool], services: Services,
                 registration_status: str = "Accepted"):
        # ChargePoint.__init__ is not called: it builds a route map of bound methods and
        # an asyncio.Queue for every connection. The routes are per class here and the
        # queue is created when the first CS->CP call needs it (memory per idle charger).
        self.id = charger_id
        self._connection = _Outbox(send)
        self._response_timeout = services.config.command_timeout
        self._call_lock = asyncio.Lock()
        self._unique_id_generator = uuid.uuid4
        self.logger = logging.getLogger("ocpp")
        self._send_frame = send
        self._services = services
        self._committer = services.committer
        self._events = services.events
        self.registration_status = registration_status
        self.connected_at = time.time()
        self.last_seen = self.connected_at
        self.closed = asyncio.get_running_loop().create_future()
        self._queue: asyncio.Queue | None = None
        self._repairs_seen: set[tuple[str, str, str]] | None = None
        # Transaction ids known to belong to this charger (saves a query per MeterValues).
        self._transactions: set[int] = set()

    @property
    def _response_queue(self) -> asyncio.Queue:
        if self._queue is None:
            self._queue = asyncio.Queue()
        return self._queue

    @property
    def route_map(self) -> dict[str, Route]:
        return self._routes

    # --- inbound ------------------------------------------------------------------------

    def handle_frame(self, raw: str | bytes) -> None:
        """Process one frame from the charger (called from the socket's on_message)."""
        self.last_seen = time.time()
        try:
            frame = protocol.parse_frame(raw)
        except protocol.FrameError as exc:
            self._reject_frame(raw, exc)
            return
        kind = frame[0]
        if kind == protocol.CALL:
            self._handle_call(frame[1], frame[2], frame[3])
        elif self._call_lock.locked():
            # An answer to our own call(): hand it to the library's waiting call().
            message = (CallResult(frame[1], frame[2]) if kind == protocol.CALLRESULT
                       else CallError(frame[1], frame[2], frame[3], frame[4]))
            self._response_queue.put_nowait(message)
        else:
            log.info("%s: dropped a late or unsolicited answer %s", self.id, str(raw)[:200])

    def _handle_call(self, unique_id: Any, action: str, payload: dict) -> None:
        route = self._routes.get(action)
        try:
            if route is None:
                raise protocol.unknown_action_error(action)
            repairs = tolerance.check(action, payload, self._services.config.strict_validation)
            if repairs:
                self._record_repairs(action, repairs)
            kwargs = protocol.to_snake(payload)
            if route.writes:
                result = self._committer.run(lambda: route.on(self, **kwargs), route.isolated)
            else:
                result = route.on(self, **kwargs)
            body = protocol.to_camel(result)
            protocol.validate(action + "Response", body)
        except OCPPError as error:
            self._write(protocol.call_error_frame(unique_id, error))
            return
        except Exception:
            log.exception("%s: %s failed", self.id, action)
            self._write(protocol.call_error_frame(unique_id, InternalError()))
            return
        frame = protocol.call_result_frame(unique_id, body)
        self._committer.when_committed(
            lambda: self._answer(frame, route, kwargs),
            lambda: self._write(protocol.call_error_frame(unique_id, InternalError())))

    def _answer(self, frame: bytes, route: Route, kwargs: dict) -> None:
        self._write(frame)
        if route.after is not None:
            try:
                hook = route.after(self, **kwargs)
                if inspect.isawaitable(hook):
                    asyncio.ensure_future(hook)
            except Exception:
                log.exception("%s: after-hook failed", self.id)

    def _reject_frame(self, raw: str | bytes, exc: protocol.FrameError) -> None:
        log.info("%s: malformed frame (%s): %s", self.id, exc.error.details.get("cause"),
                 str(raw)[:200])
        if exc.unique_id is not None:
            self._write(protocol.call_error_frame(exc.unique_id, exc.error))

    def _write(self, frame: str | bytes) -> None:
        self._send_frame(frame)

    def _record_repairs(self, action: str, repairs: list[tolerance.Repair]) -> None:
        """One anomaly per new (kind, action, field) per connection, until repairs are
        stored per charger."""
        if self._repairs_seen is None:
            self._repairs_seen = set()
        new = tolerance.new_repairs(self._repairs_seen, action, repairs)
        if not new:
            return
        details = [tolerance.describe(action, repair) for repair in new]
        log.info("%s: accepted firmware quirk(s) %s", self.id, "; ".join(details))
        now = utcnow()

        def write() -> None:
            for detail in details:
                store.record_anomaly(self.id, "firmware_quirk", detail, now)
        self._committer.run(write)

    # --- connection lifecycle --------------------------------------------------------------

    def connection_closed(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    # --- CS -> CP ----------------------------------------------------------------------------

    async def request(self, payload: Any, timeout: float) -> Any:
        """Send a command and return the charger's call_result.

        Raises OCPPError for a CALLERROR (or an answer that breaks the schema),
        TimeoutError when no answer comes within ``timeout`` seconds, and
        ConnectionError as soon as the charger disconnects: a REST caller never
        waits for a charger that is gone.
        """
        if self.closed.done():
            raise ConnectionError("charger disconnected")
        pending = asyncio.ensure_future(self.call(payload, suppress=False))
        done, _ = await asyncio.wait((pending, self.closed), timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if pending not in done and self.closed.done():
            await self._drain_answers(pending)
        if pending.done():
            return pending.result()
        pending.cancel()
        if self.closed.done():
            raise ConnectionError("charger disconnected before answering")
        raise TimeoutError(f"no answer within {timeout:g} s")

    async def _drain_answers(self, pending: asyncio.Future) -> None:
        """Let call() take answers that arrived before the close.

        A charger answers Reset and reboots at once: its CALLRESULT and the close
        are read in the same loop turn, and the close must not hide the answer.
        No frame can arrive after the close, so this ends when the queue is empty.
        """
        while not pending.done() and self._queue is not None and not self._queue.empty():
            await asyncio.sleep(0)
        if not pending.done():
            await asyncio.sleep(0)

    # --- OCPP 1.6 charger-initiated messages (§4) ---------------------------------------------

    @on(Action.boot_notification)
    def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        now = utcnow()
        status = charging.record_boot(self.id, payload, now)
        self.registration_status = status
        config = self._services.config
        interval = config.heartbeat_interval if status == "Accepted" else config.boot_retry_interval
        self._events.publish("charger.boot", charger_id=self.id, status=status,
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
        self._events.publish("connector.status", key=("status", self.id, connector_id),
                             charger_id=self.id, connector_id=connector_id, status=status,
                             error_code=error_code)
        for transaction_id in closed:
            self._events.publish("transaction.stopped", charger_id=self.id,
                                 transaction_id=transaction_id, inferred=True)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **kwargs: Any) -> call_result.Authorize:
        info = charging.id_tag_info(id_tag, self._services.policy, utcnow())
        return call_result.Authorize(id_tag_info=info)

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int,
                             timestamp: str, **kwargs: Any) -> call_result.StartTransaction:
        started = charging.start_transaction(
            self.id, connector_id, id_tag, meter_start, timestamp, self._services.policy,
            utcnow(), reservation_id=kwargs.get("reservation_id"))
        self._transactions.add(started.transaction_id)
        if not started.duplicate:
            self._events.publish("transaction.started", charger_id=self.id,
                                 connector_id=connector_id, transaction_id=started.transaction_id,
                                 id_tag=id_tag, meter_start=meter_start,
                                 status=started.id_tag_info["status"])
        return call_result.StartTransaction(transaction_id=started.transaction_id,
                                            id_tag_info=started.id_tag_info)

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop: int | None, timestamp: str | None,
                            transaction_id: int | None, **kwargs: Any
                            ) -> call_result.StopTransaction:
        # None: a value the charger sent that could not be used (tolerance.STOP_UNKNOWN).
        stopped = charging.stop_transaction(
            self.id, transaction_id, meter_stop, timestamp, self._services.policy, utcnow(),
            reason=kwargs.get("reason"), id_tag=kwargs.get("id_tag"),
            transaction_data=kwargs.get("transaction_data"))
        self._transactions.discard(transaction_id)
        self._events.publish("transaction.stopped", charger_id=self.id,
                             transaction_id=transaction_id, energy_wh=stopped.energy_wh)
        return call_result.StopTransaction(id_tag_info=stopped.id_tag_info)

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list, **kwargs: Any
                        ) -> call_result.MeterValues:
        requested = kwargs.get("transaction_id")
        report = charging.check_meter_values(
            self.id, connector_id, requested, meter_value, utcnow(),
            known_transaction=requested in self._transactions)
        self._committer.add_rows(store.meter_insert_sql(), report.rows)
        transaction_id = report.transaction_id
        if transaction_id is not None:
            self._transactions.add(transaction_id)
        if self._events.subscriber_count:
            self._events.publish("meter", key=("meter", self.id, connector_id),
                                 charger_id=self.id, connector_id=connector_id,
                                 transaction_id=transaction_id,
                                 **charging.latest_readings(meter_value))
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
        self._events.publish("charger.diagnostics", charger_id=self.id, status=status)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status: str, **kwargs: Any
                                        ) -> call_result.FirmwareStatusNotification:
        charging.record_firmware_status(self.id, status, utcnow())
        self._events.publish("charger.firmware", charger_id=self.id, status=status)
        return call_result.FirmwareStatusNotification()


ChargePointSession._routes = _class_routes(ChargePointSession)
