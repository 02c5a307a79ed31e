"""Sharing the site's capacity among the charging sessions: ``allocate`` and ``what_if``.

Pure functions of their arguments (no clock, no I/O), deterministic, and independent of
the order the sessions and fixed loads are given in. The guarantees are listed in
docs/load-management.md; in short: the site's limits are never exceeded, a session runs
between its minimum and its maximum or is queued at 0 A, higher priorities first, equal
shares within a priority (max-min fair), and a queued session is the next to get power.

Currents are handled in whole micro-amperes (loads rounded up, limits rounded down) and
allocations in units of 0.1 A, so every safety sum is exact integer arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .. import errors
from . import waterfill
from .site_model import PHASES, ChargerAssignment, Circuit, SiteModel, Vector, parse_charger
from .units import MICRO, UNIT, micro_up, units_down, units_up

CHARGING = "charging"
QUEUED = "queued"
MAX_WHAT_IF_SESSIONS = 1000
WHAT_IF_PREFIX = "what-if"

Managed = list[tuple["SessionDemand", ChargerAssignment]]  # in service order


# --- inputs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SessionDemand:
    """A charging session the allocator may steer.

    ``priority`` is already combined by the caller (``SiteModel.session_priority``);
    ``queue_key`` is any sortable value, earlier first (e.g. the start time).
    ``demand_a`` caps the session below its charger's maximum (what the car draws); a
    cap below the charger's minimum leaves the session at its minimum, since no
    charging profile can offer less without stopping the charge (IEC 61851).
    """

    charger_id: str
    connector_id: int
    transaction_id: int
    priority: int = 0
    queue_key: Any = 0
    demand_a: float | None = None

    def __post_init__(self):
        if self.demand_a is not None and not (math.isfinite(self.demand_a)
                                              and self.demand_a >= 0):
            raise ValueError(f"demand_a of transaction {self.transaction_id} must be a "
                             f"finite number >= 0, not {self.demand_a!r}")

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.charger_id, self.connector_id, self.transaction_id)


@dataclass(frozen=True)
class FixedLoad:
    """A draw the allocator cannot steer, counted on every circuit of its charger's path.

    ``current_a`` is one value for every phase of the charger or (L1, L2, L3) of the
    charger, which its phase rotation maps onto the site's phases. Connector None (or 0)
    is the charger as a whole.
    """

    charger_id: str
    connector_id: int | None
    current_a: float | Vector

    def __post_init__(self):
        values = self.current_a if isinstance(self.current_a, tuple) else (self.current_a,)
        if len(values) not in (1, 3) or not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(f"current_a of the fixed load on {self.charger_id} must be a "
                             f"number >= 0 or three of them, not {self.current_a!r}")


@dataclass(frozen=True)
class ChargerTemplate:
    """The charger ``what_if`` adds: None takes the circuit's value (its phases, and the
    rotation that starts on its phase)."""

    min_current_a: float = 6
    max_current_a: float = 32
    phases: int | None = None
    phase_rotation: str | None = None
    priority: int = 0


# --- results -----------------------------------------------------------------------------

@dataclass(frozen=True)
class SessionAllocation:
    charger_id: str
    connector_id: int
    transaction_id: int
    circuit: str
    state: str                 # CHARGING or QUEUED
    current_a: float           # per phase of the charger: the charging profile's limit
    allocated_a: Vector        # per site phase (L1, L2, L3)
    number_phases: int
    priority: int
    hypothetical: bool = False  # added by what_if

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.charger_id, self.connector_id, self.transaction_id)

    def as_json(self, extras: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = {"charger_id": self.charger_id, "connector_id": self.connector_id,
                "transaction_id": self.transaction_id, "circuit": self.circuit,
                "state": self.state, "allocated_a": list(self.allocated_a)}
        if self.hypothetical:
            body["hypothetical"] = True
        body.update(extras or {})
        return body


@dataclass(frozen=True)
class CircuitAllocation:
    id: str
    limit_a: Vector            # current limit after margin (P / V where only power limits)
    allocated_a: Vector        # sessions + fixed + other loads
    headroom_a: Vector         # what one more draw on this phase could take, up to the root
    overcommitted: bool        # fixed + other loads alone exceed a limit of this circuit
    fixed_a: Vector
    other_a: Vector
    limit_kw: float | None
    allocated_kw: float

    def as_json(self, extras: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = {"id": self.id, "limit_a": list(self.limit_a),
                "allocated_a": list(self.allocated_a), "measured_a": None,
                "headroom_a": list(self.headroom_a), "overcommitted": self.overcommitted,
                "fixed_a": list(self.fixed_a), "other_a": list(self.other_a),
                "limit_kw": self.limit_kw, "allocated_kw": self.allocated_kw}
        body.update(extras or {})
        return body


@dataclass(frozen=True)
class Allocation:
    circuits: tuple[CircuitAllocation, ...]        # in the site model's order
    sessions: tuple[SessionAllocation, ...]        # in service order: priority, then queue
    unmanaged_sessions: tuple[SessionDemand, ...] = ()  # their charger is not in the model
    unmanaged_loads: tuple[FixedLoad, ...] = ()
    _by_key: dict | None = field(default=None, init=False, repr=False, compare=False)

    def session(self, charger_id: str, connector_id: int,
                transaction_id: int) -> SessionAllocation:
        if self._by_key is None:
            object.__setattr__(self, "_by_key", {s.key: s for s in self.sessions})
        return self._by_key[(charger_id, connector_id, transaction_id)]

    def circuit(self, circuit_id: str) -> CircuitAllocation:
        return next(circuit for circuit in self.circuits if circuit.id == circuit_id)

    def as_json(self, session_extras: Mapping[tuple[str, int, int], Mapping] | None = None,
                circuit_extras: Mapping[str, Mapping] | None = None) -> dict[str, Any]:
        """The API's shape; extras (e.g. measured_a, profile_status) are merged in by key:
        ``(charger_id, connector_id, transaction_id)`` for sessions, the id for circuits."""
        session_extras, circuit_extras = session_extras or {}, circuit_extras or {}
        unmanaged = [{"charger_id": s.charger_id, "connector_id": s.connector_id,
                      "transaction_id": s.transaction_id} for s in self.unmanaged_sessions]
        unmanaged += [{"charger_id": load.charger_id, "connector_id": load.connector_id,
                       "transaction_id": None} for load in self.unmanaged_loads]
        return {"circuits": [c.as_json(circuit_extras.get(c.id)) for c in self.circuits],
                "sessions": [s.as_json(session_extras.get(s.key)) for s in self.sessions],
                "unmanaged": unmanaged}


# --- allocate ----------------------------------------------------------------------------

def allocate(site: SiteModel, sessions: Iterable[SessionDemand], fixed: Iterable[FixedLoad],
             other_loads: Mapping[str, Vector] | None = None) -> Allocation:
    """Share the site's capacity among ``sessions`` after ``fixed`` and ``other_loads``.

    ``other_loads`` maps a circuit id to the measured current per site phase of what is
    not ours (grid meter minus our chargers). It counts on that circuit and, as the
    least its ancestors carry, on them; a negative reading (meter noise) counts as 0.
    Sessions and fixed loads on chargers the model does not know are listed in the
    result as unmanaged. ValueError for a session given twice or a bad reading.
    """
    sessions = tuple(sessions)
    _refuse_duplicates(sessions)
    base = _Base(site, fixed, other_loads or {})
    capacity = [cap // UNIT for cap in base.row_capacity_micro]
    claims, managed, unmanaged = _claims(site, sessions)
    used = waterfill.admit(claims, capacity, [limit // UNIT for limit in base.row_limit_micro])
    waterfill.fill(claims, capacity, used)
    return Allocation(_circuit_results(site, base, claims, managed),
                      _session_results(claims, managed),
                      tuple(sorted(unmanaged, key=_service_key)),
                      tuple(sorted(base.unmanaged, key=_fixed_key)))


def _refuse_duplicates(sessions: tuple[SessionDemand, ...]) -> None:
    keys = set()
    for session in sessions:
        if session.key in keys:
            raise ValueError(f"session {session.key} is given twice")
        keys.add(session.key)


def _service_key(session: SessionDemand) -> tuple:
    """Higher priority first, then queue order; ties by charger, connector, transaction."""
    return (-session.priority, session.queue_key, session.charger_id, session.connector_id,
            session.transaction_id)


def _fixed_key(load: FixedLoad) -> tuple:
    current = load.current_a if isinstance(load.current_a, tuple) else (load.current_a,)
    return (load.charger_id, load.connector_id or 0, current)


def _claims(site: SiteModel, sessions: tuple[SessionDemand, ...]
            ) -> tuple[list[waterfill.Claim], Managed, list[SessionDemand]]:
    """The sessions in service order as waterfill claims, with their assignments; and
    the sessions whose charger the model does not know."""
    managed, unmanaged = [], []
    for session in sessions:
        assignment = site.assignment(session.charger_id, session.connector_id)
        if assignment is None:
            unmanaged.append(session)
        else:
            managed.append((session, assignment))
    managed.sort(key=lambda pair: _service_key(pair[0]))
    claims = []
    for order, (session, assignment) in enumerate(managed):
        low = units_up(assignment.min_current_a)
        cap = assignment.max_current_a
        if session.demand_a is not None:
            cap = min(cap, session.demand_a)
        claims.append(waterfill.Claim(order, session.priority, site.constraint_terms(assignment),
                                      low, units_down(cap)))
    return claims, managed, unmanaged


# --- the loads the allocator cannot steer ------------------------------------------------

class _Base:
    """Fixed and other loads per circuit (micro-amperes per site phase), and what that
    leaves of every constraint row."""

    def __init__(self, site: SiteModel, fixed: Iterable[FixedLoad],
                 other_loads: Mapping[str, Vector]):
        self.site = site
        self.unmanaged: list[FixedLoad] = []
        self.fixed = self._fixed(fixed)
        self.other = self._other(other_loads)
        self.row_limit_micro = [site.circuit(row.circuit).limit_micro(row.phase)
                                for row in site.constraints]
        self.row_base_micro = [self.on_row(row.circuit, row.phase) for row in site.constraints]
        self.row_capacity_micro = [limit - load for limit, load
                                   in zip(self.row_limit_micro, self.row_base_micro)]

    def on_row(self, circuit_id: str, phase: int | None) -> int:
        loads = [a + b for a, b in zip(self.fixed[circuit_id], self.other[circuit_id])]
        return sum(loads) if phase is None else loads[phase]

    def _fixed(self, fixed: Iterable[FixedLoad]) -> dict[str, list[int]]:
        totals = {circuit.id: [0, 0, 0] for circuit in self.site.circuits}
        for load in fixed:
            assignment = self.site.assignment(load.charger_id, load.connector_id)
            if assignment is None:
                self.unmanaged.append(load)
                continue
            vector = _site_vector_micro(assignment, load.current_a)
            for circuit in self.site.path(assignment.circuit):
                total = totals[circuit.id]
                for phase in range(3):
                    total[phase] += vector[phase]
        return totals

    def _other(self, other_loads: Mapping[str, Vector]) -> dict[str, list[int]]:
        """Each circuit carries at least its children's other loads: the larger of its own
        reading and their sum (a meter upstream already includes those downstream)."""
        own = {circuit.id: [0, 0, 0] for circuit in self.site.circuits}
        for circuit_id, reading in other_loads.items():
            own[circuit_id] = _other_reading_micro(self.site, circuit_id, reading)
        effective: dict[str, list[int]] = {}
        for circuit in _children_first(self.site):
            below = [0, 0, 0]
            for child in self.site.children(circuit.id):
                below = [a + b for a, b in zip(below, effective[child.id])]
            effective[circuit.id] = [max(a, b) for a, b in zip(own[circuit.id], below)]
        return effective


def _children_first(site: SiteModel) -> list[Circuit]:
    """The circuits with every child before its parent (deepest first)."""
    order: list[Circuit] = []
    level = [circuit for circuit in site.circuits if circuit.parent is None]
    while level:
        order.extend(level)
        level = [child for circuit in level for child in site.children(circuit.id)]
    return order[::-1]


def _other_reading_micro(site: SiteModel, circuit_id: str, reading: Vector) -> list[int]:
    if not site.has_circuit(circuit_id):
        raise ValueError(f"other_loads names circuit {circuit_id!r}, which is not in the model")
    if len(reading) != 3 or not all(math.isfinite(value) for value in reading):
        raise ValueError(f"other_loads[{circuit_id!r}] must be three finite currents "
                         f"(L1, L2, L3), not {reading!r}")
    carried = site.circuit(circuit_id).site_phases
    for phase, value in enumerate(reading):
        if value > 0 and phase not in carried:
            raise ValueError(f"other_loads[{circuit_id!r}] has {value} A on {PHASES[phase]}, "
                             f"a phase the circuit does not carry")
    return [micro_up(max(value, 0)) for value in reading]


def _site_vector_micro(assignment: ChargerAssignment, current: float | Vector) -> list[int]:
    """A charger's draw per its own phase, mapped onto the site's phases (rotation)."""
    values = current if isinstance(current, tuple) else (current,) * assignment.phases
    vector = [0, 0, 0]
    if assignment.phases == 1:
        # A 1-phase charger has one live wire: whatever it reports counts there.
        vector[assignment.site_phases[0]] = sum(micro_up(value) for value in values)
        return vector
    for site_phase, value in zip(assignment.site_phases, values):
        vector[site_phase] += micro_up(value)
    return vector


# --- results -----------------------------------------------------------------------------

def _session_results(claims: list[waterfill.Claim], managed: Managed
                     ) -> tuple[SessionAllocation, ...]:
    results = []
    for claim, (session, assignment) in zip(claims, managed):
        current = claim.units / 10 if claim.admitted else 0.0
        vector = tuple(current * loaded for loaded in assignment.phase_vector)
        results.append(SessionAllocation(
            session.charger_id, session.connector_id, session.transaction_id,
            assignment.circuit, CHARGING if claim.admitted else QUEUED, current, vector,
            assignment.phases, session.priority,
            isinstance(session.queue_key, _AfterEveryone)))
    return tuple(results)


def _circuit_results(site: SiteModel, base: _Base, claims: list[waterfill.Claim],
                     managed: Managed) -> tuple[CircuitAllocation, ...]:
    session_micro = {circuit.id: [0, 0, 0] for circuit in site.circuits}
    for claim, (_, assignment) in zip(claims, managed):
        if not claim.admitted:
            continue
        draw = claim.units * UNIT
        for circuit in site.path(assignment.circuit):
            total = session_micro[circuit.id]
            for phase in assignment.site_phases:
                total[phase] += draw
    total_micro = {circuit.id: [s + f + o for s, f, o in zip(
        session_micro[circuit.id], base.fixed[circuit.id], base.other[circuit.id])]
        for circuit in site.circuits}
    slack = _row_slack_micro(site, base, total_micro)
    return tuple(_circuit_result(site, circuit, base, total_micro[circuit.id], slack)
                 for circuit in site.circuits)


def _row_slack_micro(site: SiteModel, base: _Base, total_micro: dict[str, list[int]]
                     ) -> list[int]:
    """What is left of every constraint row after everything allocated and measured."""
    slack = []
    for index, row in enumerate(site.constraints):
        drawn = total_micro[row.circuit]
        used = sum(drawn) if row.phase is None else drawn[row.phase]
        slack.append(base.row_limit_micro[index] - used)
    return slack


def _circuit_result(site: SiteModel, circuit: Circuit, base: _Base, total: list[int],
                    slack: list[int]) -> CircuitAllocation:
    rows = site.circuit_constraints(circuit.id)
    overcommitted = any(base.row_capacity_micro[row] < 0 for row in rows)
    limits = circuit.current_limits_a
    if circuit.max_current_a is None:
        limits = tuple(circuit.power_limit_phase_a if phase in circuit.site_phases else 0.0
                       for phase in range(3))
    allocated = tuple(value / MICRO for value in total)
    return CircuitAllocation(
        circuit.id, tuple(float(limit) for limit in limits), allocated,
        _headroom(site, circuit, slack), overcommitted,
        tuple(value / MICRO for value in base.fixed[circuit.id]),
        tuple(value / MICRO for value in base.other[circuit.id]),
        circuit.max_power_kw, round(circuit.voltage_v * sum(allocated) / 1000, 3))


def _headroom(site: SiteModel, circuit: Circuit, slack: list[int]) -> Vector:
    """Per phase: the most one more draw there could take, on this circuit and above."""
    headroom = [0.0, 0.0, 0.0]
    for phase in circuit.site_phases:
        rows = site.path_constraints(circuit.id, phase)
        headroom[phase] = max(0, min(slack[row] for row in rows)) / MICRO
    return tuple(headroom)


# --- what if -----------------------------------------------------------------------------

class _AfterEveryone:
    """A queue key later than any other (and ordered among its kind by ``n``)."""

    __slots__ = ("n",)

    def __init__(self, n: int):
        self.n = n

    def __lt__(self, other: Any) -> bool:
        return isinstance(other, _AfterEveryone) and self.n < other.n

    def __gt__(self, other: Any) -> bool:
        return not isinstance(other, _AfterEveryone) or self.n > other.n

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _AfterEveryone) and self.n == other.n

    def __hash__(self) -> int:
        return hash(("after-everyone", self.n))


def what_if(site: SiteModel, sessions: Iterable[SessionDemand], fixed: Iterable[FixedLoad],
            other_loads: Mapping[str, Vector] | None, circuit_id: str, extra_sessions: int,
            template: ChargerTemplate = ChargerTemplate()) -> Allocation:
    """The allocation if ``extra_sessions`` more sessions started on ``circuit_id`` now,
    each on a charger like ``template``, queued behind everyone of their priority.

    The extra sessions are in the result marked ``hypothetical``; raises
    ``errors.BadRequest`` for an unknown circuit, a bad count or a bad template.
    """
    if not isinstance(circuit_id, str) or not site.has_circuit(circuit_id):
        raise errors.BadRequest(f"circuit: circuit {circuit_id!r} does not exist",
                                field="circuit")
    if isinstance(extra_sessions, bool) or not isinstance(extra_sessions, int) \
            or not 0 <= extra_sessions <= MAX_WHAT_IF_SESSIONS:
        raise errors.BadRequest(f"extra_sessions: must be an integer from 0 to "
                                f"{MAX_WHAT_IF_SESSIONS}, not {extra_sessions!r}",
                                field="extra_sessions")
    chargers = _template_chargers(site, circuit_id, extra_sessions, template)
    bigger = SiteModel(site.circuits, site.chargers + chargers, site.tag_priorities,
                       site.grid_meters)
    extra = [SessionDemand(charger.charger_id, 1, -n, template.priority, _AfterEveryone(n))
             for n, charger in enumerate(chargers, start=1)]
    return allocate(bigger, list(sessions) + extra, fixed, other_loads)


def _template_chargers(site: SiteModel, circuit_id: str, count: int,
                       template: ChargerTemplate) -> tuple[ChargerAssignment, ...]:
    taken = {charger.charger_id for charger in site.chargers}
    prefix = WHAT_IF_PREFIX
    while any(f"{prefix}-{n}" in taken for n in range(1, count + 1)):
        prefix += "'"
    entry = {"charger_id": prefix, "circuit": circuit_id, "priority": template.priority,
             "min_current_a": template.min_current_a, "max_current_a": template.max_current_a}
    if template.phases is not None:
        entry["phases"] = template.phases
    if template.phase_rotation is not None:
        entry["phase_rotation"] = template.phase_rotation
    model = parse_charger(entry, "template", {circuit.id: circuit for circuit in site.circuits})
    return tuple(ChargerAssignment(f"{prefix}-{n}", None, circuit_id, model.min_current_a,
                                   model.max_current_a, model.phases, model.phase_rotation,
                                   model.priority) for n in range(1, count + 1))
