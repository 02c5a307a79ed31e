"""What a simulated charger does by itself in ``evedge simulate run``: drivers arrive and leave,
connectors fail and recover, the network drops.

`ChargerLife` runs, as tasks the charger owns, a driver loop per connector, a fault loop and a
network loop. Every wait is drawn from the charger's own seeded random generator (``--seed``)
and counted in simulated time (the charger's `clock.SimClock`), so ``--speed`` compresses a
day into minutes. What happened is counted in a `FleetStats`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
import random
from typing import Callable

from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus, Reason

from .clock import utc_now
from .ev import random_car

# §7.6 ChargePointErrorCode values an idle connector plausibly reports.
FAULT_CODES = (
    ChargePointErrorCode.ground_failure,
    ChargePointErrorCode.high_temperature,
    ChargePointErrorCode.over_voltage,
    ChargePointErrorCode.under_voltage,
    ChargePointErrorCode.reader_failure,
    ChargePointErrorCode.power_switch_failure,
    ChargePointErrorCode.connector_lock_failure,
    ChargePointErrorCode.other_error,
)
CHECK_STEP = 60.0  # simulated s between a driver's looks at the car
LEAVE_AFTER_FULL = (5 * 60.0, 20 * 60.0)  # simulated s a driver takes to notice a full car


@dataclasses.dataclass(frozen=True)
class FleetOptions:
    """How lively the fleet is. Rates are per simulated hour: sessions per idle connector,
    faults and connection drops per charger. Durations are means, in simulated minutes."""

    session_rate: float = 4.0
    fault_rate: float = 1.0
    reconnect_rate: float = 1.0
    dwell_minutes: float = 30.0  # how long a driver stays plugged in
    fault_minutes: float = 5.0  # how long a fault lasts
    reboot_share: float = 0.3  # share of connection drops that are reboots (BootNotification)
    id_tags: tuple[str, ...] = ("SIM-TAG",)
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("session_rate", "fault_rate", "reconnect_rate"):
            _check_number(name, getattr(self, name), minimum=0.0)
        for name in ("dwell_minutes", "fault_minutes"):
            _check_number(name, getattr(self, name), minimum=0.0, inclusive=False)
        _check_number("reboot_share", self.reboot_share, minimum=0.0)
        if self.reboot_share > 1:
            raise ValueError(f"reboot_share must be from 0 to 1: {self.reboot_share!r}")
        tags = self.id_tags
        if not tags or not all(isinstance(t, str) and 0 < len(t) <= 20 for t in tags):
            raise ValueError(f"id_tags must be 1-20 character id tags (CiString20): {tags!r}")


def _check_number(name: str, value, *, minimum: float, inclusive: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= minimum if inclusive else value > minimum)
    if not ok:
        bound = f">= {minimum:g}" if inclusive else f"above {minimum:g}"
        raise ValueError(f"{name} must be a number {bound}: {value!r}")


@dataclasses.dataclass
class FleetStats:
    """What the fleet's chargers did, as the Central System acknowledged it."""

    sessions_started: int = 0
    sessions_stopped: int = 0  # ended by the driver (EVDisconnected) and answered
    sessions_refused: int = 0  # the tag was refused, or the link dropped while starting
    faults: list[tuple[str, int, str]] = dataclasses.field(default_factory=list)
    recoveries: int = 0
    reconnects: list[tuple[str, dt.datetime, bool]] = dataclasses.field(default_factory=list)
    _waiters: list[tuple[Callable, asyncio.Future]] = dataclasses.field(
        default_factory=list, repr=False
    )

    def changed(self) -> None:
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(self):
                future.set_result(None)

    async def wait_until(self, predicate: Callable[[FleetStats], bool], timeout: float) -> None:
        """Wait until ``predicate(stats)`` holds; asyncio.TimeoutError after ``timeout`` s."""
        if predicate(self):
            return
        waiter = (predicate, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter[1], timeout)
        except asyncio.TimeoutError:
            raise asyncio.TimeoutError(f"fleet: not there within {timeout}s: {self.summary()}")
        finally:
            self._waiters.remove(waiter)

    def summary(self) -> str:
        boots = sum(1 for *_, reboot in self.reconnects if reboot)
        return (
            f"{self.sessions_started} sessions started, {self.sessions_stopped} ended by the "
            f"driver, {self.sessions_refused} refused, {len(self.faults)} faults "
            f"({self.recoveries} recovered), {len(self.reconnects)} reconnects ({boots} reboots)"
        )


class ChargerLife:
    """The loops that make one `SimulatedCharger` behave like one in a busy depot."""

    def __init__(self, charger, options: FleetOptions, stats: FleetStats, rng: random.Random):
        self.charger = charger
        self.options = options
        self.stats = stats
        self.rng = rng
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        """Start the loops, as tasks the charger owns (its failures are its protocol errors)."""
        loops = []
        if self.options.session_rate > 0:
            loops += [self._driver(c) for c in self.charger._outlets()]
        if self.options.fault_rate > 0:
            loops.append(self._faults())
        if self.options.reconnect_rate > 0:
            loops.append(self._network())
        for loop in loops:
            task = self.charger._spawn(loop, f"life-{loop.__name__}")
            if task is not None:
                self._tasks.append(task)

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- waits -----------------------------------------------------------------------------

    def _wait_for_rate(self, per_hour: float) -> float:
        """Simulated seconds until the next event of a Poisson process."""
        return self.rng.expovariate(per_hour / 3600.0)

    async def _pause(self, simulated_seconds: float) -> bool:
        """Sleep; False when the life is over."""
        real = self.charger.clock.real(simulated_seconds)
        try:
            await asyncio.wait_for(self._stop.wait(), real)
        except asyncio.TimeoutError:
            return True
        return False

    # ---- drivers ---------------------------------------------------------------------------

    async def _driver(self, connector) -> None:
        """A driver arrives now and then; one who finds the connector taken, faulted or the
        charger offline drives on."""
        while await self._pause(self._wait_for_rate(self.options.session_rate)):
            free = connector.status == ChargePointStatus.available and not connector.busy
            if self.charger.accepted and free:
                await self._session(connector)

    async def _session(self, connector) -> None:
        """A driver plugs in a car, charges until the car is full or the driver leaves, and
        unplugs (StopTransaction reason EVDisconnected, §7.40)."""
        charger, number = self.charger, connector.connector_id
        car = random_car(self.rng)
        dwell = self.rng.expovariate(1.0 / (self.options.dwell_minutes * 60.0))
        connector.car = car
        if not await charger.start_charging(number, self.rng.choice(self.options.id_tags)):
            if connector.transaction is None:
                connector.car = None
            self.stats.sessions_refused += 1
            self.stats.changed()
            return
        transaction = connector.transaction
        self.stats.sessions_started += 1
        self.stats.changed()
        leave_at = charger.clock.now() + max(dwell, 60.0)
        noticed_full = False
        while connector.transaction is transaction:
            now = charger.clock.now()
            if car.full and not noticed_full:
                noticed_full = True
                leave_at = min(leave_at, now + self.rng.uniform(*LEAVE_AFTER_FULL))
            if now >= leave_at:
                break
            if not await self._pause(min(leave_at - now, CHECK_STEP)):
                return
        if connector.transaction is transaction:
            if await charger.stop_charging(number, Reason.ev_disconnected):
                self.stats.sessions_stopped += 1
                self.stats.changed()

    # ---- faults ----------------------------------------------------------------------------

    async def _faults(self) -> None:
        while await self._pause(self._wait_for_rate(self.options.fault_rate)):
            idle = [
                c
                for c in self.charger._outlets()
                if not c.busy and c.status == ChargePointStatus.available
            ]
            if not idle or not self.charger.accepted:
                continue
            connector, code = self.rng.choice(idle), self.rng.choice(FAULT_CODES)
            if not await self.charger.fault(connector.connector_id, code):
                continue
            self.stats.faults.append((self.charger.id, connector.connector_id, code))
            self.stats.changed()
            lasts = self.rng.expovariate(1.0 / (self.options.fault_minutes * 60.0))
            if not await self._pause(lasts):
                return
            if await self.charger.recover(connector.connector_id):
                self.stats.recoveries += 1
                self.stats.changed()

    # ---- the network -----------------------------------------------------------------------

    async def _network(self) -> None:
        while await self._pause(self._wait_for_rate(self.options.reconnect_rate)):
            if not self.charger.accepted:
                continue
            reboot = self.rng.random() < self.options.reboot_share
            dropped_at = utc_now()
            await self.charger.drop_connection(reboot=reboot)
            back = asyncio.ensure_future(self.charger.wait_online())
            over = asyncio.ensure_future(self._stop.wait())
            try:
                await asyncio.wait({back, over}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                back.cancel()
                over.cancel()
            if not self.charger.accepted:
                return
            self.stats.reconnects.append((self.charger.id, dropped_at, reboot))
            self.stats.changed()
