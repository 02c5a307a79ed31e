"""The simulated charger's load, its energy meter and its MeterValues (§4.7).

Each connector in a session has a `load.CurrentFollower`: its car draws what the charger allows
(the charging profiles in force, §3.13; its share of a ChargePointMaxProfile; the hardware
maximum; the car's own maximum), after the reaction delay, and never less than 6 A unless it
pauses. The energy register is the integral of that current x VOLTAGE x phases, so the
Current.Import, Power.Active.Import and Energy.Active.Import.Register a MeterValues reports all
come from the same model.

The meter sits at the grid connection: Current.Import is reported per grid phase the charger is
wired to (L1, L2 and L3 for a 3-phase charger, the one wired phase of a 1-phase charger), and
ConnectorPhaseRotation (§9.1.7, ``phase_rotation``) decides which grid phases a car's phases are.

One load loop per charger runs while any connector draws. It re-evaluates the setpoints when
something changes (a profile is set or cleared, a session starts or ends, a schedule period
begins, a battery tapers) and reports Charging, SuspendedEVSE or SuspendedEV as the car follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Callable

from ocpp.v16.enums import ChargePointStatus, Measurand, ReadingContext

from .clock import SimClock, rfc3339, utc_now
from .ev import Car
from .load import (
    CurrentFollower,
    Setpoint,
    check_phase_rotation,
    grid_currents,
    share_current,
    wired_phases,
)
from .smart_charging import VOLTAGE
from .state import Connector

ENERGY_STATUSES = (
    ChargePointStatus.charging,
    ChargePointStatus.suspended_evse,
    ChargePointStatus.suspended_ev,
)
_STATUS_FOR_PAUSE = {
    None: ChargePointStatus.charging,
    "EVSE": ChargePointStatus.suspended_evse,
    "EV": ChargePointStatus.suspended_ev,
}
TAPER_STEP = 30.0  # simulated s between re-evaluations while a battery model charges
RAMP_TICK = 0.05  # real s between checks of current waiters while a car ramps up
SCHEDULE_HORIZON = 86400.0  # s ahead to look for the next schedule period
SCHEDULE_MARGIN = 0.01  # real s after a period boundary to re-evaluate (timers may fire early)
_PHASE_NAMES = ("L1", "L2", "L3")


class MeteringMixin:
    """Load, meter readings, samples and the MeterValues loop of `SimulatedCharger`."""

    def _init_load(
        self,
        *,
        phases: int,
        phase_rotation: str,
        reaction_delay: float,
        ramp_rate: float | None,
        speed: float,
        car_max_current: float | None,
    ) -> None:
        """The electrical options; ValueError naming the option for a bad one."""
        if phases not in (1, 3) or isinstance(phases, bool):
            raise ValueError(f"phases must be 1 or 3: {phases!r}")
        if not isinstance(reaction_delay, (int, float)) or not reaction_delay >= 0:
            raise ValueError(f"reaction_delay must be a number of seconds >= 0: {reaction_delay!r}")
        if ramp_rate is not None and not (isinstance(ramp_rate, (int, float)) and ramp_rate > 0):
            raise ValueError(f"ramp_rate must be a number of A/s above 0, or None: {ramp_rate!r}")
        if car_max_current is not None and not car_max_current > 0:
            raise ValueError(f"car_max_current must be above 0 A: {car_max_current!r}")
        self.phases = phases
        self.phase_rotation = check_phase_rotation(phase_rotation)
        self.reaction_delay = float(reaction_delay)
        self.ramp_rate = None if ramp_rate is None else float(ramp_rate)
        self.car_max_current = car_max_current
        self.clock = SimClock(speed)
        self._load_wake = asyncio.Event()
        self._load_task: asyncio.Task | None = None
        self._current_waiters: list[tuple[int, Callable, asyncio.Future]] = []

    @property
    def max_current(self) -> float:
        """The hardware maximum per phase of one connector: ``power_w`` on all its phases."""
        return self.power_w / (VOLTAGE * self.phases)

    # ---- the current, for tests ------------------------------------------------------------

    def drawn_current(self, connector_id: int) -> tuple[float, float, float]:
        """The current (A) drawn now on the grid's L1, L2 and L3 by the car on a connector, or
        by the whole charge point for connector 0."""
        total = [0.0, 0.0, 0.0]
        for connector in self._metered_parts(connector_id):
            for index, amps in enumerate(self._grid_currents(connector)):
                total[index] += amps
        return round(total[0], 3), round(total[1], 3), round(total[2], 3)

    async def wait_for_current(
        self,
        connector_id: int,
        predicate: Callable[[tuple[float, float, float]], bool],
        timeout: float = 5.0,
    ) -> tuple[float, float, float]:
        """Wait until ``predicate(drawn_current(connector_id))`` holds and return that current.
        Raises asyncio.TimeoutError, naming the last current seen, after ``timeout`` seconds."""
        current = self.drawn_current(connector_id)
        if predicate(current):
            return current
        waiter = (connector_id, predicate, asyncio.get_running_loop().create_future())
        self._current_waiters.append(waiter)
        self._load_changed()  # a ramp is now watched closely
        try:
            return await asyncio.wait_for(waiter[2], timeout)
        except asyncio.TimeoutError:
            raise asyncio.TimeoutError(
                f"{self.id}: connector {connector_id} still draws "
                f"{self.drawn_current(connector_id)} A after {timeout}s"
            ) from None
        finally:
            self._current_waiters.remove(waiter)

    def _metered_parts(self, connector_id: int) -> list[Connector]:
        if connector_id == 0:
            return self._outlets()
        if connector_id not in self.connectors:
            raise ValueError(f"{self.id}: no connector {connector_id!r}")
        return [self.connectors[connector_id]]

    def _grid_currents(self, connector: Connector) -> tuple[float, float, float]:
        self._read_meter(connector)  # brings the model to now
        load = connector.load
        if load is None:
            return 0.0, 0.0, 0.0
        return grid_currents(load.amps, load.phases, self.phase_rotation)

    def _notify_current(self) -> None:
        for connector_id, predicate, future in list(self._current_waiters):
            if not future.done():
                current = self.drawn_current(connector_id)
                if predicate(current):
                    future.set_result(current)

    # ---- what each connector may draw ------------------------------------------------------

    def _default_car(self) -> Car:
        return Car(max_current=self.car_max_current, phases=self.phases)

    def _setpoints(self, connectors: list[Connector]) -> dict[int, Setpoint]:
        """What the charger allows each of these connectors now. ChargePointMaxProfile limits
        them together (§3.13.1); each one's TxProfile or TxDefaultProfile alone (§3.13.2)."""
        moment = utc_now()
        cap_limit = self.profiles.charge_point_limit(moment, moment)
        cap = None if cap_limit is None else cap_limit.value_in("A", self.phases)
        evse, ev, phases = {}, {}, {}
        for connector in connectors:
            number = connector.connector_id
            origin = connector.transaction.started_at if connector.transaction else moment
            tx_limit = self.profiles.tx_limit(number, moment, origin)
            car = connector.car or self._default_car()
            used = min(self.phases, car.phases)
            for limit in (tx_limit, cap_limit):
                used = limit.phases_used(used) if limit is not None else used
            tx_amps = math.inf if tx_limit is None else tx_limit.value_in("A", used)
            evse[number] = min(self.max_current, tx_amps)
            ev[number], phases[number] = car.demand(), used
        first_come = sorted(connectors, key=lambda c: c.load.started_at if c.load else math.inf)
        offers = share_current(
            cap,
            {n: min(evse[n], ev[n]) for n in evse},
            [c.connector_id for c in first_come],
        )
        return {n: Setpoint(min(evse[n], offers[n]), ev[n], phases[n]) for n in evse}

    def _offered(self, connector: Connector) -> tuple[float, int]:
        """(A per phase, phases) the charger offers this connector's car now, or would offer."""
        if connector.load is not None:
            return connector.load.commanded.evse, connector.load.commanded.phases
        setpoint = self._setpoints([connector])[connector.connector_id]
        return setpoint.evse, setpoint.phases

    # ---- the load loop ---------------------------------------------------------------------

    def _begin_load(self, connector: Connector) -> None:
        """The car on ``connector`` starts to draw; the first setpoint applies at once."""
        if connector.load is not None:
            return
        connector.car = connector.car or self._default_car()
        loaded = [c for c in self._outlets() if c.load is not None] + [connector]
        setpoint = self._setpoints(loaded)[connector.connector_id]
        connector.load = CurrentFollower(
            self.clock.now(),
            setpoint,
            reaction_delay=self.reaction_delay,
            ramp_rate=self.ramp_rate,
        )
        if self._load_task is None or self._load_task.done():
            self._load_task = self._spawn(self._load_loop(), "load")
        self._load_changed()  # the others share the charge point with it now
        self._notify_current()

    def _end_load(self, connector: Connector) -> None:
        """The car stops drawing (the session ended, or the connector left Charging and the
        Suspended states). It unplugs with the session."""
        if connector.load is None:
            return
        self._read_meter(connector)
        connector.load = None
        if connector.transaction is None:
            connector.car = None
        self._load_changed()
        self._notify_current()

    def _load_status(self, connector: Connector) -> str:
        load = connector.load
        return _STATUS_FOR_PAUSE[load.paused_by] if load else ChargePointStatus.charging

    def _load_changed(self) -> None:
        """Something that changes what connectors may draw happened: re-evaluate now."""
        self._load_wake.set()

    async def _load_loop(self) -> None:
        while True:
            self._load_wake.clear()
            loaded = [c for c in self._outlets() if c.load is not None]
            if not loaded:
                return
            wait = self._evaluate_load(loaded)
            await self._follow_status(loaded)
            if self._load_wake.is_set():
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._load_wake.wait(), wait)

    def _evaluate_load(self, loaded: list[Connector]) -> float | None:
        """Bring every load to now and command its setpoint. Returns the real seconds until the
        next evaluation is due, or None when only an event can change anything."""
        now = self.clock.now()
        for connector in loaded:
            self._read_meter(connector)  # energy and battery up to now, at the old setpoints
        for number, setpoint in self._setpoints(loaded).items():
            self.connectors[number].load.command(now, setpoint)
        self._notify_current()
        return self._next_evaluation(loaded, now)

    def _next_evaluation(self, loaded: list[Connector], now: float) -> float | None:
        waits = []
        moment = utc_now()
        for connector in loaded:
            load = connector.load
            change = load.next_change()
            if change is not None:
                waits.append(self.clock.real(change - now))
            if load.ramping and self._current_waiters:
                waits.append(RAMP_TICK)
            if connector.car is not None and connector.car.capacity_wh is not None:
                waits.append(self.clock.real(TAPER_STEP))
            origin = connector.transaction.started_at if connector.transaction else moment
            boundary = self.profiles.next_change(
                {0, connector.connector_id}, moment, origin, SCHEDULE_HORIZON
            )
            if boundary is not None:
                waits.append((boundary - moment).total_seconds() + SCHEDULE_MARGIN)
        return max(0.0, min(waits)) if waits else None

    async def _follow_status(self, loaded: list[Connector]) -> None:
        """Report Charging, SuspendedEVSE or SuspendedEV as the car now draws (§4.9)."""
        for connector in loaded:
            if connector.load is None or connector.status not in ENERGY_STATUSES:
                continue
            wanted = self._load_status(connector)
            if connector.status != wanted:
                await self._set_status(connector, wanted)

    # ---- the meter -------------------------------------------------------------------------

    def _read_meter(self, connector: Connector) -> int:
        """Advance the energy register (and the car's battery) to now. Returns Wh."""
        load = connector.load
        if load is not None:
            load.advance(self.clock.now())
            energy_wh = load.drain() * VOLTAGE / 3600.0
            connector.meter_wh += energy_wh
            if connector.car is not None:
                connector.car.charge(energy_wh)
        return int(connector.meter_wh)

    def _samples(self, connector: Connector, context: str) -> list[dict]:
        """The sampledValues of MeterValuesSampledData, Current.Import once per wired phase."""
        parts = self._metered_parts(connector.connector_id)
        energy = sum(self._read_meter(part) for part in parts)
        currents = self.drawn_current(connector.connector_id)
        power = sum(currents) * VOLTAGE
        if connector.connector_id == 0:
            offered_amps, offered_phases = self.max_current, self.phases
        else:
            offered_amps, offered_phases = self._offered(connector)
        offered_w = offered_amps * VOLTAGE * offered_phases
        readings = [
            (Measurand.energy_active_import_register, str(energy), "Wh", None),
            (Measurand.power_active_import, f"{power:.1f}", "W", None),
        ]
        readings += [
            (Measurand.current_import, f"{currents[index]:.2f}", "A", _PHASE_NAMES[index])
            for index in wired_phases(self.phases, self.phase_rotation)
        ]
        readings += [
            (Measurand.voltage, f"{VOLTAGE:.1f}", "V", None),
            (Measurand.power_offered, f"{offered_w:.1f}", "W", None),
            (Measurand.current_offered, f"{offered_amps:.1f}", "A", None),
        ]
        wanted = (self.config.value("MeterValuesSampledData") or "").split(",")
        return [
            _sampled_value(value, context, name, unit, phase)
            for name, value, unit, phase in readings
            if name in wanted
        ]

    def _end_sample(self, meter_stop: int) -> dict:
        """The transactionData of a StopTransaction: the register at Transaction.End."""
        sample = {
            "value": str(meter_stop),
            "context": ReadingContext.transaction_end,
            "measurand": Measurand.energy_active_import_register,
            "location": "Outlet",
            "unit": "Wh",
        }
        return {"timestamp": rfc3339(utc_now()), "sampled_value": [sample]}

    def _start_meter_loop(self, connector: Connector) -> None:
        if connector.meter_task is None or connector.meter_task.done():
            connector.meter_task = self._spawn(
                self._meter_loop(connector), f"meter-{connector.connector_id}"
            )

    def _stop_meter_loop(self, connector: Connector) -> None:
        task, connector.meter_task = connector.meter_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _meter_loop(self, connector: Connector) -> None:
        """MeterValues every meter_interval (real seconds) while the transaction runs (§4.7).
        While the charger is offline, samples are skipped, not queued."""
        while connector.transaction is not None:
            await asyncio.sleep(self.meter_interval if self.meter_interval > 0 else 1.0)
            if self.meter_interval > 0 and self.accepted and connector.transaction is not None:
                await self._background("MeterValues", self.meter_values(connector.connector_id))


def _sampled_value(value: str, context: str, measurand: str, unit: str, phase: str | None):
    sample = {
        "value": value,
        "context": context,
        "format": "Raw",
        "measurand": measurand,
        "location": "Outlet",
        "unit": unit,
    }
    if phase is not None:
        sample["phase"] = phase
    return sample
