"""The simulated car behind a connector: what it draws, and its battery.

Pure code. A car without a battery model (``capacity_wh`` None) takes whatever the charger
offers up to ``max_current`` and is never full: the simulator's default, for tests. The fleet
(`fleet`) plugs in cars with a battery: they charge near their maximum up to about 80 % state
of charge, taper above it as lithium-ion batteries do, and stop drawing when full.
"""

from __future__ import annotations

import dataclasses
import math
import random

from .load import MIN_CURRENT

TAPER_FROM = 80.0  # % state of charge where the charging current starts to fall
EFFICIENCY = 0.92  # share of the energy drawn that ends up in the battery


@dataclasses.dataclass
class Car:
    """``max_current`` is per phase (None: no limit of its own); ``phases`` it can use."""

    max_current: float | None = None
    phases: int = 3
    capacity_wh: float | None = None
    soc: float = 50.0  # state of charge, %
    model: str = "car"

    def __post_init__(self) -> None:
        if self.phases not in (1, 2, 3):
            raise ValueError(f"car phases must be 1, 2 or 3: {self.phases!r}")
        if self.max_current is not None and self.max_current <= 0:
            raise ValueError(f"car max_current must be above 0: {self.max_current!r}")
        if self.capacity_wh is not None and self.capacity_wh <= 0:
            raise ValueError(f"car capacity_wh must be above 0: {self.capacity_wh!r}")
        if not 0 <= self.soc <= 100:
            raise ValueError(f"car soc must be from 0 to 100: {self.soc!r}")

    @property
    def full(self) -> bool:
        return self.capacity_wh is not None and self.soc >= 100.0

    def demand(self) -> float:
        """The current per phase the car takes now: its maximum up to TAPER_FROM, then falling
        linearly towards 0 at 100 % (never below 6 A while it charges), and 0 once full."""
        top = math.inf if self.max_current is None else self.max_current
        if self.capacity_wh is None or self.soc <= TAPER_FROM:
            return top
        if self.full:
            return 0.0
        tapered = (top if math.isfinite(top) else 32.0) * (100.0 - self.soc) / (100 - TAPER_FROM)
        return min(top, max(MIN_CURRENT, tapered))

    def charge(self, energy_wh: float) -> None:
        """``energy_wh`` drawn from the grid; the battery keeps EFFICIENCY of it."""
        if self.capacity_wh is not None and energy_wh > 0:
            self.soc = min(100.0, self.soc + energy_wh * EFFICIENCY / self.capacity_wh * 100.0)


# (model, battery kWh, phases, max A per phase): on-board chargers common in depots.
CATALOGUE = (
    ("compact 1-phase 7.4 kW", 40.0, 1, 32.0),
    ("compact 1-phase 3.7 kW", 30.0, 1, 16.0),
    ("saloon 3-phase 11 kW", 58.0, 3, 16.0),
    ("SUV 3-phase 22 kW", 77.0, 3, 32.0),
    ("van 3-phase 11 kW", 75.0, 3, 16.0),
)


def random_car(rng: random.Random) -> Car:
    """A car from CATALOGUE, arriving with 10-85 % state of charge."""
    model, capacity_kwh, phases, max_current = rng.choice(CATALOGUE)
    return Car(
        max_current=max_current,
        phases=phases,
        capacity_wh=capacity_kwh * 1000.0,
        soc=round(rng.uniform(10.0, 85.0), 1),
        model=model,
    )
