"""The live load manager: follows the committed events, re-allocates, sends what changed.

``LoadManager.observe`` is a ``Broadcaster`` observer: it only updates the picture
(``picture.py``) and arms one timer, ``load_debounce`` seconds, that coalesces a burst of
events into one allocation (a decrease never waits longer than that; increases may wait
longer, see ``pacing.py``). The allocation (``allocator.allocate``) becomes each slot's
target; ``Pacer.release`` grants what may go out now, and one worker task per charger
sends its granted slots one after the other (the OCPP call lock serialises them anyway),
always the newest target, so a stale one is never sent.

Profiles (``chargers/profiles.py``): a TxProfile for each steered session (0 A while it
is queued), falling back to a TxDefaultProfile on its connector when the charger
refuses TxProfiles (Rejected, NotSupported, CALLERROR), and a ChargePointMaxProfile on
connector 0 of each steered charger: the sum of what its sessions are allocated, 0 when
it has none. A car that plugs in while evedge is away (restarting) therefore waits at
0 A instead of taking capacity that others may be using; once evedge sees its
StartTransaction it gets its share. Everything is sent again when a charger connects
or boots.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from typing import Any, Awaitable, Callable, Protocol

from .. import errors
from ..config import Config, ConfigError
from ..domain import site_store
from ..events import Broadcaster
from . import grid_meters, pacing, picture
from .allocator import Allocation, ChargerTemplate, allocate, what_if
from .modbus import ModbusPoller
from .site_model import SiteModel, Vector, parse_site
from .status import Snapshot
from .units import micro_up

log = logging.getLogger(__name__)

ANNOUNCE_INTERVAL = 0.5  # s between "site.allocation" events: a few a second at most
REFUSED = ("Rejected", "NotSupported", "CallError")
EMPTY = SiteModel()


class Sender(Protocol):
    async def set(self, charger_id: str, connector_id: int, purpose: str, limit_a: float,
                  number_phases: int | None = None,
                  transaction_id: int | None = None) -> str: ...

    async def clear(self, charger_id: str) -> str: ...


class LoadManager:
    def __init__(self, config: Config, events: Broadcaster, sender: Sender,
                 registration_status: Callable[[str], str | None],
                 clock: Callable[[], float] = time.monotonic):
        self.config = config
        self._events = events
        self._sender = sender
        self._registration = registration_status
        self._clock = clock
        self.site: SiteModel = EMPTY
        self.site_source = "database"  # or "file" (site_model_file)
        self.chargers: dict[str, picture.ChargerInfo] = {}
        self.sessions: dict[picture.SessionKey, picture.SessionInfo] = {}
        self._by_transaction: dict[int, picture.SessionKey] = {}
        self.measured: dict[tuple[str, int], tuple[Any, float]] = {}
        self.readings = grid_meters.GridReadings(config.grid_meter_max_age)
        self.pacer = pacing.Pacer(config.load_reaction_time, config.load_increase_interval)
        self.allocation: Allocation | None = None
        self.inputs: picture.Inputs | None = None
        self.version = 0
        self.computed_at: float | None = None
        self.holding: set[str] = set()      # chargers that accepted a profile of ours
        self._used_ours: dict[str, Vector] = {}
        self._demands: dict[picture.SessionKey, float | None] = {}  # of the last allocation
        self._capacity = pacing.Capacity([], {})
        self._timer: asyncio.TimerHandle | None = None
        self._wake: asyncio.TimerHandle | None = None
        self._announce_timer: asyncio.TimerHandle | None = None
        self._announced_at = 0.0
        self._announced = False
        self._workers: dict[str, asyncio.Task] = {}
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task] = []
        self.pollers: list[Any] = []
        self.on_allocated: list[Callable[[], None]] = []  # tests and the benchmark listen

    # --- start and stop --------------------------------------------------------------------

    def start(self, site: SiteModel, source: str) -> None:
        """Take the model and rebuild the picture from the database (evedge may restart in
        the middle of sessions); the first allocation follows at once."""
        self.site, self.site_source = site, source
        for charger_id, connectors in site_store.known_connectors().items():
            self._charger(charger_id).connectors.update(connectors)
        for row in site_store.open_sessions():
            started = row.started_at.replace(tzinfo=dt.timezone.utc).timestamp()
            self._add_session(picture.SessionInfo(row.charger_id, row.connector_id,
                                                  row.transaction_id, row.id_tag, started))
        self._start_pollers()
        self._touch()

    async def close(self) -> None:
        for handle in (self._timer, self._wake, self._announce_timer, *self._expiry.values()):
            if handle is not None:
                handle.cancel()
        tasks = list(self._workers.values()) + self._tasks
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for poller in self.pollers:
            await poller.close()

    def spawn(self, work: Awaitable[Any]) -> None:
        self._tasks.append(asyncio.ensure_future(work))

    # --- the site model ----------------------------------------------------------------------

    def set_site(self, site: SiteModel) -> None:
        """A new model (already stored): re-allocate at once."""
        self.site = site
        self.readings = grid_meters.GridReadings(self.config.grid_meter_max_age)
        self._start_pollers()
        self._recompute()

    def _start_pollers(self) -> None:
        old, self.pollers = self.pollers, []
        for poller in old:
            self.spawn(poller.close())
        for meter in self.site.grid_meters:
            if meter.source == "modbus":
                poller = ModbusPoller(meter, self.site.circuit(meter.circuit),
                                      self.config.modbus_poll_interval, self.put_reading)
                poller.start()
                self.pollers.append(poller)

    def check_editable(self) -> None:
        if self.site_source == "file":
            raise errors.Conflict(f"the site model is read from the file "
                                  f"{self.config.site_model_file} (setting site_model_file); "
                                  f"edit that file and restart evedge", field="site_model_file")

    # --- events (Broadcaster observer: quick, synchronous, never raises) -----------------

    def observe(self, kind: str, data: dict) -> None:
        handler = _HANDLERS.get(kind)
        if handler is None:
            return
        charger_id = data.get("charger_id")
        info = self.chargers.get(charger_id) if charger_id else None
        if info is not None and not info.answering and kind != "charger.disconnected":
            info.answering = True  # seen again: it is steered again
            self._touch()
        handler(self, data)

    def _on_connected(self, data: dict) -> None:
        info = self._charger(data["charger_id"])
        info.online = info.seen = info.answering = True
        info.accepted = self._registration(info.charger_id) in (None, "Accepted")
        self._resend(info.charger_id)
        self._touch()

    def _on_disconnected(self, data: dict) -> None:
        self._charger(data["charger_id"]).online = False
        self._touch()

    def _on_boot(self, data: dict) -> None:
        info = self._charger(data["charger_id"])
        info.accepted = data["status"] == "Accepted"
        # A reboot may come with new firmware: what it refused before is tried again.
        info.mode, info.max_supported = picture.TX_PROFILE, True
        self._resend(info.charger_id)
        self._touch()

    def _on_status(self, data: dict) -> None:
        connector_id = data["connector_id"]
        if connector_id <= 0:
            return
        info = self._charger(data["charger_id"])
        before = info.connectors.get(connector_id) in picture.NOT_STEERED_STATUSES
        info.connectors[connector_id] = data["status"]
        if before != (data["status"] in picture.NOT_STEERED_STATUSES):
            self._touch()

    def _on_started(self, data: dict) -> None:
        self._add_session(picture.SessionInfo(
            data["charger_id"], data["connector_id"], data["transaction_id"], data["id_tag"],
            time.time()))
        self._touch()

    def _on_stopped(self, data: dict) -> None:
        key = self._by_transaction.pop(data["transaction_id"], None)
        if key is not None and key[0] == data["charger_id"]:
            self.sessions.pop(key, None)
            self.pacer.slots.pop(pacing.tx_key(*key), None)
            self._touch()

    def _on_meter(self, data: dict) -> None:
        current = data.get("current_a")
        if current is None:
            return
        now = time.time()
        charger_id, connector_id = data["charger_id"], data["connector_id"]
        meter = self._grid_meter_at(charger_id, connector_id)
        if meter is not None:
            self.put_reading(meter, _site_phases(current), now)
            return
        self.measured[(charger_id, connector_id)] = (current, now)
        key = self._by_transaction.get(data["transaction_id"] or -1)
        session = self.sessions.get(key) if key else None
        if session is not None:
            session.measured_a, session.measured_at = current, now
            if self._demand_moved(session.key, now):
                self._touch()
        if self.site.grid_meters and self._ours_moved(now):
            self._touch()
        self._announce_soon()

    # --- grid meters --------------------------------------------------------------------------

    def put_reading(self, circuit_id: str, current_a: Vector, now: float | None = None) -> None:
        """A grid meter reading (site phases); re-allocates when it moved by more than
        ``load_current_threshold`` on a phase, or when the meter was silent."""
        now = time.time() if now is None else now
        last = self.readings.fresh(circuit_id, now)
        self.readings.put(circuit_id, current_a, now)
        self._expire_later(circuit_id)
        threshold = self.config.load_current_threshold
        if last is None or any(abs(a - b) > threshold
                               for a, b in zip(last.current_a, current_a)):
            self._touch()
        self._announce_soon()

    def _expire_later(self, circuit_id: str) -> None:
        """Allocate again when this reading is too old to be trusted (grid_meters.py: the
        circuit then counts as fully loaded), unless a newer one came first."""
        timer = self._expiry.pop(circuit_id, None)
        if timer is not None:
            timer.cancel()
        self._expiry[circuit_id] = asyncio.get_running_loop().call_later(
            self.readings.max_age + 0.01, self._expired, circuit_id)

    def _expired(self, circuit_id: str) -> None:
        self._expiry.pop(circuit_id, None)
        self._touch()

    def _grid_meter_at(self, charger_id: str, connector_id: int) -> str | None:
        for meter in self.site.grid_meters:
            if meter.source == "charger" and meter.charger_id == charger_id \
                    and meter.connector_id == connector_id:
                return meter.circuit
        return None

    def ours_per_circuit(self, now: float) -> dict[str, Vector]:
        """What our chargers were measured drawing (fresh readings only), per circuit and
        site phase, summed up every circuit's path."""
        totals: dict[str, list[float]] = {}
        max_age = self.config.load_measured_max_age
        for (charger_id, connector_id), (reading, at) in self.measured.items():
            assignment = self.site.assignment(charger_id, connector_id)
            if assignment is None or now - at > max_age:
                continue
            draw = picture.site_current(assignment, reading)
            for circuit in self.site.path(assignment.circuit):
                total = totals.setdefault(circuit.id, [0.0, 0.0, 0.0])
                for phase in range(3):
                    total[phase] += draw[phase]
        return {key: (value[0], value[1], value[2]) for key, value in totals.items()}

    def demand_of(self, key: picture.SessionKey) -> float | None:
        """What the last allocation took the session's car to take at most (its
        measurements), or None: its whole share."""
        return self._demands.get(key)

    def _demand_moved(self, key: picture.SessionKey, now: float) -> bool:
        """Whether a reading changes what the session's car takes enough to allocate
        again (it began or stopped drawing less than it may, or moved by more than
        ``load_current_threshold``)."""
        before, after = self._demands.get(key), self._car_demand(key, now)
        if before is None or after is None:
            return (before is None) != (after is None)
        return abs(after - before) > self.config.load_current_threshold

    def _ours_moved(self, now: float) -> bool:
        threshold = self.config.load_current_threshold
        ours = self.ours_per_circuit(now)
        for meter in self.site.grid_meters:
            before = self._used_ours.get(meter.circuit, (0.0, 0.0, 0.0))
            after = ours.get(meter.circuit, (0.0, 0.0, 0.0))
            if any(abs(a - b) > threshold for a, b in zip(before, after)):
                return True
        return False

    def _other_loads(self, now: float) -> dict[str, Vector]:
        if not self.site.grid_meters:
            return {}
        self._used_ours = self.ours_per_circuit(now)
        return grid_meters.other_loads(self.site, self.readings, self._used_ours, now)

    # --- allocating ---------------------------------------------------------------------------

    def _touch(self) -> None:
        """Something changed the picture: allocate within ``load_debounce`` seconds. The
        timer is not pushed back by later events, so a burst never delays a decrease."""
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.config.load_debounce, self._recompute)

    def _recompute(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self._allocate()
        except Exception:  # a bug must not stop the events; the old limits stay in force
            log.exception("load management: allocation failed")

    def _allocate(self) -> None:
        now = time.time()
        self.version += 1
        self.computed_at = now
        if self.site.is_empty:
            self.allocation, self.inputs = None, None
            for slot in self.pacer.slots.values():
                slot.target = None
        else:
            mono = self._clock()
            self.inputs = picture.allocation_inputs(
                self.site, self.chargers, self.sessions, lambda key: self._last_limit(key, mono),
                self._refused_session, lambda key: self._car_demand(key, now))
            self._demands = {s.key: s.demand_a for s in self.inputs.sessions}
            self.allocation = allocate(self.site, self.inputs.sessions, self.inputs.fixed,
                                       self._other_loads(now))
            self._set_targets(self.allocation, self.inputs)
        self._release_ours()
        self._dispatch()
        self._announce_soon()
        for listener in self.on_allocated:
            listener()

    def _last_limit(self, key: picture.SessionKey, now: float) -> float | None:
        slot = self.pacer.slots.get(pacing.tx_key(*key))
        if slot is None or (slot.accepted is None and not slot.doubt):
            return None
        return slot.ceiling(now) if slot.accepted is not None else max(slot.doubt, 0.0)

    def _car_demand(self, key: picture.SessionKey, now: float) -> float | None:
        """What the session's car takes at most by its measurements (picture.car_demand),
        from the limit its charger last accepted for it."""
        session = self.sessions.get(key)
        slot = self.pacer.slots.get(pacing.tx_key(*key))
        if session is None or slot is None:
            return None
        config = self.config
        return picture.car_demand(session, slot.accepted, config.load_demand_headroom,
                                  config.load_reaction_time, config.load_measured_max_age, now)

    def _refused_session(self, key: picture.SessionKey) -> bool:
        slot = self.pacer.slots.get(pacing.tx_key(*key))
        return slot is not None and slot.status in REFUSED

    def _set_targets(self, allocation: Allocation, inputs: picture.Inputs) -> None:
        totals: dict[str, float] = {}
        order: dict[pacing.SlotKey, int] = {}
        terms: dict[pacing.SlotKey, tuple] = {}
        for position, result in enumerate(allocation.sessions):
            key = pacing.tx_key(*result.key)
            slot = self.pacer.slots.get(key)
            if result.key not in inputs.steered or slot is None:
                if slot is not None:
                    slot.target = None
                continue
            slot.target, slot.number_phases = result.current_a, result.number_phases
            order[key] = position
            terms[key] = self.site.constraint_terms(
                self.site.assignment(result.charger_id, result.connector_id))
            totals[result.charger_id] = totals.get(result.charger_id, 0.0) + result.current_a
        for key, slot in self.pacer.slots.items():
            if not slot.is_max and result_missing(key, inputs):
                slot.target = None
        self._set_maximum_targets(totals)
        self._capacity = pacing.Capacity(_row_capacity(self.site, allocation), terms, order)

    def _set_maximum_targets(self, totals: dict[str, float]) -> None:
        managed = {assignment.charger_id for assignment in self.site.chargers}
        for charger_id in managed:
            info = self._charger(charger_id)
            key = pacing.max_key(charger_id)
            slot = self.pacer.slots.get(key)
            if not info.steerable or not info.max_supported:
                if slot is not None:
                    slot.target = None
                continue
            if slot is None:
                slot = self.pacer.slots[key] = pacing.Slot(charger_id, 0)
            slot.target = round(totals.get(charger_id, 0.0), 1)

    def _release_ours(self) -> None:
        """Chargers that left the model (or every charger, when it is emptied) lose the
        profiles evedge gave them: ClearChargingProfile, once they are online."""
        managed = {assignment.charger_id for assignment in self.site.chargers}
        for charger_id in list(self.holding - managed):
            info = self.chargers.get(charger_id)
            if info is not None and info.online and charger_id not in self._workers:
                for key, _ in self.pacer.of_charger(charger_id):
                    self.pacer.slots.pop(key, None)
                self._workers[charger_id] = asyncio.ensure_future(self._clear(charger_id))

    async def _clear(self, charger_id: str) -> None:
        try:
            status = await self._sender.clear(charger_id)
            if status in ("Accepted", "Unknown") or status in REFUSED:
                self.holding.discard(charger_id)  # Unknown: nothing of ours was left there
        finally:
            self._workers.pop(charger_id, None)

    # --- sending -----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        online = [c for c, info in self.chargers.items() if info.steerable]
        ready, wake = self.pacer.release(self._clock(), self._capacity, online)
        for charger_id in ready:
            if charger_id not in self._workers:
                self._workers[charger_id] = asyncio.ensure_future(self._work(charger_id))
        if wake is not None:
            delay = max(0.0, wake - self._clock()) + 0.01
            self._wake = asyncio.get_running_loop().call_later(delay, self._dispatch)

    async def _work(self, charger_id: str) -> None:
        """Send the charger's granted slots, one at a time, the newest target each time."""
        try:
            while True:
                picked = self._next_granted(charger_id)
                if picked is None:
                    return
                await self._send(charger_id, *picked)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("load management: sending to %s failed", charger_id)
        finally:
            self._workers.pop(charger_id, None)

    def _next_granted(self, charger_id: str) -> tuple[pacing.SlotKey, pacing.Slot] | None:
        info = self.chargers.get(charger_id)
        candidates = []
        for key, slot in self.pacer.of_charger(charger_id):
            if slot.granted is None:
                continue
            if slot.target is None or not slot.wanted() or info is None or not info.steerable:
                slot.granted = None
                continue
            rising = slot.target > slot.base + pacing.EPSILON
            # Decreases first (sessions, then the charger's maximum), then increases (the
            # maximum, then sessions): a charger never clips what it was just allowed.
            candidates.append(((rising, slot.is_max != rising), key, slot))
        if not candidates:
            return None
        _, key, slot = min(candidates, key=lambda item: item[0])
        return key, slot

    async def _send(self, charger_id: str, key: pacing.SlotKey, slot: pacing.Slot) -> None:
        value = round(min(slot.target, slot.granted), 1)
        slot.sending(value)
        info = self._charger(charger_id)
        purpose = "ChargePointMaxProfile" if slot.is_max else info.mode
        status = "timeout"  # what an unexpected failure counts as: it may have arrived
        try:
            if slot.is_max:
                status = await self._sender.set(charger_id, 0, purpose, value)
            else:
                status = await self._sender.set(
                    charger_id, slot.connector_id, purpose, value, slot.number_phases,
                    slot.transaction_id if purpose == picture.TX_PROFILE else None)
        finally:
            self._answered(info, key, slot, purpose, value, status)

    def _answered(self, info: picture.ChargerInfo, key: pacing.SlotKey, slot: pacing.Slot,
                  purpose: str, value: float, status: str) -> None:
        now = self._clock()
        slot.answered(status, now, self.pacer.reaction_time, self.pacer.draw_ceiling(slot, now))
        if status == "Accepted":
            self.holding.add(info.charger_id)
            if slot.is_max:
                info.max_accepted = value
            elif purpose == picture.TX_PROFILE:
                info.tx_accepted = True
            session = None if slot.is_max else self.sessions.get(key[1:])
            if session is not None:  # readings before the car followed it tell nothing
                session.limit_changed_at = time.time()
            if slot.settles_at >= now:  # a decrease: increases may wait for it to settle
                self._wake_at(slot.settles_at)
        elif status in REFUSED:
            self._refused(info, slot, purpose, value)
        elif status == "timeout":
            info.answering = False  # counted at its last known maximum until it talks
            self._touch()
        elif status == "pending":
            info.accepted = False
            self._touch()
        if any(other.wanted() and other.granted is None and other.in_flight is None
               for _, other in self.pacer.of_charger(info.charger_id)):
            # held back while this one was in flight (or by its answer): look again soon
            self._wake_at(now)
        self._announce_soon()

    def _refused(self, info: picture.ChargerInfo, slot: pacing.Slot, purpose: str,
                 value: float) -> None:
        log.warning("load management: %s answered %s %s A with %s", info.charger_id,
                    purpose, value, slot.status)
        if slot.is_max:
            info.max_supported = False
            slot.target = None
        elif info.tx_accepted:
            # It took TxProfiles before: this one session's profile was refused (its
            # transaction may have just ended). It counts at its last limit meanwhile.
            self._touch()
        elif purpose == picture.TX_PROFILE:
            # The first TxProfile since it connected was refused: the charger does not do
            # TxProfiles. The same limit as its connector's TxDefaultProfile (which limits
            # the running transaction too, §3.13.2, since it has no TxProfile).
            info.mode = picture.TX_DEFAULT_PROFILE
            slot.resend, slot.granted, slot.status = True, value, "pending"
        else:
            info.mode = picture.NO_PROFILES  # counted at full power from now on
            self._touch()

    def _wake_at(self, when: float) -> None:
        loop = asyncio.get_running_loop()
        delay = max(0.0, when - self._clock()) + 0.01
        if self._wake is None or self._wake.when() > loop.time() + delay:
            if self._wake is not None:
                self._wake.cancel()
            self._wake = loop.call_later(delay, self._dispatch)

    # --- the picture ---------------------------------------------------------------------------

    def _charger(self, charger_id: str) -> picture.ChargerInfo:
        info = self.chargers.get(charger_id)
        if info is None:
            info = self.chargers[charger_id] = picture.ChargerInfo(charger_id)
        return info

    def _add_session(self, session: picture.SessionInfo) -> None:
        self.sessions[session.key] = session
        self._by_transaction[session.transaction_id] = session.key
        info = self._charger(session.charger_id)
        assignment = self.site.assignment(session.charger_id, session.connector_id)
        hardware = assignment.max_current_a if assignment is not None else 32.0
        initial = hardware
        if info.max_accepted is not None and info.max_supported:
            initial = min(initial, info.max_accepted)
        key = pacing.tx_key(*session.key)
        self.pacer.slots.setdefault(key, pacing.Slot(
            session.charger_id, session.connector_id, session.transaction_id, initial=initial,
            hardware=hardware))

    def _resend(self, charger_id: str) -> None:
        """Everything again (a connect or a boot): limits may be gone, refusals may be over."""
        self._charger(charger_id).tx_accepted = False
        for _, slot in self.pacer.of_charger(charger_id):
            slot.resend = True
            if slot.status in REFUSED:
                slot.status = "pending"

    # --- what the API shows --------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return Snapshot(self, time.time(), self._clock())

    def what_if(self, circuit_id: Any, extra_sessions: Any,
                template: ChargerTemplate = ChargerTemplate()) -> Allocation:
        if self.site.is_empty:
            raise errors.Conflict("there is no site model: load management is off",
                                  field="circuit")
        inputs = self.inputs or picture.Inputs([], [], set())
        return what_if(self.site, inputs.sessions, inputs.fixed,
                       self._other_loads(time.time()), circuit_id, extra_sessions, template)

    def _announce_soon(self) -> None:
        if self._announce_timer is not None or (self.site.is_empty and not self._announced):
            return
        wait = max(0.0, self._announced_at + ANNOUNCE_INTERVAL - time.monotonic())
        self._announce_timer = asyncio.get_running_loop().call_later(wait, self._announce)

    def _announce(self) -> None:
        self._announce_timer = None
        self._announced_at = time.monotonic()
        self._announced = not self.site.is_empty  # once more when it was turned off
        if self._events.wanted:
            self._events.publish("site.allocation", key=("site.allocation",),
                                 **self.snapshot().event())


def result_missing(key: pacing.SlotKey, inputs: picture.Inputs) -> bool:
    """A session slot whose session is not steered in this allocation."""
    return (key[1], key[2], key[3]) not in inputs.steered


def _site_phases(current: Any) -> Vector:
    """A grid meter's Current.Import: its L1, L2, L3 are the site's; one phaseless value
    (a meter that reports a single current) counts on every phase."""
    if isinstance(current, (int, float)):
        return (float(current),) * 3
    values = [value or 0.0 for value in current]
    return (values[0], values[1], values[2])


def _row_capacity(site: SiteModel, allocation: Allocation) -> list[int]:
    """Per constraint row: the limit minus the fixed and other loads (micro-amperes)."""
    circuits = {circuit.id: circuit for circuit in allocation.circuits}
    rows = []
    for row in site.constraints:
        result = circuits[row.circuit]
        base = [micro_up(f) + micro_up(o) for f, o in zip(result.fixed_a, result.other_a)]
        load = sum(base) if row.phase is None else base[row.phase]
        rows.append(site.circuit(row.circuit).limit_micro(row.phase) - load)
    return rows


def load_site(config: Config) -> tuple[SiteModel, str]:
    """The model at start-up: from ``site_model_file`` when set (a bad file stops the
    start with the field named), else the one stored in the database."""
    if config.site_model_file:
        try:
            with open(config.site_model_file, encoding="utf-8") as handle:
                body = json.load(handle)
            return parse_site(body), "file"
        except OSError as exc:
            raise ConfigError(f"site_model_file {config.site_model_file}: {exc.strerror}") \
                from None
        except ValueError as exc:  # JSON syntax
            raise ConfigError(f"site_model_file {config.site_model_file}: not JSON: {exc}") \
                from None
        except errors.BadRequest as exc:
            raise ConfigError(f"site_model_file {config.site_model_file}: {exc.message}") \
                from None
    stored = site_store.load_site_json()
    if stored is None:
        return EMPTY, "database"
    try:
        return parse_site(stored), "database"
    except errors.BadRequest as exc:
        log.error("the stored site model is not valid (%s): load management is off until "
                  "it is PUT again", exc.message)
        return EMPTY, "database"


_HANDLERS: dict[str, Callable[[LoadManager, dict], None]] = {
    "charger.connected": LoadManager._on_connected,
    "charger.disconnected": LoadManager._on_disconnected,
    "charger.boot": LoadManager._on_boot,
    "connector.status": LoadManager._on_status,
    "transaction.started": LoadManager._on_started,
    "transaction.stopped": LoadManager._on_stopped,
    "meter": LoadManager._on_meter,
}
