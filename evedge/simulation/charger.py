"""`SimulatedCharger`: a simulated OCPP 1.6J charge point, and its connection lifecycle.

The class is assembled from mixins, one per concern; this module holds the constructor and the
lifecycle (open, close, run, reconnect with backoff, owned tasks). The rest lives next door:

* `messages.MessagesMixin`: the charger-initiated API (``boot``, ``status``, ``stop_transaction``);
* `registration.RegistrationMixin`: BootNotification until Accepted, heartbeats, the outbox;
* `sessions.SessionsMixin` and `metering.MeteringMixin`: connectors, charging sessions, the meter;
* `rehearsal.RehearsalMixin`: what a technician makes it do (plug in, swipe, fault, go offline);
* `handlers_core`, `handlers_smart`, `handlers_firmware`: the 19 Central-System-initiated actions;
* `events.EventsMixin`: event history for tests, and raw frames;
* `protocol.ProtocolMixin` and `frames.FrameChecks`: CALLs, answers and checks on every frame.

The ``ocpp`` library builds ``route_map`` from the names its ``@on`` decorator registered and
``getattr`` on the instance, so handlers defined on a mixin are routed like any others.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import random
import ssl as ssl_module

from ocpp.exceptions import OCPPError
from ocpp.v16 import ChargePoint, call
from ocpp.v16.enums import DiagnosticsStatus, FirmwareStatus, Reason, RegistrationStatus

from .events import EventsMixin
from .frames import FrameChecks
from .handlers_core import CoreHandlers
from .handlers_firmware import FirmwareHandlers
from .handlers_smart import SmartHandlers
from .messages import MessagesMixin
from .metering import MeteringMixin
from .protocol import ProtocolMixin
from .registration import RegistrationMixin
from .rehearsal import RehearsalMixin
from .sessions import SessionsMixin
from .smart_charging import ChargingProfiles
from .state import Configuration, Connector, LocalAuthList, Reservation
from .transport import (
    DEFAULT_URL,
    ConnectFailed,
    ConnectionClosed,
    TornadoTransport,
    _Offline,
    _WireLogger,
    basic_auth_header,
    charger_url,
    open_websocket,
)

log = logging.getLogger("evedge.simulator")


@dataclasses.dataclass
class _Link:
    """One websocket connection's lifetime."""

    transport: TornadoTransport
    closed: asyncio.Event
    reader: asyncio.Task | None = None
    close_code: int | None = None


class SimulatedCharger(
    CoreHandlers,
    SmartHandlers,
    FirmwareHandlers,
    RehearsalMixin,
    SessionsMixin,
    MeteringMixin,
    RegistrationMixin,
    MessagesMixin,
    EventsMixin,
    FrameChecks,
    ProtocolMixin,
    ChargePoint,
):
    """A simulated OCPP 1.6J charge point with its own state (see ``simulator``'s docstring).

    State that tests may inspect: ``connectors`` (0 = the whole charge point), ``config``,
    ``local_list``, ``reservations``, ``profiles``, ``registration_status``, ``firmware_state``,
    ``firmware_download``, ``diagnostics_state``, ``diagnostics_uploads``, ``protocol_errors``,
    ``history`` and ``events``; the current each car draws through ``drawn_current(n)`` and
    ``await wait_for_current(n, predicate, timeout)``.

    The electrical options (see `metering`): ``phases`` (1 or 3) and ``phase_rotation`` (§9.1.7:
    RST, RTS, SRT, STR, TRS or TSR) say how the charger is wired; ``power_w`` is each
    connector's hardware maximum; a car follows a new allowed current after ``reaction_delay``
    seconds and ramps up at ``ramp_rate`` A/s (None: at once); ``car_max_current`` is the
    default car's own maximum per phase (None: no limit of its own). ``speed`` runs the
    physical world (energy, delays, ramps, batteries) that many times faster than real time.
    """

    def __init__(
        self,
        charge_point_id: str,
        *,
        url: str | None = None,
        password: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        subprotocols: tuple[str, ...] | None = ("ocpp1.6",),
        connect_timeout: float = 10.0,
        connectors: int = 1,
        vendor: str = "evedge",
        model: str = "SimCharger",
        serial: str | None = None,
        firmware_version: str = "evedge-sim-1.0",
        meter_interval: float = 10.0,
        power_w: float = 11000.0,
        response_timeout: float = 30.0,
        auto_start_tag: str | None = None,
        reconnect_base: float = 1.0,
        reconnect_cap: float = 30.0,
        reboot_delay: float = 0.2,
        history_size: int = 1000,
        phases: int = 3,
        phase_rotation: str = "RST",
        reaction_delay: float = 5.0,
        ramp_rate: float | None = 5.0,
        car_max_current: float | None = None,
        speed: float = 1.0,
    ):
        wire_log = _WireLogger(logging.getLogger("evedge.simulator.wire"), {})
        super().__init__(
            charge_point_id, _Offline(), response_timeout=response_timeout, logger=wire_log
        )
        self.url = url or DEFAULT_URL
        self.password = password
        self.ssl = ssl
        self.subprotocols = tuple(subprotocols or ())
        self.connect_timeout = connect_timeout
        self.vendor, self.model = vendor, model
        self.serial = serial or f"SN-{charge_point_id}"[:25]
        self.firmware_version = firmware_version
        self.meter_interval = float(meter_interval)
        self.power_w = float(power_w)
        self.auto_start_tag = auto_start_tag
        self.reconnect_base = reconnect_base
        self.reconnect_cap = reconnect_cap
        self.reboot_delay = reboot_delay
        self._init_load(
            phases=phases,
            phase_rotation=phase_rotation,
            reaction_delay=reaction_delay,
            ramp_rate=ramp_rate,
            speed=speed,
            car_max_current=car_max_current,
        )
        self._init_state(connectors, meter_interval)
        self._init_protocol()
        self._init_events(history_size)
        self._init_lifecycle()

    def _init_state(self, connectors: int, meter_interval: float) -> None:
        """The charge point's own state: what tests may inspect (see the class docstring)."""
        self.connectors = {n: Connector(n) for n in range(connectors + 1)}
        self.config = Configuration(connectors, meter_interval, self.phase_rotation)
        self.local_list = LocalAuthList()
        self.auth_cache: dict[str, dict] = {}  # id tag -> last idTagInfo from the server
        self.reservations: dict[int, Reservation] = {}
        self.profiles = ChargingProfiles()
        self.registration_status: str | None = None
        self.firmware_state: str = FirmwareStatus.idle
        self.firmware_download: dict | None = None  # {"location", "size", "sha256"}
        self.diagnostics_state: str = DiagnosticsStatus.idle
        self.diagnostics_uploads: list[dict] = []

    def _init_lifecycle(self) -> None:
        """The connection, the tasks this charger owns, and reconnect bookkeeping."""
        self._link: _Link | None = None
        self._tasks: set[asyncio.Task] = set()
        self._heartbeat_task: asyncio.Task | None = None
        self._boot_task: asyncio.Task | None = None
        # StopTransactions to deliver after a reconnect (transaction messages are not lost).
        self._outbox: list[call.StopTransaction] = []
        self._reboot_pending = False
        self._backoff_attempt = 0
        self._closing = False
        self._online = asyncio.Event()  # set while connected and registered (see wait_online)
        self._may_connect = asyncio.Event()  # cleared while held offline (rehearsal.go_offline)
        self._may_connect.set()
        self.offline_until: dt.datetime | None = None  # when a timed go_offline ends
        self._back_online: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"<SimulatedCharger {self.id} {'online' if self.connected else 'offline'}>"

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.closed.is_set()

    @property
    def accepted(self) -> bool:
        """Connected and registered. Only then does the charger act on its own initiative."""
        return self.connected and self.registration_status == RegistrationStatus.accepted

    async def open(self) -> None:
        """Open the websocket and start reading from it. Raise ConnectFailed on failure."""
        if self.connected:
            return
        headers = (
            {"Authorization": basic_auth_header(self.id, self.password)} if self.password else {}
        )
        ws = await open_websocket(
            charger_url(self.url, self.id),
            headers=headers,
            ssl=self.ssl,
            subprotocols=self.subprotocols,
            connect_timeout=self.connect_timeout,
            ping_interval=self.config.number("WebSocketPingInterval"),
        )
        transport = TornadoTransport(ws, self._inspect_inbound, self._inspect_outbound)
        self._check_subprotocol(transport.subprotocol)
        link = _Link(transport, asyncio.Event())
        self._link, self._connection = link, transport
        self._response_queue = asyncio.Queue()  # forget replies from the previous connection
        link.reader = asyncio.get_running_loop().create_task(
            self._read(link), name=f"{self.id}-reader"
        )
        self._reboot_pending = False
        self._record("connected")
        log.info("%s: connected (subprotocol %s)", self.id, transport.subprotocol)

    async def close(self, *, stop_transactions: bool = False) -> None:
        """Stop all activity and close the websocket cleanly. With ``stop_transactions``, running
        transactions are first stopped with reason Local."""
        if stop_transactions:
            await self._stop_all_transactions(Reason.local)
        self._closing = True
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._disconnect(1000, "closing")

    async def run(
        self, stop: asyncio.Event | None = None, *, stop_transactions: bool = True
    ) -> None:
        """Stay online like a real charger until ``stop`` is set or the task is cancelled, then
        close (by default stopping running transactions with reason Local).

        It connects, registers (§4.2), and reconnects with exponential backoff when the link
        drops. Transactions survive a reconnect.
        """
        try:
            await self._maintain(stop, reconnect=True, connected=self.connected)
        finally:
            await self.close(stop_transactions=stop_transactions)

    async def _maintain(
        self, stop: asyncio.Event | None, *, reconnect: bool, connected: bool
    ) -> None:
        """The connection loop. Without ``reconnect``, it reconnects only after a Reset."""
        while not self._stopping(stop):
            if not connected:
                if not self._may_connect.is_set():
                    await _first_of(self._may_connect.wait(), stop.wait() if stop else None)
                    if self._stopping(stop):
                        return
                await self._try_online()
            connected = False
            if self.connected:
                await _first_of(self._link.closed.wait(), stop.wait() if stop else None)
            if self._stopping(stop) or not (reconnect or self._reboot_pending):
                return
            await _sleep_unless(stop, self._next_delay())

    def _stopping(self, stop: asyncio.Event | None) -> bool:
        return self._closing or (stop is not None and stop.is_set())

    def _next_delay(self) -> float:
        """Exponential backoff with jitter. The first attempt after a Reset comes quickly."""
        if self._reboot_pending and self._backoff_attempt == 0:
            self._backoff_attempt = 1
            return self.reboot_delay
        ceiling = min(self.reconnect_cap, self.reconnect_base * 2**self._backoff_attempt)
        self._backoff_attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    async def _try_online(self) -> None:
        try:
            await self.open()
            if not self._may_connect.is_set():  # held offline while the handshake ran
                await self._disconnect(abort=True)
                return
            if self.registration_status == RegistrationStatus.accepted:
                await self._on_accepted()  # a reconnect, not a reboot: no new BootNotification
            else:
                await self.register()
        except (ConnectFailed, ConnectionClosed, asyncio.TimeoutError, OCPPError) as exc:
            log.warning("%s: %s", self.id, exc)

    async def _read(self, link: _Link) -> None:
        code = None
        try:
            await self.start()
        except ConnectionClosed as exc:
            code = exc.code
        except Exception as exc:  # a bug on our side: never leave a half-dead charger behind
            log.exception("%s: reader failed", self.id)
            self._violation(f"internal: reader failed: {exc!r}")
            link.transport.close(1011, "simulator error")
        finally:
            self._went_offline(link, code)

    def _went_offline(self, link: _Link, code: int | None) -> None:
        link.transport.close()  # releases tornado's client even when the server closed first
        link.close_code = code
        link.closed.set()
        if self._link is link:
            self._link, self._connection = None, _Offline()
            self._online.clear()
        for task in (self._heartbeat_task, self._boot_task):
            if task is not None:
                task.cancel()
        self._heartbeat_task = self._boot_task = None
        self._record("disconnected", code)
        log.info("%s: disconnected (code %s)", self.id, code)

    @property
    def subprotocol(self) -> str | None:
        """The websocket subprotocol the server selected, while connected."""
        return self._link.transport.subprotocol if self.connected else None

    async def disconnect(self, code: int = 1000, reason: str = "") -> None:
        """Close the websocket cleanly. The charger stays registered: ``open()`` reconnects
        without a BootNotification, as after a network break (§4.2)."""
        await self._disconnect(code, reason)

    async def wait_online(self, timeout: float | None = None) -> None:
        """Wait until the charger is connected and registered, and has announced its connectors.
        Raises asyncio.TimeoutError after ``timeout`` seconds."""
        await asyncio.wait_for(self._online.wait(), timeout)

    async def drop_connection(self, *, reboot: bool = False) -> None:
        """Lose the connection as a real charger does: the TCP connection just ends, with no
        closing handshake. `run` reconnects after its backoff; after `connect`, call `open`.

        Without ``reboot`` the charger comes back without a BootNotification (§4.2 asks for one
        only after a reboot) and its sessions go on. With ``reboot`` it also restarts: running
        transactions end with reason Reboot (their StopTransactions wait in the outbox until the
        charger is registered again) and it sends a BootNotification when it is back.
        """
        if reboot:
            self.registration_status = None
        await self._disconnect(abort=True)
        if reboot:
            for connector in self._outlets():
                await self._end_transaction(connector, Reason.reboot, announce=False)
            for connector in self.connectors.values():
                connector.claimed_by = None

    async def _disconnect(self, code: int = 1000, reason: str = "", *, abort=False) -> None:
        """Close the current websocket (or drop it, with ``abort``) and wait until its reader
        has finished."""
        link = self._link
        if link is None:
            return
        if abort:
            link.transport.abort()
        else:
            link.transport.close(code, reason)
        done, _ = await asyncio.wait({link.reader}, timeout=10)
        if not done:
            link.reader.cancel()
            await asyncio.gather(link.reader, return_exceptions=True)

    def _spawn(self, coro, name: str | None = None) -> asyncio.Task | None:
        """Run ``coro`` as a task owned by this charger. close() cancels it."""
        if self._closing:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(
            coro, name=f"{self.id}-{name or coro.__qualname__}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if (
            task.cancelled()
            or task.exception() is None
            or isinstance(task.exception(), ConnectionClosed)
        ):
            return
        log.error("%s: task %s failed", self.id, task.get_name(), exc_info=task.exception())
        self._violation(f"internal: {task.get_name()} failed: {task.exception()!r}")


async def _first_of(*awaitables) -> None:
    """Wait until the first of the awaitables (None entries are skipped) is done."""
    tasks = [asyncio.ensure_future(a) for a in awaitables if a is not None]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _sleep_unless(stop: asyncio.Event | None, delay: float) -> None:
    if stop is None:
        await asyncio.sleep(delay)
    else:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
