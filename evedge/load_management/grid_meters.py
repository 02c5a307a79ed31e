"""Grid meters: a circuit's measured total current, so that loads that are not ours (the
building, a heat pump) are subtracted from what the chargers may draw.

Readings come from a charger's MeterValues (source ``charger``), from the REST API
(``rest``) or from Modbus TCP polling (``modbus``, ``modbus.py``); all end in
``GridReadings.put``. Pure, with an explicit clock.

**The safe rule for a missing meter:** a circuit whose meter has no reading, or whose
last reading is older than ``max_age`` seconds (``grid_meter_max_age``), counts as fully
loaded by other loads: the sessions under it are queued (0 A) until the meter is heard
again. Trusting a dead meter forever, or ignoring it, would let the chargers take what
the building may be drawing; a dead meter is an operator's problem to see (the
allocation reports it), not a risk to the breaker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from .. import errors
from .site_model import PHASES, Circuit, SiteModel, Vector

OK, STALE, MISSING = "ok", "stale", "missing"


@dataclass(frozen=True)
class Reading:
    current_a: Vector  # per site phase
    at: float          # epoch seconds


class GridReadings:
    """The last reading per circuit, and whether it may still be trusted."""

    def __init__(self, max_age: float):
        self.max_age = max_age
        self._readings: dict[str, Reading] = {}

    def put(self, circuit_id: str, current_a: Vector, now: float) -> None:
        self._readings[circuit_id] = Reading(current_a, now)

    def last(self, circuit_id: str) -> Reading | None:
        return self._readings.get(circuit_id)

    def fresh(self, circuit_id: str, now: float) -> Reading | None:
        reading = self._readings.get(circuit_id)
        if reading is None or now - reading.at > self.max_age:
            return None
        return reading

    def status(self, circuit_id: str, now: float) -> str:
        if circuit_id not in self._readings:
            return MISSING
        return OK if self.fresh(circuit_id, now) is not None else STALE

    def describe(self, site: SiteModel, circuit_id: str, now: float) -> dict[str, Any] | None:
        """The circuit's meter as the allocation reports it, or None when it has none."""
        meter = next((m for m in site.grid_meters if m.circuit == circuit_id), None)
        if meter is None:
            return None
        reading = self._readings.get(circuit_id)
        return {"source": meter.source, "status": self.status(circuit_id, now),
                "reading_a": None if reading is None else list(reading.current_a),
                "age_s": None if reading is None else round(now - reading.at, 1)}


def other_loads(site: SiteModel, readings: GridReadings, ours: Mapping[str, Vector],
                now: float) -> dict[str, Vector]:
    """Per metered circuit: the meter's reading minus our chargers' measured draw there
    (never below 0); a circuit whose meter is silent counts as fully loaded."""
    loads: dict[str, Vector] = {}
    for meter in site.grid_meters:
        circuit = site.circuit(meter.circuit)
        reading = readings.fresh(meter.circuit, now)
        if reading is None:
            loads[meter.circuit] = full_load(circuit)
            continue
        mine = ours.get(meter.circuit, (0.0, 0.0, 0.0))
        loads[meter.circuit] = tuple(
            max(0.0, reading.current_a[phase] - mine[phase])
            if phase in circuit.site_phases else 0.0 for phase in range(3))
    return loads


def full_load(circuit: Circuit) -> Vector:
    """Other loads that fill every limit of the circuit (current and power) on its phases."""
    limits = [value for value in (circuit.power_limit_phase_a,) if value is not None]
    current = circuit.max_current_a
    values = []
    for phase in range(3):
        if phase not in circuit.site_phases:
            values.append(0.0)
            continue
        phase_limits = list(limits)
        if current is not None:
            phase_limits.append(current[phase] if isinstance(current, tuple) else current)
        values.append(float(max(phase_limits)))
    return (values[0], values[1], values[2])


def parse_reading(site: SiteModel, circuit_id: str, body: Any) -> Vector:
    """A reading PUT to the API: ``{"current_a": [L1, L2, L3]}``; BadRequest naming the
    field. A 1-phase circuit's reading has 0 on the phases it does not carry."""
    meter = next((m for m in site.grid_meters if m.circuit == circuit_id), None)
    if meter is None:
        raise errors.NotFound(f"circuit {circuit_id!r} has no grid meter in the site model")
    if meter.source != "rest":
        raise errors.Conflict(f"the grid meter of {circuit_id!r} reads from {meter.source!r}, "
                              f"not from the API (grid_meters source \"rest\")", field="source")
    if not isinstance(body, dict) or set(body) != {"current_a"}:
        unknown = sorted(set(body) - {"current_a"}) if isinstance(body, dict) else []
        field = unknown[0] if unknown else "current_a"
        raise errors.BadRequest(f"{field}: the body is {{\"current_a\": [L1, L2, L3]}} (A)",
                                field=field)
    values = body["current_a"]
    if not isinstance(values, list) or len(values) != 3:
        raise errors.BadRequest("current_a: must be an array of three currents [L1, L2, L3]",
                                field="current_a")
    circuit = site.circuit(circuit_id)
    for phase, value in enumerate(values):
        field = f"current_a[{phase}]"
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise errors.BadRequest(f"{field}: must be a number of amperes, not {value!r}",
                                    field=field)
        if value and phase not in circuit.site_phases:
            raise errors.BadRequest(f"{field}: circuit {circuit_id!r} does not carry "
                                    f"{PHASES[phase]} (it is on {circuit.phase}): send 0",
                                    field=field)
    return (float(values[0]), float(values[1]), float(values[2]))
