"""Random sites for the load-management property tests, and checks of an allocation.

The checks recompute everything from the site model's JSON-level data (circuits,
chargers, phase rotations) in floats, independently of the allocator's integer
internals; a tolerance of 1e-6 A covers float rounding in these sums only.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict

from hypothesis import strategies as st

from evedge.load_management import parse_site

TOLERANCE = 1e-6
REPORT_TOLERANCE = 1e-4  # reported sums count every load rounded up to a micro-ampere
LETTERS = "RST"
ROTATIONS = ("RST", "RTS", "SRT", "STR", "TRS", "TSR")
PHASE_NAMES = ("L1", "L2", "L3")


# --- strategies --------------------------------------------------------------------------
# Strategies are built once and reused: hypothesis spends most of a run validating new
# strategy objects otherwise.

@functools.lru_cache(maxsize=None)
def _integers(low: int, high: int):
    return st.integers(low, high)


@functools.lru_cache(maxsize=None)
def _floats(low: float, high: float, digits: int | None = None):
    floats = st.floats(low, high)
    return floats if digits is None else floats.map(lambda x: round(x, digits))


def pick(draw, options):
    """One of a sequence (sampled_from without building a strategy per call)."""
    return options[draw(_integers(0, len(options) - 1))]


def picks(draw, *choices):
    """One option from each sequence, all from a single draw (mixed radix): draws are
    what generation costs, and shrinking the number to 0 picks every first option."""
    size = math.prod(len(options) for options in choices)
    number = draw(_integers(0, size - 1))
    picked = []
    for options in choices:
        number, index = divmod(number, len(options))
        picked.append(options[index])
    return picked


YES_NO = (False, True)


@st.composite
def site_bodies(draw, max_circuits: int = 8, max_chargers: int = 12, max_depth: int = 4,
                tight: bool = True):
    """A valid site model as JSON: random trees of depth <= max_depth, per-phase and
    power limits, margins, 1- and 3-phase circuits and chargers, priorities."""
    circuits: list[dict] = []
    depth: dict[str, int] = {}
    for index in range(draw(_integers(1, max_circuits))):
        circuits.append(_circuit(draw, f"c{index}", circuits, depth, max_depth, tight))
    chargers: list[dict] = []
    for index in range(draw(_integers(0, max_chargers))):
        chargers.extend(_charger_entries(draw, f"CP-{index}", circuits))
    return {"circuits": circuits, "chargers": chargers}


def _circuit(draw, circuit_id: str, circuits: list[dict], depth: dict[str, int],
             max_depth: int, tight: bool) -> dict:
    eligible = [c for c in circuits if depth[c["id"]] < max_depth]
    parent, phases, name_phase, phase, kind, margin, voltage = picks(
        draw, eligible + [None] if eligible else [None], (3, 3, 1), YES_NO, PHASE_NAMES,
        ("current", "current", "power", "both", "per-phase"), (None, 0, 0.5, 2, 3.3),
        (None, None, None, None, 220, 230, 240, 227.5))
    depth[circuit_id] = 1 if parent is None else depth[parent["id"]] + 1
    body: dict = {"id": circuit_id, "parent": parent["id"] if parent else None}
    parent_phases = parent.get("phases", 3) if parent else 3
    phases = 1 if parent_phases == 1 else phases
    body["phases"] = phases
    inherited = parent["resolved_phase"] if parent is not None and parent_phases == 1 else None
    if phases == 1 and name_phase:
        body["phase"] = inherited or phase
    body["resolved_phase"] = body.get("phase") or inherited or "L1"
    low = 14 if tight else 40  # above every charger minimum plus margin: each can fit
    if kind in ("current", "both"):
        body["max_current_a"] = draw(_floats(low, 250, 2))
    if kind == "per-phase" and phases == 3:
        body["max_current_a"] = [draw(_floats(low, 250, 2)) for _ in range(3)]
    elif kind == "per-phase":
        body["max_current_a"] = draw(_floats(low, 250))
    if kind in ("power", "both"):
        body["max_power_kw"] = draw(_floats(8, 150, 3))
    if "max_current_a" in body and margin is not None:
        body["margin_a"] = margin
    if voltage is not None:
        body["voltage_v"] = voltage
    return body


def _charger_entries(draw, charger_id: str, circuits: list[dict]) -> list[dict]:
    entries = []
    for connector in pick(draw, ((None,), (None,), (1,), (None, 2), (1, 2))):
        circuit, phases, say_phases, rotation, low, kind, priority = picks(
            draw, circuits, (3, 3, 1), YES_NO, (None,) + ROTATIONS, (6, 6, 6, 1.5, 8, 10),
            ("same", "tenths", "16", "32"), (0, 0, 0, 1, 2))
        entry: dict = {"charger_id": charger_id, "connector_id": connector,
                       "circuit": circuit["id"]}
        circuit_phases = circuit.get("phases", 3)
        phases = 1 if circuit_phases == 1 else phases
        if phases != circuit_phases or say_phases:
            entry["phases"] = phases
        if rotation is not None and circuit_phases == 1:
            # on a 1-phase circuit the rotation must start on the circuit's phase
            letter = LETTERS[PHASE_NAMES.index(circuit["resolved_phase"])]
            rotation = letter + rotation.replace(letter, "")[:2]
        if rotation is not None:
            entry["phase_rotation"] = rotation
        high = {"same": low, "16": 16, "32": 32}.get(kind)
        if high is None:
            high = draw(_integers(int(low * 10), 320)) / 10
        entry.update(min_current_a=low, max_current_a=max(high, low), priority=priority)
        entries.append(entry)
    return entries


def clean_body(body: dict) -> dict:
    """The JSON without the generator's bookkeeping."""
    return {"circuits": [{k: v for k, v in c.items() if k != "resolved_phase"}
                         for c in body["circuits"]], "chargers": body["chargers"]}


@st.composite
def scenarios(draw, tight: bool = True, max_circuits: int = 8, max_chargers: int = 12):
    """(site, sessions, fixed loads, other loads) for allocate: sessions with priorities,
    queue keys and demand caps, fixed loads (some on unknown chargers), other loads
    (some negative, as a noisy meter gives them)."""
    from evedge.load_management.allocator import FixedLoad, SessionDemand
    site = parse_site(clean_body(draw(site_bodies(max_circuits=max_circuits,
                                                  max_chargers=max_chargers, tight=tight))))
    sessions = []
    for charger in site.chargers:
        for connector in [charger.connector_id] if charger.connector_id else [1, 2]:
            for _ in range(draw(_integers(0, 2))):
                priority, queue_key, capped = picks(draw, (0, 0, 1, 2, 3), range(21),
                                                    (False, False, True))
                sessions.append(SessionDemand(
                    charger.charger_id, connector, len(sessions) + 1, priority=priority,
                    queue_key=queue_key, demand_a=draw(_floats(0, 40)) if capped else None))
    fixed = []
    for _ in range(draw(_integers(0, 3))):
        charger_id, connector, per_phase = picks(
            draw, [c.charger_id for c in site.chargers] + ["ghost"], (None, 1, 2), YES_NO)
        if per_phase:
            value = tuple(draw(_floats(0, 45)) for _ in range(3))
        else:
            value = draw(_floats(0, 45))
        fixed.append(FixedLoad(charger_id, connector, value))
    other = {}
    for circuit in site.circuits:
        if pick(draw, (False, False, False, True)):
            other[circuit.id] = tuple(
                draw(_floats(-5, 60)) if phase in circuit.site_phases else 0.0
                for phase in range(3))
    return site, sessions, fixed, other


# --- independent checks ------------------------------------------------------------------

def site_vector(assignment, current) -> list[float]:
    """A draw per charger phase on the site's phases, from the rotation's letters."""
    values = current if isinstance(current, tuple) else (current,) * assignment.phases
    letters = assignment.phase_rotation[:assignment.phases]
    vector = [0.0, 0.0, 0.0]
    if assignment.phases == 1:
        vector[LETTERS.index(letters[0])] += sum(values)
        return vector
    for letter, value in zip(letters, values):
        vector[LETTERS.index(letter)] += value
    return vector


def ancestors(site, circuit_id: str) -> list[str]:
    chain = []
    while circuit_id is not None:
        chain.append(circuit_id)
        circuit_id = next(c for c in site.circuits if c.id == circuit_id).parent
    return chain


def counted_other(site, other: dict) -> dict[str, list[float]]:
    """Other loads as the documentation defines them: the larger of a circuit's own
    reading (negative as 0) and the sum of what its children carry."""
    result: dict[str, list[float]] = {}

    def carry(circuit_id: str) -> list[float]:
        if circuit_id not in result:
            own = [max(0.0, value) for value in other.get(circuit_id, (0.0, 0.0, 0.0))]
            below = [0.0, 0.0, 0.0]
            for child in site.circuits:
                if child.parent == circuit_id:
                    below = [a + b for a, b in zip(below, carry(child.id))]
            result[circuit_id] = [max(a, b) for a, b in zip(own, below)]
        return result[circuit_id]

    for circuit in site.circuits:
        carry(circuit.id)
    return result


def fixed_per_circuit(site, fixed) -> dict[str, list[float]]:
    totals = {circuit.id: [0.0, 0.0, 0.0] for circuit in site.circuits}
    for load in fixed:
        assignment = site.assignment(load.charger_id, load.connector_id)
        if assignment is None:
            continue
        vector = site_vector(assignment, load.current_a)
        for circuit_id in ancestors(site, assignment.circuit):
            totals[circuit_id] = [a + b for a, b in zip(totals[circuit_id], vector)]
    return totals


def sessions_per_circuit(site, allocation) -> dict[str, list[float]]:
    totals = {circuit.id: [0.0, 0.0, 0.0] for circuit in site.circuits}
    for session in allocation.sessions:
        for circuit_id in ancestors(site, session.circuit):
            totals[circuit_id] = [a + b for a, b in zip(totals[circuit_id],
                                                        session.allocated_a)]
    return totals


def limits(circuit) -> list[float | None]:
    """Per site phase: limit after margin (None: no current limit), -inf: no such phase."""
    carried = circuit_phases(circuit)
    out: list[float | None] = []
    for phase in range(3):
        if phase not in carried:
            out.append(-math.inf)
        elif circuit.max_current_a is None:
            out.append(None)
        elif isinstance(circuit.max_current_a, tuple):
            out.append(circuit.max_current_a[phase] - circuit.margin_a)
        else:
            out.append(circuit.max_current_a - circuit.margin_a)
    return out


def circuit_phases(circuit) -> set[int]:
    return {0, 1, 2} if circuit.phases == 3 else {PHASE_NAMES.index(circuit.phase)}


def service_order(sessions) -> list:
    return sorted(sessions, key=lambda s: (-s.priority, s.queue_key, s.charger_id,
                                           s.connector_id, s.transaction_id))


def rows_of(site, assignment) -> set[tuple[str, int | None]]:
    """The (circuit, phase) current limits and (circuit, None) power limits a charger's
    draw counts on."""
    loaded = {LETTERS.index(letter)
              for letter in assignment.phase_rotation[:assignment.phases]}
    rows = set()
    for circuit_id in ancestors(site, assignment.circuit):
        circuit = next(c for c in site.circuits if c.id == circuit_id)
        if circuit.max_current_a is not None:
            rows.update((circuit_id, phase) for phase in loaded)
        if circuit.max_power_kw is not None:
            rows.add((circuit_id, None))
    return rows


def circuit_phases_of(site, assignment) -> set[tuple[str, int]]:
    """The circuit-phases on a charger's path that it loads."""
    loaded = {LETTERS.index(letter)
              for letter in assignment.phase_rotation[:assignment.phases]}
    return {(circuit_id, phase) for circuit_id in ancestors(site, assignment.circuit)
            for phase in loaded}


def row_capacity(site, row, base: dict[str, list[float]]) -> float:
    """What is left of a limit after the fixed and other loads, in phase-amperes."""
    circuit_id, phase = row
    circuit = next(c for c in site.circuits if c.id == circuit_id)
    if phase is None:
        return circuit.max_power_kw * 1000 / circuit.voltage_v - sum(base[circuit_id])
    return limits(circuit)[phase] - base[circuit_id][phase]


def coefficient(assignment, row) -> int:
    return assignment.phases if row[1] is None else 1


def base_loads(site, fixed, other) -> dict[str, list[float]]:
    fixed_totals = fixed_per_circuit(site, fixed)
    other_totals = counted_other(site, other)
    return {cid: [a + b for a, b in zip(fixed_totals[cid], other_totals[cid])]
            for cid in fixed_totals}


def check_allocation(site, sessions, fixed, other, allocation) -> None:
    """Rules 1, 2, 3 and 6, the overcommitted flag, and the reported circuit sums."""
    base = base_loads(site, fixed, other)
    drawn = sessions_per_circuit(site, allocation)
    check_safety(site, base, drawn, allocation)
    check_bounds(site, sessions, allocation)
    check_queue(site, sessions, allocation, base)


def check_safety(site, base, drawn, allocation) -> None:
    """Rule 1: wherever a session draws, sessions + fixed + other loads fit every limit;
    the reported sums match; overcommitted is reported exactly when the base exceeds."""
    for circuit in site.circuits:
        total = [a + b for a, b in zip(drawn[circuit.id], base[circuit.id])]
        reported = allocation.circuit(circuit.id)
        assert all(abs(a - b) < REPORT_TOLERANCE
                   for a, b in zip(total, reported.allocated_a)), \
            (circuit.id, total, reported.allocated_a)
        excess = []  # how far the fixed and other loads alone exceed each limit
        for phase, limit in enumerate(limits(circuit)):
            if limit == -math.inf:
                assert total[phase] == 0 and reported.allocated_a[phase] == 0
                continue
            if limit is None:
                continue
            excess.append(base[circuit.id][phase] - limit)
            if drawn[circuit.id][phase] > 0:
                assert total[phase] <= limit + TOLERANCE, (circuit.id, phase, total, limit)
        if circuit.max_power_kw is not None:
            power_limit = circuit.max_power_kw * 1000 / circuit.voltage_v
            excess.append(sum(base[circuit.id]) - power_limit)
            if sum(drawn[circuit.id]) > 0:
                assert circuit.voltage_v * sum(total) <= circuit.max_power_kw * 1000 + 1e-3, \
                    (circuit.id, total)
        if max(excess) > 1e-5:
            assert reported.overcommitted, circuit.id
        elif max(excess) < -1e-5:
            assert not reported.overcommitted, circuit.id


def check_bounds(site, sessions, allocation) -> None:
    by_key = {session.key: session for session in sessions}
    managed = [s for s in sessions if site.assignment(s.charger_id, s.connector_id)]
    assert len(allocation.sessions) == len(managed)
    assert len(allocation.unmanaged_sessions) == len(sessions) - len(managed)
    for result in allocation.sessions:
        demand = by_key[result.key]
        assignment = site.assignment(demand.charger_id, demand.connector_id)
        vector = site_vector(assignment, result.current_a)
        assert all(abs(a - b) < 1e-9 for a, b in zip(vector, result.allocated_a))
        if result.state == "queued":
            assert result.current_a == 0 and result.allocated_a == (0.0, 0.0, 0.0)
            continue
        assert result.state == "charging"
        current = result.current_a
        assert abs(current * 10 - round(current * 10)) < 1e-9, current  # a multiple of 0.1
        assert current >= assignment.min_current_a - 1e-9
        cap = assignment.max_current_a
        if demand.demand_a is not None:
            cap = max(assignment.min_current_a,
                      min(cap, math.floor(demand.demand_a * 10 + 1e-9) / 10))
        assert current <= cap + 1e-9, (current, cap)


def check_queue(site, sessions, allocation, base) -> None:
    """Rule 6, and no gross waste, replayed in service order: a queued session holds the
    limits it does not fit under beside the earlier admitted minimums, and no later
    session counting on a held limit is admitted; a session queued although it fits must
    be blocked by such a held limit."""
    state = {result.key: result for result in allocation.sessions}
    ordered = [s for s in service_order(sessions) if s.key in state]
    use: dict = defaultdict(float)
    # Within 1e-5 A of a limit either answer is right (the allocator counts in whole
    # micro-amperes, rounding loads up and limits down): limits the allocator surely holds
    # for a queued session, and those it may hold.
    held, maybe_held = set(), set()
    for session in ordered:
        assignment = site.assignment(session.charger_id, session.connector_id)
        rows = rows_of(site, assignment)
        need = {row: coefficient(assignment, row) * assignment.min_current_a for row in rows}
        if state[session.key].state == "charging":
            assert not rows & held, f"{session.key} overtook a queued session on {rows & held}"
            for row in rows:
                use[row] += need[row]
            continue
        left = {row: row_capacity(site, row, base) - use[row] - need[row] for row in rows}
        maybe_short = {row for row in rows if left[row] < 1e-5}
        assert maybe_short or rows & maybe_held, f"{session.key} is queued but fits"
        if all(need[row] <= bare_capacity(site, row) + 1e-5 for row in rows):
            held |= {row for row in rows if left[row] < -1e-5}
            maybe_held |= maybe_short


def bare_capacity(site, row) -> float:
    """A limit with nothing else on it."""
    return row_capacity(site, row, {c.id: [0.0, 0.0, 0.0] for c in site.circuits})


def check_no_waste_above_minimum(site, sessions, fixed, other, allocation) -> None:
    """A charging session below its maximum is held by a limit that has less than 0.1 A
    left per session on it (the rounding of water filling), never by nothing."""
    base = base_loads(site, fixed, other)
    by_key = {session.key: session for session in sessions}
    use: dict = defaultdict(float)
    weight: dict = defaultdict(int)
    charging = [r for r in allocation.sessions if r.state == "charging"]
    for result in charging:
        assignment = site.assignment(result.charger_id, result.connector_id)
        for row in rows_of(site, assignment):
            use[row] += coefficient(assignment, row) * result.current_a
            weight[row] += coefficient(assignment, row)
    for result in charging:
        demand = by_key[result.key]
        assignment = site.assignment(demand.charger_id, demand.connector_id)
        cap = assignment.max_current_a
        if demand.demand_a is not None:
            cap = max(assignment.min_current_a, min(cap, demand.demand_a))
        if result.current_a + 0.1 > cap + 1e-9:
            continue
        slack = [row_capacity(site, row, base) - use[row] for row in rows_of(site, assignment)]
        # < 0.1 A per session on the row, plus the 0.1 A a limit is rounded down to
        held = [row for row, left in zip(rows_of(site, assignment), slack)
                if left < 0.1 * (weight[row] + 1) + 1e-6]
        assert held, f"{result.key} at {result.current_a} A could take more"


def check_equal_needs(site, sessions, allocation) -> None:
    """Sessions of one priority with the same needs (same circuit and phases, same
    minimum and maximum) that both charge get the same current (rule 5)."""
    by_key = {session.key: session for session in sessions}
    groups: dict = defaultdict(set)
    for result in allocation.sessions:
        if result.state != "charging":
            continue
        demand = by_key[result.key]
        assignment = site.assignment(demand.charger_id, demand.connector_id)
        cap = assignment.max_current_a
        if demand.demand_a is not None:
            cap = max(assignment.min_current_a,
                      math.floor(min(cap, demand.demand_a) * 10 + 1e-9) / 10)
        loaded = frozenset(assignment.phase_rotation[:assignment.phases])
        need = (demand.priority, assignment.circuit, loaded, assignment.min_current_a, cap)
        groups[need].add(result.current_a)
    for need, currents in groups.items():
        assert len(currents) == 1, (need, currents)
