"""The current a simulated car draws: it follows what the charger allows, like a real one.

Pure code with an explicit clock (seconds from any origin): no I/O and no asyncio, so the rules
can be tested directly. Three rules shape the current:

* the charger signals an allowed current per phase (IEC 61851-1 PWM); the car follows a new value
  only after a *reaction delay* (real chargers and cars take seconds), lowered or raised alike;
* a raised current ramps up at ``ramp_rate`` A/s; a lowered one drops at once when it applies;
* 6 A is the lowest current IEC 61851-1 lets a charger signal: the car draws at least 6 A or
  pauses at 0 A (SuspendedEVSE when the charger holds it below 6 A, SuspendedEV when the car
  itself wants less, e.g. when it is full).

`share_current` splits a ChargePointMaxProfile's limit between the connectors of one charge
point (§3.13.1: that purpose limits the charge point as a whole). `grid_currents` maps a
connector's phases to the grid's L1/L2/L3 through the ConnectorPhaseRotation (§9.1.7).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from typing import Hashable, Iterable

MIN_CURRENT = 6.0  # A: IEC 61851-1's lowest PWM current; below it the car pauses
_EPSILON = 1e-9

# §9.1.7 ConnectorPhaseRotation: the grid phases (R = L1, S = L2, T = L3) that the connector's
# L1, L2 and L3 are wired to.
PHASE_ROTATIONS = ("RST", "RTS", "SRT", "STR", "TRS", "TSR")
_GRID_INDEX = {"R": 0, "S": 1, "T": 2}


def check_phase_rotation(value: str) -> str:
    """The rotation in capitals; ValueError naming the option for anything else."""
    text = value.strip().upper() if isinstance(value, str) else value
    if text not in PHASE_ROTATIONS:
        raise ValueError(f"phase_rotation must be one of {', '.join(PHASE_ROTATIONS)}: {value!r}")
    return text


def grid_currents(amps: float, phases: int, rotation: str) -> tuple[float, float, float]:
    """Per-phase current on the grid's (L1, L2, L3) of a connector drawing ``amps`` on its first
    ``phases`` phases. A one-phase connector draws on the grid phase its L1 is wired to."""
    currents = [0.0, 0.0, 0.0]
    for letter in rotation[:phases]:
        currents[_GRID_INDEX[letter]] += amps
    return currents[0], currents[1], currents[2]


def wired_phases(phases: int, rotation: str) -> list[int]:
    """Indexes (0 = L1) of the grid phases a charger with ``phases`` phases is wired to."""
    return sorted(_GRID_INDEX[letter] for letter in rotation[:phases])


@dataclasses.dataclass(frozen=True)
class Setpoint:
    """What the charger allows a connector's car, per phase: ``evse`` is the charger's side
    (hardware, charging profiles, its share of the charge point), ``ev`` what the car takes."""

    evse: float
    ev: float = math.inf
    phases: int = 3

    @property
    def allowed(self) -> float:
        return min(self.evse, self.ev)

    @property
    def paused_by(self) -> str | None:
        """"EVSE" or "EV" when that side holds the car below 6 A, else None (charging)."""
        if self.evse < MIN_CURRENT:
            return "EVSE"
        if self.ev < MIN_CURRENT:
            return "EV"
        return None

    def same_as(self, other: Setpoint) -> bool:
        return (
            self.phases == other.phases
            and _close(self.evse, other.evse)
            and _close(self.ev, other.ev)
        )


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-6


class CurrentFollower:
    """The current one car draws over time (see the module docstring).

    ``command(t, setpoint)`` tells it what the charger allows from time ``t``; the setpoint
    applies at ``t + reaction_delay``. ``advance(t)`` moves the model to time ``t`` and adds up
    ``phase_amp_seconds`` (the integral of current x phases), from which the meter derives energy.
    The first setpoint, given to the constructor, applies at once: the car is already talking to
    the charger while the session starts, and then ramps up from 6 A. ``ramp_rate`` None means
    the car jumps to a raised current without a ramp.
    """

    def __init__(
        self,
        now: float,
        setpoint: Setpoint,
        *,
        reaction_delay: float = 5.0,
        ramp_rate: float | None = 5.0,
    ):
        if reaction_delay < 0:
            raise ValueError(f"reaction_delay must be at least 0: {reaction_delay!r}")
        if ramp_rate is not None and ramp_rate <= 0:
            raise ValueError(f"ramp_rate must be above 0: {ramp_rate!r}")
        self.reaction_delay = float(reaction_delay)
        self.ramp_rate = ramp_rate
        self.started_at = now
        self.time = now
        self.phase_amp_seconds = 0.0
        self._drained = 0.0
        self.commanded = setpoint  # the newest setpoint, in force or not yet
        self.target = setpoint  # the setpoint in force
        self._pending: list[tuple[float, Setpoint]] = []  # (applies at, setpoint), in time order
        self._segment_start, self._start_amps, self._goal = now, 0.0, 0.0
        self._apply(now, setpoint, 0.0)

    # ---- inputs ----------------------------------------------------------------------------

    def command(self, t: float, setpoint: Setpoint) -> None:
        """The charger allows ``setpoint`` from ``t`` on; the car follows it after the delay."""
        self.advance(t)
        if setpoint.same_as(self.commanded):
            return
        self.commanded = setpoint
        applies_at = max(t, self.time) + self.reaction_delay
        bisect.insort(self._pending, (applies_at, setpoint), key=lambda item: item[0])
        self.advance(t)  # a zero delay applies at once

    def advance(self, t: float) -> None:
        """Move to time ``t`` (earlier times are ignored), applying setpoints that came due."""
        while self._pending and self._pending[0][0] <= t:
            applies_at, setpoint = self._pending.pop(0)
            self._integrate(applies_at)
            self._apply(applies_at, setpoint, self._amps_at(applies_at))
        self._integrate(t)

    # ---- outputs ---------------------------------------------------------------------------

    def drain(self) -> float:
        """The phase_amp_seconds added since the last drain (the meter takes them)."""
        added, self._drained = self.phase_amp_seconds - self._drained, self.phase_amp_seconds
        return added

    @property
    def amps(self) -> float:
        """The current per phase the car draws at ``time``."""
        return self._amps_at(self.time)

    @property
    def phases(self) -> int:
        return self.target.phases

    @property
    def paused_by(self) -> str | None:
        return self.target.paused_by

    @property
    def ramping(self) -> bool:
        return self.amps < self._goal - _EPSILON

    def next_change(self) -> float | None:
        """When the drawn current next changes by itself (a setpoint applies, a ramp ends), or
        None when it stays as it is until the next command."""
        moments = [self._pending[0][0]] if self._pending else []
        if self.ramping and self.ramp_rate is not None:
            moments.append(self._ramp_end())
        return min(moments) if moments else None

    # ---- the model -------------------------------------------------------------------------

    def _apply(self, t: float, setpoint: Setpoint, amps_now: float) -> None:
        """A setpoint comes into force at ``t`` while the car draws ``amps_now``."""
        self.target = setpoint
        goal = setpoint.allowed if setpoint.paused_by is None else 0.0
        self._segment_start, self._goal = t, goal
        if goal <= amps_now or self.ramp_rate is None:
            self._start_amps = goal  # a lower current applies at once
        else:
            self._start_amps = max(amps_now, MIN_CURRENT)  # a paused car restarts at 6 A

    def _ramp_end(self) -> float:
        return self._segment_start + (self._goal - self._start_amps) / self.ramp_rate

    def _amps_at(self, t: float) -> float:
        if self.ramp_rate is None or self._start_amps >= self._goal:
            return self._start_amps
        return min(self._goal, self._start_amps + self.ramp_rate * (t - self._segment_start))

    def _integrate(self, t: float) -> None:
        """Add the current x phases from ``time`` to ``t`` (exact: ramps are linear)."""
        if t <= self.time:
            return
        begin, self.time = self.time, t
        area = 0.0
        if self.ramp_rate is not None and self._start_amps < self._goal:
            ramp_end = min(t, max(begin, self._ramp_end()))
            if ramp_end > begin:  # trapezoid under the ramp
                area += (self._amps_at(begin) + self._amps_at(ramp_end)) / 2 * (ramp_end - begin)
                begin = ramp_end
        area += self._amps_at(begin) * (t - begin)
        self.phase_amp_seconds += area * self.target.phases


def share_current(
    cap: float | None, wants: dict[Hashable, float], priority: Iterable[Hashable]
) -> dict[Hashable, float]:
    """What each connector may be offered when together they may draw ``cap`` A per phase.

    ``wants`` is what each connector would draw unconstrained. The cap is shared fairly (water
    filling: no connector gets more than it wants, the others split the rest equally). Because a
    car cannot draw less than 6 A, connectors that would get less are switched off one by one,
    last in ``priority`` first, until the others reach 6 A; a single connector keeps a share
    below 6 A (and pauses). Connectors that want less than 6 A draw nothing and take no share.
    """
    if cap is None:
        return {key: math.inf for key in wants}
    order = [key for key in priority if key in wants]
    order += [key for key in wants if key not in order]
    served = [key for key in order if wants[key] >= MIN_CURRENT]
    offers = {key: max(0.0, cap) for key in wants}
    while served:
        level = _water_level(max(0.0, cap), [wants[key] for key in served])
        if level >= MIN_CURRENT or len(served) == 1:
            for key in served:
                offers[key] = level
            break
        offers[served.pop()] = 0.0
    return offers


def _water_level(cap: float, wants: list[float]) -> float:
    """The level L with sum(min(want, L)) == cap, or infinity when every want fits."""
    remaining, left = cap, len(wants)
    for want in sorted(wants):
        if want * left > remaining:
            return remaining / left
        remaining -= want
        left -= 1
    return math.inf
