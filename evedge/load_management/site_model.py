"""The site model: circuits (grid connections, feeders, breakers) in a tree, and the
chargers hung on them.

``parse_site`` turns the JSON an integrator PUTs into frozen dataclasses, refusing
anything doubtful with a 400 naming the field; ``SiteModel.as_json`` gives the canonical
JSON back (defaults filled in). Pure: no I/O, nothing but the standard library.

Phases are the site's phases throughout: L1, L2 and L3 as labelled at the grid
connection. A 1-phase circuit is labelled by the site phase it is on, so per-phase
vectors ``(L1, L2, L3)`` line up on every level of the tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from . import fields as f
from .units import UNIT, micro_down, micro_ratio, micro_up, units_up

PHASES = ("L1", "L2", "L3")
# OCPP 1.6 §9.1.7 ConnectorPhaseRotation (NotApplicable and Unknown say nothing we can
# use): R is the site's L1, S its L2, T its L3; the n-th letter is the charger's Ln.
PHASE_ROTATIONS = ("RST", "RTS", "SRT", "STR", "TRS", "TSR")
ROTATION_LETTERS = "RST"
GRID_METER_SOURCES = ("charger", "rest", "modbus")
DEFAULT_VOLTAGE_V = 230
IEC_61851_MIN_CURRENT_A = 6  # the lowest current the control pilot can offer (10 % duty)
DEFAULT_CHARGER_MAX_CURRENT_A = 32
MAX_ID_TAG = 20  # OCPP 1.6 §7.28 IdToken: CiString20Type, case-insensitive
# A depot's distribution is a handful of levels deep (grid connection, main switchboard,
# sub-distributions); a far deeper tree is a mistake, and would make every allocation pay
# for walking it.
MAX_DEPTH = 16

Vector = tuple[float, float, float]

CIRCUIT_KEYS = ("id", "parent", "max_current_a", "max_power_kw", "margin_a", "phases",
                "phase", "voltage_v")
CHARGER_KEYS = ("charger_id", "connector_id", "circuit", "min_current_a", "max_current_a",
                "phases", "phase_rotation", "priority")
METER_KEYS = {
    "charger": ("circuit", "source", "charger_id", "connector_id"),
    "rest": ("circuit", "source"),
    "modbus": ("circuit", "source", "host", "port", "unit_id", "register", "scale"),
}
ALL_METER_KEYS = tuple(dict.fromkeys(key for keys in METER_KEYS.values() for key in keys))


# --- the model ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Circuit:
    """A breaker-protected part of the site: a grid connection (``parent`` None) or a feeder."""

    id: str
    parent: str | None
    max_current_a: float | Vector | None  # one limit for every phase, or (L1, L2, L3)
    max_power_kw: float | None
    margin_a: float = 0
    phases: int = 3
    phase: str | None = None  # the site phase a 1-phase circuit is on; None for 3 phases
    voltage_v: float = DEFAULT_VOLTAGE_V

    @property
    def site_phases(self) -> tuple[int, ...]:
        """Indexes (0 = L1) of the site phases this circuit carries."""
        return (0, 1, 2) if self.phases == 3 else (PHASES.index(self.phase),)

    @property
    def current_limits_a(self) -> tuple[float | None, float | None, float | None]:
        """Per site phase: the current limit after the margin; None where only power limits.

        0 on the phases a 1-phase circuit does not carry.
        """
        limits: list[float | None] = [0.0, 0.0, 0.0]
        for phase in self.site_phases:
            if self.max_current_a is None:
                limits[phase] = None
            elif isinstance(self.max_current_a, tuple):
                limits[phase] = self.max_current_a[phase] - self.margin_a
            else:
                limits[phase] = self.max_current_a - self.margin_a
        return tuple(limits)

    @property
    def power_limit_phase_a(self) -> float | None:
        """The power limit in phase-amperes: sum over phases of I must stay below P / V."""
        if self.max_power_kw is None:
            return None
        return self.max_power_kw * 1000 / self.voltage_v

    def limit_micro(self, phase: int | None) -> int:
        """The limit on one site phase after the margin, or (phase None) the power limit
        as P / V phase-amperes, in micro-amperes rounded down."""
        if phase is None:
            return micro_ratio(self.max_power_kw * 1000, self.voltage_v)
        limit = self.max_current_a
        if isinstance(limit, tuple):
            limit = limit[phase]
        return micro_down(limit) - micro_up(self.margin_a)

    def as_json(self) -> dict[str, Any]:
        limit = self.max_current_a
        return {"id": self.id, "parent": self.parent,
                "max_current_a": list(limit) if isinstance(limit, tuple) else limit,
                "max_power_kw": self.max_power_kw, "margin_a": self.margin_a,
                "phases": self.phases, "phase": self.phase, "voltage_v": self.voltage_v}


@dataclass(frozen=True)
class ChargerAssignment:
    """Where a charger (``connector_id`` None) or one of its connectors draws from."""

    charger_id: str
    connector_id: int | None
    circuit: str
    min_current_a: float = IEC_61851_MIN_CURRENT_A
    max_current_a: float = DEFAULT_CHARGER_MAX_CURRENT_A
    phases: int = 3
    phase_rotation: str = "RST"
    priority: int = 0

    # Cached: the allocator asks for these for every session on every run.
    @cached_property
    def key(self) -> tuple[str, int | None]:
        return (self.charger_id, self.connector_id)

    @cached_property
    def site_phases(self) -> tuple[int, ...]:
        """The site phase of each of the charger's own phases (its L1 first)."""
        return tuple(ROTATION_LETTERS.index(letter)
                     for letter in self.phase_rotation[:self.phases])

    @cached_property
    def phase_vector(self) -> tuple[int, int, int]:
        """1 on each site phase the charger loads (a draw of I A per phase adds I there)."""
        loaded = self.site_phases
        return tuple(1 if phase in loaded else 0 for phase in range(3))

    def as_json(self) -> dict[str, Any]:
        return {"charger_id": self.charger_id, "connector_id": self.connector_id,
                "circuit": self.circuit, "min_current_a": self.min_current_a,
                "max_current_a": self.max_current_a, "phases": self.phases,
                "phase_rotation": self.phase_rotation, "priority": self.priority}


@dataclass(frozen=True)
class GridMeter:
    """Where the measured total current of a circuit comes from (wired up by the caller)."""

    circuit: str
    source: str
    charger_id: str | None = None   # source "charger": whose MeterValues carry the reading
    connector_id: int | None = None
    host: str | None = None         # source "modbus"
    port: int | None = None
    unit_id: int | None = None
    register: int | None = None
    scale: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in METER_KEYS[self.source]}


@dataclass(frozen=True)
class Constraint:
    """One linear limit of the site: the sum of coefficient x current stays <= capacity_a.

    A current limit (``phase`` 0-2) counts every draw on that phase of the circuit with
    coefficient 1; the power limit (``phase`` None) counts each phase-ampere, so a
    3-phase draw of I A has coefficient 3 and the capacity is P / V.
    """

    circuit: str
    phase: int | None
    capacity_a: float  # for display; the allocator recomputes it exactly (units.py)


@dataclass(frozen=True)
class SiteModel:
    """The whole model. Immutable; lookups are indexed on first use (cached_property)."""

    circuits: tuple[Circuit, ...] = ()
    chargers: tuple[ChargerAssignment, ...] = ()
    tag_priorities: tuple[tuple[str, int], ...] = ()
    grid_meters: tuple[GridMeter, ...] = ()

    @property
    def is_empty(self) -> bool:
        """No circuits: load management is off."""
        return not self.circuits

    @cached_property
    def _circuit_index(self) -> dict[str, Circuit]:
        return {circuit.id: circuit for circuit in self.circuits}

    @cached_property
    def _assignment_index(self) -> dict[tuple[str, int | None], ChargerAssignment]:
        return {charger.key: charger for charger in self.chargers}

    @cached_property
    def _tag_index(self) -> dict[str, int]:
        return {tag.casefold(): priority for tag, priority in self.tag_priorities}

    def circuit(self, circuit_id: str) -> Circuit:
        """The circuit with this id (KeyError if there is none)."""
        return self._circuit_index[circuit_id]

    def has_circuit(self, circuit_id: str) -> bool:
        return circuit_id in self._circuit_index

    @cached_property
    def _paths(self) -> dict[str, tuple[Circuit, ...]]:
        return {}

    def path(self, circuit_id: str) -> tuple[Circuit, ...]:
        """The circuits from this one up to its root, this one first."""
        known = self._paths.get(circuit_id)
        if known is None:
            chain = []
            current: str | None = circuit_id
            while current is not None:
                circuit = self._circuit_index[current]
                chain.append(circuit)
                current = circuit.parent
            known = self._paths[circuit_id] = tuple(chain)
        return known

    @cached_property
    def _children_index(self) -> dict[str, tuple[Circuit, ...]]:
        children: dict[str, list[Circuit]] = {circuit.id: [] for circuit in self.circuits}
        for circuit in self.circuits:
            if circuit.parent is not None:
                children[circuit.parent].append(circuit)
        return {key: tuple(value) for key, value in children.items()}

    def children(self, circuit_id: str) -> tuple[Circuit, ...]:
        return self._children_index[circuit_id]

    def assignment(self, charger_id: str, connector_id: int | None) -> ChargerAssignment | None:
        """The connector's own entry, else the whole charger's; None: not load-managed.

        Connector 0 is the charger as a whole (as in SetChargingProfile, OCPP 1.6 §5.16),
        the same as None.
        """
        if connector_id:
            entry = self._assignment_index.get((charger_id, connector_id))
            if entry is not None:
                return entry
        return self._assignment_index.get((charger_id, None))

    def phase_loads(self, assignment: ChargerAssignment) -> tuple[tuple[str, Vector], ...]:
        """Per circuit on the charger's path: 0/1 per site phase it loads there.

        Phases are site phases on every level, so a 1-phase circuit's single phase is
        already named as the phase of its parent it hangs on, and the vector is the same
        all the way up.
        """
        vector = assignment.phase_vector
        return tuple((circuit.id, vector) for circuit in self.path(assignment.circuit))

    def tag_priority(self, id_tag: str | None) -> int | None:
        """The priority of an id tag (compared case-insensitively), None if it has none."""
        if not id_tag:
            return None
        return self._tag_index.get(id_tag.casefold())

    def session_priority(self, assignment: ChargerAssignment, id_tag: str | None) -> int:
        """A session's priority: the higher of its charger's and its id tag's."""
        tag = self.tag_priority(id_tag)
        return assignment.priority if tag is None else max(assignment.priority, tag)

    # --- the limits as linear constraints (what the allocator works on) -----------------

    @cached_property
    def constraints(self) -> tuple[Constraint, ...]:
        rows = []
        for circuit in self.circuits:
            limits = circuit.current_limits_a
            rows.extend(Constraint(circuit.id, phase, limits[phase])
                        for phase in circuit.site_phases if limits[phase] is not None)
            if circuit.max_power_kw is not None:
                rows.append(Constraint(circuit.id, None, circuit.power_limit_phase_a))
        return tuple(rows)

    @cached_property
    def _constraint_index(self) -> dict[tuple[str, int | None], int]:
        return {(row.circuit, row.phase): index for index, row in enumerate(self.constraints)}

    @cached_property
    def _circuit_rows(self) -> dict[str, tuple[int, ...]]:
        rows: dict[str, list[int]] = {circuit.id: [] for circuit in self.circuits}
        for index, row in enumerate(self.constraints):
            rows[row.circuit].append(index)
        return {key: tuple(value) for key, value in rows.items()}

    def circuit_constraints(self, circuit_id: str) -> tuple[int, ...]:
        """Indexes into ``constraints`` of this circuit's own limits."""
        return self._circuit_rows[circuit_id]

    @cached_property
    def _path_rows(self) -> dict[tuple[str, int], tuple[int, ...]]:
        return {}

    def path_constraints(self, circuit_id: str, phase: int) -> tuple[int, ...]:
        """The limits a draw on this site phase of this circuit counts on, up to the root."""
        key = (circuit_id, phase)
        if key not in self._path_rows:
            self._path_rows[key] = tuple(
                row for circuit in self.path(circuit_id)
                for row in self._circuit_rows[circuit.id]
                if self.constraints[row].phase in (phase, None))
        return self._path_rows[key]

    @cached_property
    def _derived(self) -> dict[tuple[str, int | None], tuple]:
        return {}

    def _derive(self, assignment: ChargerAssignment) -> tuple:
        """(assignment, constraint terms), cached for the model's own assignments (the
        allocator asks for them for every session on every run)."""
        entry = self._derived.get(assignment.key)
        if entry is None or entry[0] is not assignment:
            entry = (assignment, self._terms_of(assignment))
            if self._assignment_index.get(assignment.key) is assignment:
                self._derived[assignment.key] = entry
        return entry

    def constraint_terms(self, assignment: ChargerAssignment) -> tuple[tuple[int, int], ...]:
        """(constraint index, coefficient) for every limit a draw of this charger counts on."""
        return self._derive(assignment)[1]

    def _terms_of(self, assignment: ChargerAssignment) -> tuple[tuple[int, int], ...]:
        index = self._constraint_index
        loaded = assignment.site_phases
        terms = []
        for circuit in self.path(assignment.circuit):
            terms.extend((index[(circuit.id, phase)], 1)
                         for phase in loaded if (circuit.id, phase) in index)
            if (circuit.id, None) in index:
                terms.append((index[(circuit.id, None)], len(loaded)))
        return tuple(terms)

    def as_json(self) -> dict[str, Any]:
        return {"circuits": [circuit.as_json() for circuit in self.circuits],
                "chargers": [charger.as_json() for charger in self.chargers],
                "tag_priorities": dict(self.tag_priorities),
                "grid_meters": [meter.as_json() for meter in self.grid_meters]}


# --- parsing -----------------------------------------------------------------------------

def parse_site(body: Any) -> SiteModel:
    """The site model from its JSON; ``errors.BadRequest`` naming the field if it is wrong."""
    body = f.json_object(body, "", ("circuits", "chargers", "tag_priorities", "grid_meters"),
                         required=("circuits", "chargers"))
    circuits = _parse_circuits(f.json_array(body["circuits"], "circuits"))
    by_id = {circuit.id: circuit for circuit in circuits}
    chargers = _parse_chargers(f.json_array(body["chargers"], "chargers"), by_id)
    tags = _parse_tag_priorities(body.get("tag_priorities", {}))
    meters = _parse_grid_meters(f.json_array(body.get("grid_meters", []), "grid_meters"), by_id)
    site = SiteModel(circuits, chargers, tags, meters)
    _refuse_unreachable_minimums(site)
    return site


# --- circuits ----------------------------------------------------------------------------

def _parse_circuits(entries: list[Any]) -> tuple[Circuit, ...]:
    drafts: list[Circuit] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        draft = _parse_circuit(entry, f"circuits[{index}]")
        if draft.id in seen:
            raise f.bad(f"circuits[{index}].id",
                        f"duplicate circuit id {draft.id!r} (also circuits[{seen[draft.id]}])")
        seen[draft.id] = index
        drafts.append(draft)
    for index, draft in enumerate(drafts):
        if draft.parent is not None and draft.parent not in seen:
            raise f.bad(f"circuits[{index}].parent",
                        f"circuit {draft.parent!r} does not exist")
    _refuse_cycles(drafts, seen)
    return _resolve_phases(drafts, seen)


def _parse_circuit(entry: Any, field: str) -> Circuit:
    entry = f.json_object(entry, field, CIRCUIT_KEYS, required=("id",))
    circuit_id = f.name(entry["id"], f"{field}.id")
    parent = entry.get("parent")
    if parent is not None:
        f.name(parent, f"{field}.parent")
    phases = _parse_phases(entry.get("phases", 3), f"{field}.phases")
    phase = entry.get("phase")
    if phase is not None:
        if phases == 3:
            raise f.bad(f"{field}.phase", "only a 1-phase circuit names the phase it is on")
        f.one_of(phase, f"{field}.phase", PHASES)
    max_current = _parse_current_limit(entry.get("max_current_a"), phases,
                                       f"{field}.max_current_a")
    max_power = entry.get("max_power_kw")
    if max_power is not None:
        f.positive(max_power, f"{field}.max_power_kw")
    if max_current is None and max_power is None:
        raise f.bad(f"{field}.max_current_a",
                    "give max_current_a or max_power_kw (or both): a circuit needs a limit")
    margin = f.non_negative(entry.get("margin_a", 0), f"{field}.margin_a")
    _check_margin(margin, max_current, f"{field}.margin_a")
    voltage = f.positive(entry.get("voltage_v", DEFAULT_VOLTAGE_V), f"{field}.voltage_v")
    return Circuit(circuit_id, parent, max_current, max_power, margin, phases, phase, voltage)


def _parse_phases(value: Any, field: str) -> int:
    return f.one_of(f.integer(value, field), field, (1, 3))


def _parse_current_limit(value: Any, phases: int, field: str) -> float | Vector | None:
    if value is None:
        return None
    if not isinstance(value, list):
        return f.positive(value, field)
    if phases == 1:
        raise f.bad(field, "a 1-phase circuit has a single limit: give a number, not a list")
    if len(value) != 3:
        raise f.bad(field, f"a per-phase limit lists 3 numbers (L1, L2, L3), not {len(value)}")
    return tuple(f.positive(limit, f"{field}[{index}]") for index, limit in enumerate(value))


def _check_margin(margin: float, max_current: float | Vector | None, field: str) -> None:
    if max_current is None:
        if margin:
            raise f.bad(field, "a margin is taken off max_current_a, which this circuit "
                               "does not set (it has only max_power_kw)")
        return
    lowest = min(max_current) if isinstance(max_current, tuple) else max_current
    if margin >= lowest:
        raise f.bad(field, f"the margin ({margin:g} A) must be below the current limit "
                           f"({lowest:g} A), or nothing could ever be drawn")


def _refuse_cycles(drafts: list[Circuit], seen: dict[str, int]) -> None:
    """Every chain of parents must end at a root; report the first loop found, in list order."""
    by_id = {draft.id: draft for draft in drafts}
    rooted: set[str] = set()
    for draft in drafts:
        walk: list[str] = []
        current: str | None = draft.id
        while current is not None and current not in rooted:
            if current in walk:
                loop = walk[walk.index(current):]
                first = min(loop, key=seen.__getitem__)
                start = loop.index(first)
                shown = loop[start:] + loop[:start] + [first]
                raise f.bad(f"circuits[{seen[first]}].parent",
                            f"the parents form a cycle: {' -> '.join(shown)}")
            walk.append(current)
            current = by_id[current].parent
        rooted.update(walk)


def _resolve_phases(drafts: list[Circuit], seen: dict[str, int]) -> tuple[Circuit, ...]:
    """Fill in each 1-phase circuit's phase and check it against its parent's phases.

    Parents first (iteratively: a deep tree must not hit Python's recursion limit).
    """
    resolved: dict[str, Circuit] = {}
    depth: dict[str | None, int] = {None: 0}
    for draft in drafts:
        pending = []
        current: Circuit | None = draft
        while current is not None and current.id not in resolved:
            pending.append(current)
            current = drafts[seen[current.parent]] if current.parent is not None else None
        for circuit in reversed(pending):
            field = f"circuits[{seen[circuit.id]}]"
            depth[circuit.id] = depth[circuit.parent] + 1
            if depth[circuit.id] > MAX_DEPTH:
                raise f.bad(f"{field}.parent", f"the tree is more than {MAX_DEPTH} levels deep "
                                               f"here; no depot needs that many")
            parent = resolved[circuit.parent] if circuit.parent is not None else None
            resolved[circuit.id] = _with_phase(circuit, parent, field)
    return tuple(resolved[draft.id] for draft in drafts)


def _with_phase(draft: Circuit, parent: Circuit | None, field: str) -> Circuit:
    if parent is not None and draft.phases > parent.phases:
        raise f.bad(f"{field}.phases", f"the circuit has {draft.phases} phases but its "
                                       f"parent {parent.id!r} has {parent.phases}")
    if draft.phases == 3:
        return draft
    if parent is not None and parent.phases == 1:
        if draft.phase not in (None, parent.phase):
            raise f.bad(f"{field}.phase", f"its parent {parent.id!r} is a 1-phase circuit on "
                                          f"{parent.phase}, so this circuit is on "
                                          f"{parent.phase} too")
        phase = parent.phase
    else:
        phase = draft.phase or "L1"
    return Circuit(draft.id, draft.parent, draft.max_current_a, draft.max_power_kw,
                   draft.margin_a, draft.phases, phase, draft.voltage_v)


# --- chargers ----------------------------------------------------------------------------

def _parse_chargers(entries: list[Any], circuits: dict[str, Circuit]
                    ) -> tuple[ChargerAssignment, ...]:
    chargers = []
    seen: dict[tuple[str, int | None], int] = {}
    for index, entry in enumerate(entries):
        charger = parse_charger(entry, f"chargers[{index}]", circuits)
        if charger.key in seen:
            which = ("the whole charger" if charger.connector_id is None
                     else f"connector {charger.connector_id}")
            raise f.bad(f"chargers[{index}].connector_id",
                        f"{which} of {charger.charger_id!r} is already assigned by "
                        f"chargers[{seen[charger.key]}]")
        seen[charger.key] = index
        chargers.append(charger)
    return tuple(chargers)


def parse_charger(entry: Any, field: str, circuits: dict[str, Circuit]) -> ChargerAssignment:
    entry = f.json_object(entry, field, CHARGER_KEYS, required=("charger_id", "circuit"))
    charger_id = f.name(entry["charger_id"], f"{field}.charger_id")
    connector_id = entry.get("connector_id")
    if connector_id is not None:
        # 0 would be the charger as a whole (OCPP 1.6 §5.16): that is what null says here.
        f.integer(connector_id, f"{field}.connector_id", low=1)
    circuit_id = f.name(entry["circuit"], f"{field}.circuit")
    if circuit_id not in circuits:
        raise f.bad(f"{field}.circuit", f"circuit {circuit_id!r} does not exist")
    circuit = circuits[circuit_id]
    low = _charger_current(entry.get("min_current_a", IEC_61851_MIN_CURRENT_A),
                           f"{field}.min_current_a")
    high = _charger_current(entry.get("max_current_a", DEFAULT_CHARGER_MAX_CURRENT_A),
                            f"{field}.max_current_a")
    if low > high:
        raise f.bad(f"{field}.min_current_a",
                    f"the minimum ({low:g} A) is above max_current_a ({high:g} A)")
    phases = _parse_phases(entry.get("phases", circuit.phases), f"{field}.phases")
    if phases > circuit.phases:
        raise f.bad(f"{field}.phases", f"the charger has {phases} phases but circuit "
                                       f"{circuit.id!r} has {circuit.phases}")
    rotation = _parse_rotation(entry.get("phase_rotation"), circuit, f"{field}.phase_rotation")
    priority = f.integer(entry.get("priority", 0), f"{field}.priority")
    return ChargerAssignment(charger_id, connector_id, circuit_id, low, high, phases, rotation,
                             priority)


def _refuse_unreachable_minimums(site: SiteModel) -> None:
    """A charger whose minimum exceeds a limit on its path could never charge, and as
    the head of the queue it would hold back everyone behind it."""
    for index, charger in enumerate(site.chargers):
        low = units_up(charger.min_current_a) * UNIT
        for row, coefficient in site.constraint_terms(charger):
            constraint = site.constraints[row]
            circuit = site.circuit(constraint.circuit)
            limit = circuit.limit_micro(constraint.phase)
            if coefficient * low <= limit:
                continue
            if constraint.phase is None:
                where = (f"the power limit of circuit {circuit.id!r} ({circuit.max_power_kw:g} "
                         f"kW) allows at most {limit / coefficient / 1e6:.1f} A on each of "
                         f"its {coefficient} phases")
            else:
                where = (f"circuit {circuit.id!r} allows at most {limit / 1e6:g} A on "
                         f"{PHASES[constraint.phase]} after its margin")
            raise f.bad(f"chargers[{index}].min_current_a",
                        f"the minimum ({charger.min_current_a:g} A) can never be given: {where}")


def _charger_current(value: Any, field: str) -> float:
    """A charger current: > 0 and with at most one decimal, as a charging profile carries it
    (OCPP 1.6 §7.14 ChargingSchedulePeriod.limit; the JSON schema says multipleOf 0.1)."""
    f.positive(value, field)
    if abs(value * 10 - round(value * 10)) > 1e-9 * max(1.0, abs(value)):
        raise f.bad(field, f"must be a multiple of 0.1 A (a charging profile's limit has at "
                           f"most one decimal), not {value!r}")
    return value


def _parse_rotation(value: Any, circuit: Circuit, field: str) -> str:
    """The charger's ConnectorPhaseRotation; on a 1-phase circuit it must start on its phase."""
    if circuit.phases == 3:
        return "RST" if value is None else f.one_of(value, field, PHASE_ROTATIONS)
    letter = ROTATION_LETTERS[PHASES.index(circuit.phase)]
    if value is None:  # the rotation that starts on the circuit's phase, in R-S-T order
        start = ROTATION_LETTERS.index(letter)
        return (ROTATION_LETTERS * 2)[start:start + 3]
    f.one_of(value, field, PHASE_ROTATIONS)
    if value[0] != letter:
        raise f.bad(field, f"circuit {circuit.id!r} carries only {circuit.phase}, so the "
                           f"rotation must start with {letter} (R=L1, S=L2, T=L3), "
                           f"not {value!r}")
    return value


# --- tag priorities and grid meters ------------------------------------------------------

def _parse_tag_priorities(value: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, dict):
        raise f.bad("tag_priorities", f"must be a JSON object mapping id tags to priorities, "
                                      f"not {f.describe(value)}")
    seen: dict[str, str] = {}
    pairs = []
    for tag, priority in value.items():
        field = f"tag_priorities.{tag}"
        f.name(tag, field, MAX_ID_TAG)
        folded = tag.casefold()
        if folded in seen:
            raise f.bad(field, f"{seen[folded]!r} and {tag!r} are the same id tag "
                               f"(id tags are case-insensitive, OCPP 1.6 §7.28)")
        seen[folded] = tag
        pairs.append((tag, f.integer(priority, field)))
    return tuple(pairs)


def _parse_grid_meters(entries: list[Any], circuits: dict[str, Circuit]
                       ) -> tuple[GridMeter, ...]:
    meters = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        meter = _parse_grid_meter(entry, f"grid_meters[{index}]", circuits)
        if meter.circuit in seen:
            raise f.bad(f"grid_meters[{index}].circuit",
                        f"circuit {meter.circuit!r} already has a grid meter "
                        f"(grid_meters[{seen[meter.circuit]}])")
        seen[meter.circuit] = index
        meters.append(meter)
    return tuple(meters)


def _parse_grid_meter(entry: Any, field: str, circuits: dict[str, Circuit]) -> GridMeter:
    f.json_object(entry, field, ALL_METER_KEYS, required=("circuit", "source"))
    source = f.one_of(entry["source"], f"{field}.source", GRID_METER_SOURCES)
    required = {"charger": ("charger_id",), "rest": (),
                "modbus": ("host", "register", "scale")}[source]
    f.json_object(entry, field, METER_KEYS[source], required=required)
    circuit = f.name(entry["circuit"], f"{field}.circuit")
    if circuit not in circuits:
        raise f.bad(f"{field}.circuit", f"circuit {circuit!r} does not exist")
    if source == "charger":
        return GridMeter(circuit, source,
                         charger_id=f.name(entry["charger_id"], f"{field}.charger_id"),
                         connector_id=f.integer(entry.get("connector_id", 0),
                                                f"{field}.connector_id", low=0))
    if source == "modbus":
        return _parse_modbus_meter(entry, field, circuit)
    return GridMeter(circuit, source)


def _parse_modbus_meter(entry: dict[str, Any], field: str, circuit: str) -> GridMeter:
    scale = f.number(entry["scale"], f"{field}.scale")
    if scale == 0:
        raise f.bad(f"{field}.scale", "must not be 0 (every reading would be 0 A)")
    return GridMeter(circuit, "modbus",
                     host=f.name(entry["host"], f"{field}.host", 253),
                     port=f.integer(entry.get("port", 502), f"{field}.port", 1, 65535),
                     unit_id=f.integer(entry.get("unit_id", 1), f"{field}.unit_id", 0, 255),
                     register=f.integer(entry["register"], f"{field}.register", 0, 65535),
                     scale=scale)
