"""The OCPP-J frame engine of one charger connection: routing, answering, and CS->CP calls.

The ``ocpp`` library supplies the routing decorators, the message dataclasses
and the CS->CP ``call()`` machinery. Inbound frames do not go through the
library's ``start()``/``route_message()`` loop, which costs about 1 ms per
message (thread-pool validation twice, regex key conversion) and stays silent on
malformed frames; :meth:`Dispatcher.handle_frame` does the same job
synchronously with the helpers in ``protocol.py``::

    frame -> envelope check -> schema validation (tolerance.py: a tolerant pass with a
          record of each repair, only when strict validation fails) -> @on handler
          (inside the group-commit transaction) -> CALLRESULT after the commit
          -> the handler's dashboard events -> @after hook

``@on`` handlers are plain functions (``session.py``) that call the domain rules
and return a ``call_result`` dataclass; a handler that needs to call the charger
does it in an ``@after`` hook (awaiting ``call()`` inside ``@on`` would
deadlock, mobilityhouse/ocpp#130).

What this module relies on that is not public API (``tests/test_library_internals.py``
fails when one of them moves in a new release):

ocpp 2.1.0, ``ocpp.charge_point.ChargePoint``: ``__init__`` is not called; the
attributes its ``call()``, ``_send()`` and ``_get_specific_response()`` read are
set here instead: ``id``, ``logger``, ``_connection`` (an object with
``async send(str)``), ``_response_timeout``, ``_call_lock`` (an asyncio.Lock:
one outstanding CALL, OCPP-J §4.1.1), ``_unique_id_generator``, and
``_response_queue`` (an asyncio.Queue of ``ocpp.messages.CallResult``/
``CallError``, created on first use). Class attributes ``_ocpp_version`` and
``_call_result`` come from ``ocpp.v16.ChargePoint``. The routing decorators
``ocpp.routing.on``/``after`` mark methods with ``_on_action``/``_after_action``,
which :func:`_class_routes` reads.

Tornado 6.6 (in ``web/ocpp_socket.py``, which hands this engine its ``send``):
``WebSocketProtocol13._write_frame(fin, opcode, data)``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from ocpp.exceptions import InternalError, OCPPError, PropertyConstraintViolationError
from ocpp.messages import CallError, CallResult
from ocpp.v16 import ChargePoint
from ocpp.v16.enums import Action

from ..domain import charging, repairs as repair_ledger
from ..domain.policy import Policy
from ..events import Broadcaster
from ..metrics import ANSWERED, Metrics
from ..storage.group_commit import CommitFailed, GroupCommit, StorageError
from ..timeutil import utcnow
from . import protocol, tolerance

log = logging.getLogger(__name__)

# Handlers that only read: their answer need not wait for a commit.
_READ_ONLY = frozenset({Action.heartbeat.value, Action.authorize.value})
# Handlers that write at most one row directly (the rest goes in bulk with the commit):
# no savepoint needed around them.
_SINGLE_WRITE = frozenset({Action.meter_values.value})

Send = Callable[[str | bytes], bool]
TRACEBACK_EVERY = 60.0  # seconds between full tracebacks logged for one charger


@dataclass(frozen=True)
class SessionContext:
    """What a charger's session needs from the rest of evedge, and nothing more."""

    committer: GroupCommit
    events: Broadcaster
    policy: Policy
    heartbeat_interval: int      # BootNotification.conf interval when Accepted
    boot_retry_interval: int     # ... when Pending or Rejected
    command_timeout: float       # seconds a CS->CP call waits for the answer
    max_connector_id: int = 32   # connectorId above this is a PropertyConstraintViolation
    strict_validation: bool = False  # no tolerant pass: every deviation gets its CALLERROR
    # charger id -> when a failure of its messages was last logged in full: per charger, not
    # per connection, so that a charger reconnecting after every failure gets no new budget
    failures_logged: dict[str, float] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)  # what /metrics counts
    repairs: repair_ledger.RepairLedger | None = None  # counts every repair per charger


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

    def __init__(self, send: Send):
        self._send = send

    async def send(self, message: str) -> None:
        if not self._send(message):
            raise ConnectionError("charger disconnected")

    async def recv(self) -> str:  # pragma: no cover - start() is never used
        raise RuntimeError("inbound frames go through Dispatcher.handle_frame")


class Dispatcher(ChargePoint):
    """The frame engine under one charger's session; subclasses declare the @on handlers."""

    _routes: dict[str, Route] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._routes = _class_routes(cls)

    def __init__(self, charger_id: str, send: Send, context: SessionContext,
                 registration_status: str = "Accepted"):
        # ChargePoint.__init__ is not called: it builds a route map of bound methods and
        # an asyncio.Queue for every connection. The routes are per class here and the
        # queue is created when the first CS->CP call needs it (memory per idle charger).
        self.id = charger_id
        self._connection = _Outbox(send)
        self._response_timeout = context.command_timeout
        self._call_lock = asyncio.Lock()
        self._unique_id_generator = uuid.uuid4
        self.logger = logging.getLogger("ocpp")
        self._send_frame = send
        self.context = context
        self._committer = context.committer
        self._events = context.events
        self.registration_status = registration_status
        self.connected_at = time.time()
        self.last_seen = self.connected_at
        self.closed = asyncio.get_running_loop().create_future()
        self._queue: asyncio.Queue | None = None
        self._held: list[tuple[str, Hashable | None, dict[str, Any]]] | None = None
        self._repairs_seen: set[tuple[str, str, str]] | None = None

    @property
    def _response_queue(self) -> asyncio.Queue:
        if self._queue is None:
            self._queue = asyncio.Queue()
        return self._queue

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
            log.info("charger=%s dropped a late or unsolicited answer %s", self.id, str(raw)[:200])

    def _handle_call(self, unique_id: Any, action: str, payload: dict) -> None:
        started = time.perf_counter()
        route = self._routes.get(action)
        held: list[tuple[str, Hashable | None, dict[str, Any]]] = []
        try:
            if route is None:
                raise protocol.unknown_action_error(action)
            repairs = tolerance.check(action, payload, self.context.strict_validation)
            if repairs:
                self._record_repairs(action, repairs)
            self._check_connector(payload)
            kwargs = protocol.to_snake(payload)
            self._held = held
            if route.writes:
                result = self._committer.run(lambda: route.on(self, **kwargs), route.isolated)
            else:
                result = route.on(self, **kwargs)
            body = protocol.to_camel(result)
            protocol.validate(action + "Response", body)
        except OCPPError as error:
            self._write_error(unique_id, error, action, started)
            return
        except CommitFailed:  # the committer logged why, once
            self._write_error(unique_id, InternalError(), action, started)
            return
        except Exception as exc:
            self._log_failure(action, exc)
            self._write_error(unique_id, InternalError(), action, started)
            return
        finally:
            self._held = None
        frame = protocol.call_result_frame(unique_id, body)
        self._committer.when_committed(
            lambda: self._answer(frame, route, kwargs, held, action, started),
            lambda: self._write_error(unique_id, InternalError(), action, started))

    def _write_error(self, unique_id: Any, error: OCPPError, action: str,
                     started: float) -> None:
        self._write(protocol.call_error_frame(unique_id, error))
        self.context.metrics.ocpp_message(action, error.code, started)

    def _log_failure(self, action: str, exc: Exception) -> None:
        """A handler failed: logged at most once per ``TRACEBACK_EVERY`` seconds per charger
        (a broken charger, or a database refusing writes, must not fill the journal), with
        its traceback unless it is a storage error (one line with the cause); the repeats
        at debug level."""
        now = time.monotonic()
        logged = self.context.failures_logged
        if now - logged.get(self.id, -TRACEBACK_EVERY) < TRACEBACK_EVERY:
            log.debug("charger=%s %s failed again (%s: %s)", self.id, action,
                      type(exc).__name__, exc)
        elif isinstance(exc, StorageError):
            logged[self.id] = now
            log.error("charger=%s %s could not be stored (%s: %s)", self.id, action,
                      type(exc).__name__, exc)
        else:
            logged[self.id] = now
            log.exception("charger=%s %s failed", self.id, action)

    def _check_connector(self, payload: dict) -> None:
        """connectorId within 0..max_connector_id: the schemas allow any integer, and a
        connector 10^12 would create a status row per value a broken charger sends."""
        connector = payload.get("connectorId")
        if connector is not None and not 0 <= connector <= self.context.max_connector_id:
            raise PropertyConstraintViolationError(details={
                "cause": f"connectorId {connector} is outside 0..{self.context.max_connector_id}"})

    def publish(self, kind: str, key: Hashable | None = None, **data: Any) -> None:
        """A dashboard event, published once the message that caused it is committed."""
        if self._held is not None:
            self._held.append((kind, key, data))
        else:
            self._events.publish_when_committed(self._committer, kind, key, **data)

    def _answer(self, frame: bytes, route: Route, kwargs: dict,
                held: list[tuple[str, Hashable | None, dict[str, Any]]], action: str,
                started: float) -> None:
        self._write(frame)
        self.context.metrics.ocpp_message(action, ANSWERED, started)
        for kind, key, data in held:
            self._events.publish(kind, key, **data)
        if route.after is not None:
            try:
                hook = route.after(self, **kwargs)
                if inspect.isawaitable(hook):
                    asyncio.ensure_future(hook)
            except Exception:
                log.exception("charger=%s after-hook failed", self.id)

    def _reject_frame(self, raw: str | bytes, exc: protocol.FrameError) -> None:
        log.info("charger=%s malformed frame (%s): %s", self.id, exc.error.details.get("cause"),
                 str(raw)[:200])
        if exc.unique_id is not None:
            self._write(protocol.call_error_frame(exc.unique_id, exc.error))
        self.context.metrics.ocpp_malformed(None if exc.unique_id is None else exc.error.code)

    def _write(self, frame: str | bytes) -> None:
        self._send_frame(frame)

    def _record_repairs(self, action: str, repairs: list[tolerance.Repair]) -> None:
        """Count every repair per charger (docs/decisions.md D22: stored with this message
        only when a kind is new for the charger, the rest in batches) and log one anomaly
        per new (kind, action, field) per connection."""
        self.context.metrics.repairs(action, (repair.kind for repair in repairs))
        if self._repairs_seen is None:
            self._repairs_seen = set()
        new = tolerance.new_repairs(self._repairs_seen, action, repairs)
        now = utcnow()
        ledger = self.context.repairs
        fresh = ledger is not None and ledger.count(self.id, action, repairs, now)
        if not new and not fresh:
            return
        details = [tolerance.describe(action, repair) for repair in new]
        if details:
            log.info("charger=%s accepted firmware quirk(s) %s", self.id, "; ".join(details))

            def write() -> None:
                for detail in details:
                    charging.record_anomaly(self.id, "firmware_quirk", detail, now)
            self._committer.run(write)
        if fresh:
            repair_ledger.flush(ledger, self._committer, self.id)

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
