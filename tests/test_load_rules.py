"""Load management's pure rules, tested directly: when a profile may go out (pacing.py),
which loads are fixed (picture.py), grid meter readings (grid_meters.py), Modbus
registers. Time is an explicit number; properties are checked with hypothesis."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evedge import errors
from evedge.load_management import allocate, parse_site
from evedge.load_management import grid_meters, modbus, pacing, picture
from evedge.load_management.units import UNIT

SITE = parse_site({
    "circuits": [{"id": "main", "max_current_a": 40},
                 {"id": "f1", "parent": "main", "max_current_a": 32},
                 {"id": "l2", "parent": "main", "max_current_a": 16, "phases": 1,
                  "phase": "L2"}],
    "chargers": [{"charger_id": "A", "circuit": "f1"}, {"charger_id": "B", "circuit": "f1"},
                 {"charger_id": "C", "circuit": "main", "max_current_a": 16},
                 {"charger_id": "D", "circuit": "l2", "max_current_a": 16},
                 {"charger_id": "M", "circuit": "main", "connector_id": 2,
                  "max_current_a": 10}],
    "grid_meters": [{"circuit": "main", "source": "rest"}]})


def capacity_for(keys_chargers: dict, allocation=None) -> pacing.Capacity:
    """Capacity rows of the bare site (no fixed loads) and the terms of the given sessions."""
    rows = [SITE.circuit(row.circuit).limit_micro(row.phase) for row in SITE.constraints]
    terms = {key: SITE.constraint_terms(SITE.assignment(charger, 1))
             for key, charger in keys_chargers.items()}
    return pacing.Capacity(rows, terms, {key: n for n, key in enumerate(keys_chargers)})


def slot(charger: str, transaction: int, target: float, accepted: float | None = None,
         initial: float = 32.0) -> pacing.Slot:
    return pacing.Slot(charger, 1, transaction, target=target, accepted=accepted,
                       initial=initial, number_phases=3, resend=False)


# --- pacing ----------------------------------------------------------------------------------

def test_a_decrease_is_granted_at_once_and_its_capacity_only_after_the_reaction_time():
    pacer = pacing.Pacer(reaction_time=5.0, increase_interval=0.0)
    a, b = pacing.tx_key("A", 1, 1), pacing.tx_key("B", 1, 2)
    pacer.slots[a] = slot("A", 1, target=10.0, accepted=30.0)
    pacer.slots[b] = slot("B", 1, target=20.0, accepted=2.0)   # 30 + 20 > 32 on f1
    capacity = capacity_for({a: "A", b: "B"})
    ready, wake = pacer.release(100.0, capacity, ["A", "B"])
    assert ready == {"A"} and pacer.slots[a].granted == 30.0 and pacer.slots[b].granted is None
    pacer.slots[a].sending(10.0)
    pacer.slots[a].answered("Accepted", 100.5, pacer.reaction_time)
    assert pacer.slots[a].ceiling(105.0) == 30.0  # the car may still draw the old limit
    assert pacer.release(105.0, capacity, ["A", "B"])[0] == set()
    ready, _ = pacer.release(105.6, capacity, ["A", "B"])
    assert ready == {"B"} and pacer.slots[b].granted == 20.0


def test_increases_are_rate_limited_per_charger_and_decreases_never():
    pacer = pacing.Pacer(reaction_time=0.0, increase_interval=10.0)
    key = pacing.tx_key("A", 1, 1)
    pacer.slots[key] = slot("A", 1, target=12.0, accepted=6.0)
    capacity = capacity_for({key: "A"})
    assert pacer.release(0.0, capacity, ["A"])[0] == {"A"}
    pacer.slots[key].sending(12.0)
    pacer.slots[key].answered("Accepted", 0.1, 0.0)
    pacer.slots[key].target = 20.0
    ready, wake = pacer.release(5.0, capacity, ["A"])
    assert ready == set() and wake == pytest.approx(10.0)
    pacer.slots[key].target = 8.0  # a decrease goes out whatever the rate limit says
    assert pacer.release(5.0, capacity, ["A"])[0] == {"A"}


def test_an_increase_that_does_not_fit_waits_and_service_order_decides_who_gets_room():
    pacer = pacing.Pacer(reaction_time=0.0, increase_interval=0.0)
    a, b = pacing.tx_key("A", 1, 1), pacing.tx_key("B", 1, 2)
    pacer.slots[a] = slot("A", 1, target=20.0, accepted=6.0)
    pacer.slots[b] = slot("B", 1, target=20.0, accepted=6.0)
    ready, _ = pacer.release(0.0, capacity_for({a: "A", b: "B"}), ["A", "B"])
    assert ready == {"A"}  # 20 + 6 fits f1's 32; then 20 + 20 would not
    assert pacer.slots[b].granted is None


def test_the_maximum_profile_rises_with_its_chargers_sessions_not_before():
    pacer = pacing.Pacer(reaction_time=0.0, increase_interval=0.0)
    a, b = pacing.tx_key("A", 1, 1), pacing.tx_key("B", 1, 2)
    pacer.slots[a] = slot("A", 1, target=10.0, accepted=30.0)
    pacer.slots[b] = slot("B", 1, target=20.0, accepted=0.0)
    pacer.slots[pacing.max_key("B")] = pacing.Slot("B", 0, None, target=20.0, accepted=0.0,
                                                   resend=False)
    capacity = capacity_for({a: "A", b: "B"})
    pacer.release(0.0, capacity, ["A", "B"])
    assert pacer.slots[pacing.max_key("B")].granted is None  # its session cannot rise yet
    pacer.slots[a].sending(10.0)
    pacer.slots[a].answered("Accepted", 0.0, 0.0)
    pacer.release(0.1, capacity, ["A", "B"])
    assert pacer.slots[b].granted == 20.0 and pacer.slots[pacing.max_key("B")].granted == 20.0


def test_a_maximum_lowered_moments_ago_is_no_room_for_the_next_session():
    """B's session ended and its maximum went from 8 A to 0; a new session starts on B
    within the reaction time. The maximum's old 8 A was the ended car's: raising it back
    needs room like any increase (it went out unchecked, and the new car drew 8 A that
    nothing counted: the end-to-end test's overshoot)."""
    pacer = pacing.Pacer(reaction_time=2.5, increase_interval=0.0)
    a, b, cap = pacing.tx_key("A", 1, 1), pacing.tx_key("B", 1, 2), pacing.max_key("B")
    pacer.slots[a] = slot("A", 1, target=32.0, accepted=32.0)   # f1 (32 A) is full
    pacer.slots[cap] = pacing.Slot("B", 0, None, accepted=8.0, resend=False)
    pacer.slots[cap].target = 0.0
    pacer.slots[cap].sending(0.0)
    pacer.slots[cap].answered("Accepted", 10.0, pacer.reaction_time)
    assert pacer.slots[cap].ceiling(11.0) == 8.0   # settling
    pacer.slots[b] = slot("B", 2, target=8.0, initial=0.0)      # started at 11.0
    pacer.slots[cap].target = 8.0
    ready, _ = pacer.release(11.0, capacity_for({a: "A", b: "B"}), ["A", "B"])
    assert ready == set()
    assert pacer.slots[cap].granted is None and pacer.slots[b].granted is None


def test_a_session_without_a_limit_of_its_own_counts_what_its_maximum_lets_through():
    """B's session has no accepted TxProfile; its charger's maximum was raised to 8 A.
    B's car may draw 8 A, so A cannot take more than 24 A of f1's 32."""
    pacer = pacing.Pacer(reaction_time=0.0, increase_interval=0.0)
    a, b, cap = pacing.tx_key("A", 1, 1), pacing.tx_key("B", 1, 2), pacing.max_key("B")
    pacer.slots[a] = slot("A", 1, target=30.0, accepted=20.0)
    pacer.slots[b] = slot("B", 2, target=8.0, initial=0.0)
    pacer.slots[b].hardware = 32.0
    pacer.slots[cap] = pacing.Slot("B", 0, None, target=8.0, accepted=8.0, resend=False)
    assert pacer.draw_ceiling(pacer.slots[b], 0.0) == 8.0
    capacity = capacity_for({a: "A", b: "B"})
    pacer.release(0.0, capacity, ["A", "B"])
    assert pacer.slots[a].granted is None          # 30 + 8 > 32
    assert pacer.slots[b].granted == 8.0           # already counted: nothing more to fit
    pacer.slots[a].target = 24.0
    pacer.release(0.1, capacity, ["A", "B"])
    assert pacer.slots[a].granted == 24.0


def test_a_maximum_waits_while_its_sessions_rows_are_over():
    """B's session began before B held its maximum (0 A), so its car could draw B's 32 A and
    its first TxProfile, 20 A, went out at once as a decrease; B's car is really held at 0
    by the maximum. Raising that to 20 A while A's car still follows its own decrease
    (32 -> 10, settling) would let 52 A onto f1's 32: it waits until A has settled."""
    pacer = pacing.Pacer(reaction_time=5.0, increase_interval=0.0)
    a, b, cap = pacing.tx_key("A", 1, 1), pacing.tx_key("B", 1, 2), pacing.max_key("B")
    pacer.slots[a] = slot("A", 1, target=32.0, accepted=32.0)
    pacer.slots[a].target = 10.0
    pacer.slots[a].sending(10.0)
    pacer.slots[a].answered("Accepted", 100.0, pacer.reaction_time)
    pacer.slots[b] = slot("B", 1, target=20.0, accepted=20.0)
    pacer.slots[cap] = pacing.Slot("B", 0, None, target=20.0, accepted=0.0, resend=False)
    capacity = capacity_for({a: "A", b: "B"})
    ready, wake = pacer.release(101.0, capacity, ["A", "B"])
    assert ready == set() and pacer.slots[cap].granted is None and wake == 105.0
    ready, _ = pacer.release(105.1, capacity, ["A", "B"])
    assert ready == {"B"} and pacer.slots[cap].granted == 20.0


def test_an_unanswered_limit_counts_as_applied_until_one_is_accepted():
    s = slot("A", 1, target=20.0, accepted=6.0)
    s.sending(20.0)
    s.answered("timeout", 1.0, 5.0)
    assert s.ceiling(100.0) == 20.0 and s.resend
    s.target = 8.0
    s.sending(8.0)
    s.answered("Accepted", 101.0, 5.0)
    assert s.ceiling(105.0) == 20.0 and s.ceiling(106.5) == 8.0


LIMITS = st.integers(0, 320).map(lambda units: units / 10)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABCD"), LIMITS, LIMITS), min_size=1, max_size=8),
       st.floats(0, 20))
def test_released_increases_never_overfill_a_limit_that_was_kept(entries, now):
    """Whatever the ceilings and targets, increases granted keep every row within its
    capacity if it was within it before (the decreases only lower it later)."""
    pacer = pacing.Pacer(reaction_time=3.0, increase_interval=0.0)
    chargers = {}
    for n, (charger, accepted, target) in enumerate(entries):
        key = pacing.tx_key(charger, 1, n)
        pacer.slots[key] = slot(charger, n, target=target, accepted=accepted)
        chargers[key] = charger
    capacity = capacity_for(chargers)
    before = usage(pacer, capacity, now)
    pacer.release(now, capacity, "ABCD")
    after = usage(pacer, capacity, now)
    for row, limit in enumerate(capacity.rows):
        if before[row] <= limit:
            assert after[row] <= limit
        else:
            assert after[row] <= before[row]  # overfull rows get nothing more


def usage(pacer, capacity, now) -> list[int]:
    used = [0] * len(capacity.rows)
    for key, terms in capacity.terms.items():
        draw = pacing.units(pacer.slots[key].ceiling(now)) * UNIT
        for row, coefficient in terms:
            used[row] += coefficient * draw
    return used


# --- what a car takes -------------------------------------------------------------------------

def measured(amps, at: float = 100.0, changed: float = 90.0) -> picture.SessionInfo:
    info = picture.SessionInfo("A", 1, 1, "T", 0.0, measured_a=amps, measured_at=at)
    info.limit_changed_at = changed
    return info


@pytest.mark.parametrize("amps, limit, at, changed, expected", [
    (8.0, 20.0, 100.0, 90.0, 10.0),             # clearly less: reading + headroom
    ([8.0, 11.5, None], 20.0, 100.0, 90.0, 13.5),  # the highest phase counts
    (9.5, 10.0, 100.0, 90.0, None),             # near its limit (over limit - headroom/2)
    (9.0, 10.0, 100.0, 90.0, 11.0),             # capped at 11 and drawing 9: stays capped
    (8.0, 20.0, 100.0, 97.0, None),             # read before the car followed (5 s)
    (8.0, 20.0, 100.0 - 301, 0.0, None),        # stale (300 s)
    (8.0, None, 100.0, 90.0, None),             # no accepted limit: nothing to compare
    (None, 20.0, 100.0, 90.0, None),
    (0.0, 20.0, 100.0, 90.0, 2.0),              # a full battery: below the minimum, kept there
])
def test_a_car_takes_what_it_was_measured_drawing_plus_headroom(
        amps, limit, at, changed, expected):
    found = picture.car_demand(measured(amps, at, changed), limit, headroom=2.0, settle=5.0,
                               max_age=300.0, now=100.0)
    assert found == expected


def test_no_headroom_means_every_car_keeps_its_share():
    assert picture.car_demand(measured(8.0), 20.0, 0.0, 5.0, 300.0, 100.0) is None


# --- which loads are fixed ---------------------------------------------------------------------

def session(charger: str, connector: int = 1, tx: int = 1, tag: str = "T") -> picture.SessionInfo:
    return picture.SessionInfo(charger, connector, tx, tag, float(tx))


def inputs(chargers: dict, sessions: list, accepted=None) -> picture.Inputs:
    accepted = accepted or {}
    return picture.allocation_inputs(SITE, chargers, {s.key: s for s in sessions},
                                     lambda key: accepted.get(key))


def online(charger: str, **changes) -> picture.ChargerInfo:
    info = picture.ChargerInfo(charger, online=True, seen=True)
    for name, value in changes.items():
        setattr(info, name, value)
    return info


def fixed_of(result: picture.Inputs) -> dict[str, float]:
    return {load.charger_id: load.current_a for load in result.fixed}


def test_a_steered_session_is_a_demand_and_a_never_seen_charger_counts_at_full_power():
    result = inputs({"A": online("A")}, [session("A")])
    assert [s.charger_id for s in result.sessions] == ["A"] and result.steered == {("A", 1, 1)}
    # B, C, D and M were never seen: each connector they may have counts at its maximum.
    assert fixed_of(result) == {"B": 32, "C": 16, "D": 16, "M": 10}


@pytest.mark.parametrize("changes, reason, amps", [
    ({"online": False}, "offline", 14.0),
    ({"answering": False}, "not answering", 14.0),
    ({"accepted": False}, "not accepted", 32),
    ({"mode": picture.NO_PROFILES}, "rejects profiles", 32),
    ({"connectors": {1: "Faulted"}}, "faulted", 14.0),
])
def test_sessions_that_cannot_be_steered_are_fixed(changes, reason, amps):
    others = {c: online(c) for c in "BCDM"}
    result = inputs({"A": online("A", **changes), **others}, [session("A")],
                    {("A", 1, 1): 14.0})
    assert result.sessions == [] and result.fixed_reason == {("A", 1, 1): reason}
    assert fixed_of(result) == {"A": amps}


def test_an_offline_charger_counts_its_idle_connectors_capped_by_its_maximum_profile():
    others = {c: online(c) for c in "BCD"}
    result = inputs({**others, "A": online("A", online=False, connectors={1: "A", 2: "A"}),
                     "M": online("M", online=False, max_accepted=4.0)}, [])
    assert fixed_of(result) == {"A": 32, "M": 4.0}
    assert sorted((load.connector_id, load.current_a) for load in result.fixed
                  if load.charger_id == "A") == [(1, 32), (2, 32)]
    capped = inputs({**others, "M": online("M"),
                     "A": online("A", online=False, max_accepted=20.0,
                                 connectors={1: "A", 2: "A"})}, [])
    assert fixed_of(capped) == {"A": 20.0}  # 2 x 32 A, but the profile limits the charger


def test_phases_of_measured_currents_follow_the_rotation():
    one_phase = parse_site({"circuits": [{"id": "m", "max_current_a": 32}], "chargers": [
        {"charger_id": "X", "circuit": "m", "phases": 1, "phase_rotation": "TRS"},
        {"charger_id": "Y", "circuit": "m", "phase_rotation": "STR"}]})
    x, y = one_phase.assignment("X", 1), one_phase.assignment("Y", 1)
    assert picture.site_current(x, [None, None, 10.0]) == (0.0, 0.0, 10.0)
    assert picture.site_current(x, 7.0) == (0.0, 0.0, 7.0)
    assert picture.site_current(y, [1.0, 2.0, 3.0]) == (3.0, 1.0, 2.0)  # its L1 is site L2
    assert picture.site_current(y, 5.0) == (5.0, 5.0, 5.0)


# --- grid meters --------------------------------------------------------------------------------

def test_a_silent_meter_fills_its_circuit_and_a_fresh_one_counts_the_others():
    readings = grid_meters.GridReadings(max_age=30)
    assert grid_meters.other_loads(SITE, readings, {}, 0.0) == {"main": (40.0, 40.0, 40.0)}
    readings.put("main", (25.0, 10.0, 5.0), 100.0)
    ours = {"main": (20.0, 12.0, 0.0)}
    assert grid_meters.other_loads(SITE, readings, ours, 110.0) == {"main": (5.0, 0.0, 5.0)}
    assert grid_meters.other_loads(SITE, readings, ours, 131.0) == {"main": (40.0, 40.0, 40.0)}
    assert readings.status("main", 131.0) == "stale"
    site = parse_site({**SITE.as_json(), "grid_meters": []})
    allocation = allocate(site, [], [], grid_meters.other_loads(SITE, readings, ours, 131.0))
    assert allocation.circuit("main").headroom_a == (0.0, 0.0, 0.0)


def test_full_load_fills_power_limits_and_only_the_phases_a_circuit_carries():
    site = parse_site({"circuits": [{"id": "p", "max_power_kw": 23},
                                    {"id": "one", "parent": "p", "phases": 1, "phase": "L3",
                                     "max_current_a": 20}], "chargers": []})
    assert grid_meters.full_load(site.circuit("p")) == (100.0, 100.0, 100.0)
    assert grid_meters.full_load(site.circuit("one")) == (0.0, 0.0, 20.0)


@pytest.mark.parametrize("body, field", [
    ({}, "current_a"), ({"current_a": [1, 2]}, "current_a"),
    ({"current_a": [1, "2", 3]}, "current_a[1]"), ({"current_a": [1, 2, 3], "x": 1}, "x"),
    ({"current_a": [1, 2, math.inf]}, "current_a[2]"),
    ({"current_a": [True, 0, 0]}, "current_a[0]"),
])
def test_a_bad_reading_is_refused_naming_the_field(body, field):
    with pytest.raises(errors.BadRequest) as caught:
        grid_meters.parse_reading(SITE, "main", body)
    assert caught.value.field == field and caught.value.message.startswith(field)


def test_a_one_phase_reading_must_leave_the_other_phases_at_zero():
    site = parse_site({**SITE.as_json(), "grid_meters": [{"circuit": "l2", "source": "rest"}]})
    assert grid_meters.parse_reading(site, "l2", {"current_a": [0, 7.5, 0]}) == (0.0, 7.5, 0.0)
    with pytest.raises(errors.BadRequest, match="does not carry L1"):
        grid_meters.parse_reading(site, "l2", {"current_a": [1, 7.5, 0]})
    with pytest.raises(errors.NotFound):
        grid_meters.parse_reading(site, "main", {"current_a": [0, 0, 0]})


def test_modbus_registers_are_signed_and_scaled_onto_the_circuit_phase():
    one = parse_site({"circuits": [{"id": "x", "max_current_a": 32, "phases": 1,
                                    "phase": "L2"}], "chargers": []}).circuit("x")
    assert modbus.reading_from_registers(SITE.circuit("main"), [1234, 0xFFFF, 5], 0.01) == \
        pytest.approx((12.34, -0.01, 0.05))
    assert modbus.reading_from_registers(one, [700], 0.1) == (0.0, 70.0, 0.0)


def test_chargers_never_seen_can_queue_everyone_until_they_are_seen():
    """The limit must hold when data is missing: four chargers never seen fill main (40 A)
    at full power, so A's session is queued (0 A) until they connect."""
    result = inputs({"A": online("A")}, [session("A")])
    allocation = allocate(SITE, result.sessions, result.fixed)
    assert allocation.circuit("main").overcommitted
    assert [(s.charger_id, s.state, s.current_a) for s in allocation.sessions] == \
        [("A", "queued", 0.0)]
    seen = inputs({c: online(c) for c in "ABCDM"}, [session("A")])
    assert allocate(SITE, seen.sessions, seen.fixed).sessions[0].current_a == 32.0
