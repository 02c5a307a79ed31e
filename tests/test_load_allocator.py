"""The load-management allocator: worked examples, then its guarantees as properties
over random sites (hypothesis), checked independently in load_helpers."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evedge import errors
from evedge.load_management import (ChargerTemplate, FixedLoad, SessionDemand, allocate,
                                    parse_site, what_if)
from evedge.load_management.site_model import ChargerAssignment, Circuit, SiteModel
import load_helpers as checks

PROPERTIES = settings(max_examples=250, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LONG_PROPERTIES = settings(PROPERTIES, max_examples=3000)


def site_of(circuits: list[dict], chargers: list[dict]):
    return parse_site({"circuits": circuits, "chargers": chargers})


def session(charger_id: str, queue_key: float, *, priority: int = 0, connector: int = 1,
            transaction: int | None = None, demand: float | None = None) -> SessionDemand:
    number = transaction if transaction is not None else int(queue_key * 1000)
    return SessionDemand(charger_id, connector, number, priority, queue_key, demand)


def currents(allocation) -> dict[str, float]:
    """charger id -> allocated current per phase (0 when queued)."""
    return {s.charger_id: s.current_a for s in allocation.sessions}


def states(allocation) -> dict[str, str]:
    return {s.charger_id: s.state for s in allocation.sessions}


# --- a 100 A site with two 63 A feeders and 20 chargers ----------------------------------

DEPOT = site_of(
    [{"id": "main", "max_current_a": 100},
     {"id": "feeder-1", "parent": "main", "max_current_a": 63},
     {"id": "feeder-2", "parent": "main", "max_current_a": 63}],
    [{"charger_id": f"CP-{n:02d}", "circuit": "feeder-1" if n <= 10 else "feeder-2"}
     for n in range(1, 21)])


def test_twenty_sessions_share_the_main_breaker_and_the_last_four_wait():
    sessions = [session(f"CP-{n:02d}", n) for n in range(1, 21)]
    result = allocate(DEPOT, sessions, [])
    # 10 on feeder-1 fit (60 A), then 6 on feeder-2 until main's 100 A; the 0.4 A per
    # session left on main rounds down to 0.2 A: 16 x 6.2 = 99.2 A.
    assert [s.state for s in result.sessions] == ["charging"] * 16 + ["queued"] * 4
    assert {s.current_a for s in result.sessions[:16]} == {6.2}
    assert result.circuit("main").allocated_a == (99.2, 99.2, 99.2)
    assert result.circuit("feeder-1").allocated_a == (62.0, 62.0, 62.0)
    assert result.circuit("feeder-2").allocated_a == pytest.approx((37.2,) * 3)
    assert result.circuit("main").headroom_a == pytest.approx((0.8,) * 3)
    assert result.circuit("feeder-1").headroom_a == pytest.approx((0.8,) * 3)  # main's


def test_a_full_feeder_leaves_the_rest_of_main_to_the_other_feeder():
    sessions = [session(f"CP-{n:02d}", n) for n in range(1, 13)]
    result = allocate(DEPOT, sessions, [])
    given = currents(result)
    assert {given[f"CP-{n:02d}"] for n in range(1, 11)} == {6.3}   # feeder-1: 63 A / 10
    assert given["CP-11"] == given["CP-12"] == 18.5               # main: (100 - 63) / 2
    assert result.circuit("main").allocated_a == pytest.approx((100.0,) * 3)


def test_few_sessions_get_their_maximum_or_an_equal_share():
    assert set(currents(allocate(DEPOT, [session("CP-01", 1), session("CP-11", 2)],
                                 [])).values()) == {32.0}
    result = allocate(DEPOT, [session(f"CP-{n:02d}", n) for n in (1, 2, 11, 12)], [])
    assert set(currents(result).values()) == {25.0}


# --- phases ------------------------------------------------------------------------------

def test_1_phase_chargers_spread_over_the_phases():
    site = site_of([{"id": "main", "max_current_a": 32}],
                   [{"charger_id": f"CP-{n}", "circuit": "main", "phases": 1,
                     "phase_rotation": rotation}
                    for n, rotation in enumerate(("RST", "RTS", "STR", "SRT", "TRS", "TSR"))])
    result = allocate(site, [session(f"CP-{n}", n) for n in range(6)], [])
    assert set(currents(result).values()) == {16.0}
    assert result.circuit("main").allocated_a == (32.0, 32.0, 32.0)
    assert result.session("CP-2", 1, 2000).allocated_a == (0.0, 16.0, 0.0)


def test_a_crowded_phase_does_not_slow_the_other_phases():
    site = site_of([{"id": "main", "max_current_a": 32}],
                   [{"charger_id": "L1-a", "circuit": "main", "phases": 1},
                    {"charger_id": "L1-b", "circuit": "main", "phases": 1,
                     "phase_rotation": "RTS"},
                    {"charger_id": "three", "circuit": "main"},
                    {"charger_id": "L3", "circuit": "main", "phases": 1,
                     "phase_rotation": "TRS"}])
    result = allocate(site, [session(name, n) for n, name in
                             enumerate(("L1-a", "L1-b", "three", "L3"))], [])
    given = currents(result)
    # L1 carries three sessions: 32 / 3 rounds down to 10.6 A; the 3-phase one stops
    # there, so L3's 1-phase charger gets the rest of L3.
    assert given == {"L1-a": 10.6, "L1-b": 10.6, "three": 10.6, "L3": 21.4}
    assert result.circuit("main").allocated_a == pytest.approx((31.8, 10.6, 32.0))


def test_a_1_phase_feeder_loads_its_parents_phase():
    site = site_of([{"id": "main", "max_current_a": 32},
                    {"id": "feeder-L2", "parent": "main", "max_current_a": 20, "phases": 1,
                     "phase": "L2"}],
                   [{"charger_id": "a", "circuit": "feeder-L2"},
                    {"charger_id": "b", "circuit": "feeder-L2"},
                    {"charger_id": "three", "circuit": "main"}])
    result = allocate(site, [session("a", 1), session("b", 2), session("three", 3)], [])
    assert currents(result) == {"a": 10.0, "b": 10.0, "three": 12.0}
    assert result.circuit("feeder-L2").allocated_a == (0.0, 20.0, 0.0)
    assert result.circuit("feeder-L2").limit_a == (0.0, 20.0, 0.0)
    assert result.circuit("main").allocated_a == (12.0, 32.0, 12.0)


def test_per_phase_limits_and_margins():
    site = site_of([{"id": "main", "max_current_a": [40, 30, 50], "margin_a": 4}],
                   [{"charger_id": "three", "circuit": "main"}])
    result = allocate(site, [session("three", 1)], [])
    assert currents(result) == {"three": 26.0}  # L2: 30 - 4
    assert result.circuit("main").limit_a == (36.0, 26.0, 46.0)
    assert result.circuit("main").headroom_a == (10.0, 0.0, 20.0)


# --- power limits ------------------------------------------------------------------------

POWER_SITE = site_of([{"id": "main", "max_power_kw": 11, "voltage_v": 230}],
                     [{"charger_id": f"CP-{n}", "circuit": "main"} for n in range(3)]
                     + [{"charger_id": "single", "circuit": "main", "phases": 1}])


def test_a_power_limited_root_admits_what_fits_its_power():
    result = allocate(POWER_SITE, [session(f"CP-{n}", n) for n in range(3)], [])
    # 11 kW / 230 V = 47.8 phase-amperes: two 3-phase sessions at 6 A need 36; a third
    # would need 54. The two share 47.8 / 6 = 7.97, rounded down to 7.9 A.
    assert [s.state for s in result.sessions] == ["charging", "charging", "queued"]
    assert currents(result)["CP-0"] == currents(result)["CP-1"] == 7.9
    main = result.circuit("main")
    assert main.allocated_kw == pytest.approx(230 * 6 * 7.9 / 1000)
    assert main.limit_kw == 11 and main.allocated_kw <= 11
    assert main.limit_a == pytest.approx((11000 / 230,) * 3)


def test_under_a_power_limit_a_1_phase_session_costs_a_third():
    result = allocate(POWER_SITE, [session("CP-0", 1), session("single", 2)], [])
    # 3 I + I <= 47.8 A: both at the same current (max-min fair on the current)
    assert currents(result) == {"CP-0": 11.9, "single": 11.9}


# --- priorities --------------------------------------------------------------------------

def priority_site(limit: float, count: int = 4, maximum: float = 32):
    return site_of([{"id": "main", "max_current_a": limit}],
                   [{"charger_id": f"CP-{n}", "circuit": "main", "max_current_a": maximum}
                    for n in range(count)])


def test_capacity_above_the_minimums_goes_to_the_higher_tier_first():
    sessions = [session("CP-0", 1), session("CP-1", 2),
                session("CP-2", 3, priority=1), session("CP-3", 4, priority=1)]
    assert currents(allocate(priority_site(40), sessions, [])) == {
        "CP-0": 6.0, "CP-1": 6.0, "CP-2": 14.0, "CP-3": 14.0}


def test_a_lower_tier_rises_once_the_higher_tier_is_at_its_maximum():
    sessions = [session("CP-0", 1), session("CP-1", 2),
                session("CP-2", 3, priority=1), session("CP-3", 4, priority=1)]
    result = allocate(priority_site(40, maximum=10), sessions, [])
    assert set(currents(result).values()) == {10.0}


def test_a_higher_priority_session_is_admitted_before_earlier_lower_ones():
    sessions = [session("CP-0", 1), session("CP-1", 2), session("CP-2", 3, priority=5)]
    result = allocate(priority_site(16, count=3), sessions, [])
    assert states(result) == {"CP-2": "charging", "CP-0": "charging", "CP-1": "queued"}
    assert currents(result) == {"CP-2": 10.0, "CP-0": 6.0, "CP-1": 0.0}
    assert [s.charger_id for s in result.sessions] == ["CP-2", "CP-0", "CP-1"]


def test_a_tag_priority_raises_a_session_through_the_site_model():
    site = parse_site({"circuits": [{"id": "main", "max_current_a": 12}],
                       "chargers": [{"charger_id": f"CP-{n}", "circuit": "main"}
                                    for n in range(2)],
                       "tag_priorities": {"VIP": 3}})
    vip = site.session_priority(site.assignment("CP-1", 1), "vip")
    result = allocate(site, [session("CP-0", 1), session("CP-1", 2, priority=vip)], [])
    assert currents(result) == {"CP-1": 6.0, "CP-0": 6.0}
    assert result.sessions[0].charger_id == "CP-1"


# --- queueing ----------------------------------------------------------------------------

QUEUE_SITE = site_of(
    [{"id": "main", "max_current_a": 30},
     {"id": "feeder-x", "parent": "main", "max_current_a": 25},
     {"id": "grid-2", "max_current_a": 32}],
    [{"charger_id": "A", "circuit": "feeder-x", "min_current_a": 8},
     {"charger_id": "B", "circuit": "feeder-x", "min_current_a": 8},
     {"charger_id": "C", "circuit": "feeder-x", "min_current_a": 10},
     {"charger_id": "D", "circuit": "main", "phases": 1, "min_current_a": 6},
     {"charger_id": "E", "circuit": "grid-2"}])


def test_a_queued_session_is_the_next_to_get_power():
    sessions = [session(name, n) for n, name in enumerate("ABCDE", start=1)]
    result = allocate(QUEUE_SITE, sessions, [])
    # C does not fit feeder-x and holds it; D fits main's L1, which is not what C waits
    # for, so D charges. E is on another grid connection and is not held up.
    assert states(result) == {"A": "charging", "B": "charging", "C": "queued",
                              "D": "charging", "E": "charging"}
    freed = allocate(QUEUE_SITE, [s for s in sessions if s.charger_id != "A"], [])
    assert states(freed) == {"B": "charging", "C": "charging", "D": "charging",
                             "E": "charging"}


def test_a_session_on_other_phases_is_not_held_up_by_a_queued_one():
    site = site_of([{"id": "main", "max_current_a": 20}],
                   [{"charger_id": "A", "circuit": "main", "min_current_a": 8},
                    {"charger_id": "B", "circuit": "main", "min_current_a": 8},
                    {"charger_id": "C-L1", "circuit": "main", "phases": 1},
                    {"charger_id": "D-L2", "circuit": "main", "phases": 1,
                     "phase_rotation": "STR", "min_current_a": 4},
                    {"charger_id": "E", "circuit": "main", "min_current_a": 2}])
    result = allocate(site, [session(name, n) for n, name in
                             enumerate(("A", "B", "C-L1", "D-L2", "E"))], [])
    assert states(result) == {"A": "charging", "B": "charging", "C-L1": "queued",
                              "D-L2": "charging", "E": "queued"}


def test_ties_in_queue_order_go_by_charger_connector_and_transaction():
    site = priority_site(12, count=3)
    sessions = [SessionDemand("CP-2", 1, 7, 0, 5), SessionDemand("CP-1", 2, 9, 0, 5),
                SessionDemand("CP-1", 1, 8, 0, 5)]
    result = allocate(site, sessions, [])
    assert [(s.charger_id, s.connector_id, s.state) for s in result.sessions] == [
        ("CP-1", 1, "charging"), ("CP-1", 2, "charging"), ("CP-2", 1, "queued")]


def test_a_session_that_could_never_fit_does_not_hold_up_the_queue():
    # parse_site refuses such a charger; a model built in code may still have one.
    site = SiteModel(circuits=(Circuit("main", None, 10, None),),
                     chargers=(ChargerAssignment("big", None, "main", min_current_a=16),
                               ChargerAssignment("small", None, "main")))
    result = allocate(site, [session("big", 1), session("small", 2)], [])
    assert states(result) == {"big": "queued", "small": "charging"}


# --- loads the allocator cannot steer ----------------------------------------------------

FEEDERS = site_of([{"id": "main", "max_current_a": 100},
                   {"id": "feeder-1", "parent": "main", "max_current_a": 32},
                   {"id": "feeder-2", "parent": "main", "max_current_a": 32}],
                  [{"charger_id": "offline", "circuit": "feeder-1"},
                   {"charger_id": "S1", "circuit": "feeder-1"},
                   {"charger_id": "S1-L2", "circuit": "feeder-1", "phases": 1,
                    "phase_rotation": "STR"},
                   {"charger_id": "S2", "circuit": "feeder-2"}])


def test_fixed_loads_above_a_limit_queue_the_sessions_there_and_flag_the_circuit():
    result = allocate(FEEDERS, [session("S2", 1), session("S1", 2)],
                      [FixedLoad("offline", None, 40.0)])
    assert states(result) == {"S1": "queued", "S2": "charging"}
    assert currents(result)["S2"] == 32.0
    feeder = result.circuit("feeder-1")
    assert feeder.overcommitted and feeder.fixed_a == (40.0, 40.0, 40.0)
    assert feeder.allocated_a == (40.0, 40.0, 40.0) and feeder.headroom_a == (0.0, 0.0, 0.0)
    main = result.circuit("main")
    assert not main.overcommitted and main.allocated_a == (72.0, 72.0, 72.0)


def test_a_session_queued_on_its_feeder_holds_that_feeder_not_the_whole_root():
    # S1 waits for feeder-1 (overloaded by a charger that ignores profiles); S2 on
    # feeder-2, with room on main too, is not held back by it.
    result = allocate(FEEDERS, [session("S1", 1), session("S2", 2)],
                      [FixedLoad("offline", None, 40.0)])
    assert states(result) == {"S1": "queued", "S2": "charging"}


def test_an_overcommitted_phase_only_stops_sessions_on_that_phase():
    # a 1-phase charger that ignores profiles draws 40 A on L1 of a 32 A feeder
    site = site_of(FEEDERS.as_json()["circuits"],
                   [{"charger_id": "offline", "circuit": "feeder-1", "phases": 1},
                    {"charger_id": "S1", "circuit": "feeder-1"},
                    {"charger_id": "S1-L2", "circuit": "feeder-1", "phases": 1,
                     "phase_rotation": "STR"}])
    result = allocate(site, [session("S1-L2", 1), session("S1", 2)],
                      [FixedLoad("offline", 1, 40.0)])
    assert states(result) == {"S1": "queued", "S1-L2": "charging"}
    assert currents(result)["S1-L2"] == 32.0
    assert result.circuit("feeder-1").overcommitted


def test_fixed_loads_count_per_phase_through_the_rotation():
    site = site_of([{"id": "main", "max_current_a": 32}],
                   [{"charger_id": "offline", "circuit": "main", "phase_rotation": "TRS"},
                    {"charger_id": "single", "circuit": "main", "phases": 1,
                     "phase_rotation": "TSR"}])
    # the charger's own L1, L2, L3 sit on the site's L3, L1, L2
    result = allocate(site, [session("single", 1)], [FixedLoad("offline", 1, (20.0, 5.0, 0.0))])
    assert result.circuit("main").fixed_a == (5.0, 0.0, 20.0)
    assert currents(result) == {"single": 12.0}  # what L3 has left


def test_other_loads_measured_by_a_grid_meter_reduce_the_capacity():
    result = allocate(DEPOT, [session(f"CP-{n:02d}", n) for n in (1, 2, 11)], [],
                      {"main": (30.0, 20.0, 10.0)})
    assert set(currents(result).values()) == {23.3}  # L1: (100 - 30) / 3
    main = result.circuit("main")
    assert main.other_a == (30.0, 20.0, 10.0)
    assert main.allocated_a == pytest.approx((99.9, 89.9, 79.9))


def test_a_meter_below_counts_on_the_circuits_above_at_least():
    result = allocate(DEPOT, [session("CP-11", 1)], [],
                      {"feeder-1": (60.0, 0.0, 0.0), "main": (5.0, 5.0, 50.0)})
    # main carries at least what feeder-1 measured: (60, 5, 50), so 40 A are left on L1
    assert result.circuit("main").other_a == (60.0, 5.0, 50.0)
    assert currents(result) == {"CP-11": 32.0}
    result = allocate(DEPOT, [session("CP-11", 1)], [], {"feeder-1": (80.0, 0.0, 0.0)})
    assert currents(result) == {"CP-11": 20.0}


def test_a_negative_reading_counts_as_no_load():
    result = allocate(DEPOT, [session("CP-01", 1)], [], {"main": (-3.0, 0.0, 0.0)})
    assert result.circuit("main").other_a == (0.0, 0.0, 0.0)


def test_bad_other_loads_are_errors():
    with pytest.raises(ValueError, match="nowhere"):
        allocate(DEPOT, [], [], {"nowhere": (1.0, 1.0, 1.0)})
    site = site_of([{"id": "l2", "max_current_a": 32, "phases": 1, "phase": "L2"}], [])
    with pytest.raises(ValueError, match="L1"):
        allocate(site, [], [], {"l2": (1.0, 5.0, 0.0)})
    with pytest.raises(ValueError, match="three finite"):
        allocate(site, [], [], {"l2": (0.0, float("nan"), 0.0)})


# --- demand caps and inputs --------------------------------------------------------------

def test_a_demand_cap_leaves_the_rest_to_the_others():
    sessions = [session("CP-01", 1, demand=10), session("CP-02", 2), session("CP-03", 3)]
    result = allocate(DEPOT, sessions, [])  # all three on feeder-1: (63 - 10) / 2 each
    assert currents(result) == {"CP-01": 10.0, "CP-02": 26.5, "CP-03": 26.5}


def test_a_demand_below_the_minimum_keeps_the_minimum():
    result = allocate(DEPOT, [session("CP-01", 1, demand=2.5)], [])
    assert currents(result) == {"CP-01": 6.0}


def test_sessions_and_fixed_loads_of_unknown_chargers_are_listed_not_dropped():
    result = allocate(DEPOT, [session("CP-01", 1), session("stranger", 2)],
                      [FixedLoad("ghost", 1, 16.0)])
    assert [s.charger_id for s in result.unmanaged_sessions] == ["stranger"]
    assert [f.charger_id for f in result.unmanaged_loads] == ["ghost"]
    assert result.as_json()["unmanaged"] == [
        {"charger_id": "stranger", "connector_id": 1, "transaction_id": 2000},
        {"charger_id": "ghost", "connector_id": 1, "transaction_id": None}]


def test_bad_inputs_are_errors():
    with pytest.raises(ValueError, match="twice"):
        allocate(DEPOT, [session("CP-01", 1), session("CP-01", 1)], [])
    with pytest.raises(ValueError, match="demand_a"):
        SessionDemand("CP-01", 1, 1, demand_a=-1)
    with pytest.raises(ValueError, match="current_a"):
        FixedLoad("CP-01", 1, (1.0, 2.0))
    with pytest.raises(ValueError, match="current_a"):
        FixedLoad("CP-01", 1, float("inf"))


# --- the JSON shape ----------------------------------------------------------------------

def test_the_json_has_the_apis_shape_and_takes_extras():
    site = site_of([{"id": "main", "max_current_a": 32},
                    {"id": "l3", "parent": "main", "max_current_a": 16, "phases": 1,
                     "phase": "L3"}],
                   [{"charger_id": "CP-1", "circuit": "l3"}])
    result = allocate(site, [session("CP-1", 1)], [])
    body = result.as_json(
        session_extras={("CP-1", 1, 1000): {"measured_a": [0, 0, 15.2],
                                            "profile_status": "Accepted"}},
        circuit_extras={"main": {"measured_a": [1.0, 2.0, 17.0]}})
    json.dumps(body)
    assert body["sessions"] == [{"charger_id": "CP-1", "connector_id": 1,
                                 "transaction_id": 1000, "circuit": "l3", "state": "charging",
                                 "allocated_a": [0.0, 0.0, 16.0], "measured_a": [0, 0, 15.2],
                                 "profile_status": "Accepted"}]
    main, l3 = body["circuits"]
    assert {"id", "limit_a", "allocated_a", "measured_a", "headroom_a",
            "overcommitted"} <= set(main)
    assert main["measured_a"] == [1.0, 2.0, 17.0] and l3["measured_a"] is None
    assert l3["limit_a"] == [0.0, 0.0, 16.0] and l3["headroom_a"] == [0.0, 0.0, 0.0]
    assert main["headroom_a"] == [32.0, 32.0, 16.0]
    assert all(len(l3[key]) == 3 for key in ("limit_a", "allocated_a", "headroom_a"))
    assert result.session("CP-1", 1, 1000).current_a == 16.0


def test_an_empty_model_allocates_nothing():
    result = allocate(parse_site({"circuits": [], "chargers": []}), [session("CP-1", 1)], [])
    assert result.sessions == () and len(result.unmanaged_sessions) == 1


# --- what if -----------------------------------------------------------------------------

TEN = [session(f"CP-{n:02d}", n) for n in (1, 2, 3, 4, 5, 11, 12, 13, 14, 15)]


def test_what_if_two_more_sessions_start():
    assert set(currents(allocate(DEPOT, TEN, [])).values()) == {10.0}
    result = what_if(DEPOT, TEN, [], {}, "feeder-2", 2)
    assert len(result.sessions) == 12
    assert {s.current_a for s in result.sessions} == {8.3}
    extra = [s for s in result.sessions if s.hypothetical]
    assert [s.charger_id for s in extra] == ["what-if-1", "what-if-2"]
    assert all(s.circuit == "feeder-2" for s in extra)
    assert result.as_json()["sessions"][-1]["hypothetical"] is True
    assert "hypothetical" not in result.as_json()["sessions"][0]


def test_what_if_too_many_start_the_extra_ones_queue_last():
    result = what_if(DEPOT, TEN, [], {}, "main", 10)
    real = [s for s in result.sessions if not s.hypothetical]
    extra = [s for s in result.sessions if s.hypothetical]
    assert all(s.state == "charging" and s.current_a == 6.2 for s in real)
    assert [s.state for s in extra] == ["charging"] * 6 + ["queued"] * 4


def test_what_if_with_a_higher_priority_template():
    result = what_if(DEPOT, TEN, [], {}, "feeder-1", 2, ChargerTemplate(priority=1))
    extra = [s for s in result.sessions if s.hypothetical]
    assert result.sessions[:2] == tuple(extra)
    assert all(s.current_a > 6 for s in extra)


def test_what_if_on_a_1_phase_circuit_uses_its_phase():
    site = site_of([{"id": "main", "max_current_a": 32},
                    {"id": "l2", "parent": "main", "max_current_a": 20, "phases": 1,
                     "phase": "L2"}], [])
    result = what_if(site, [], [], None, "l2", 1)
    assert result.sessions[0].allocated_a == (0.0, 20.0, 0.0)


def test_what_if_with_none_extra_is_the_allocation():
    assert what_if(DEPOT, TEN, [], {}, "main", 0) == allocate(DEPOT, TEN, [], {})


def test_what_if_ids_never_collide_with_real_chargers():
    site = site_of([{"id": "main", "max_current_a": 100}],
                   [{"charger_id": "what-if-1", "circuit": "main"}])
    result = what_if(site, [session("what-if-1", 1)], [], {}, "main", 1)
    assert len({s.charger_id for s in result.sessions}) == 2


@pytest.mark.parametrize("circuit, count, template, field", [
    ("nowhere", 1, ChargerTemplate(), "circuit"),
    ("main", -1, ChargerTemplate(), "extra_sessions"),
    ("main", 1001, ChargerTemplate(), "extra_sessions"),
    ("main", "2", ChargerTemplate(), "extra_sessions"),
    ("main", 1, ChargerTemplate(min_current_a=20, max_current_a=10), "template.min_current_a"),
    ("main", 1, ChargerTemplate(phase_rotation="XYZ"), "template.phase_rotation"),
])
def test_what_if_refuses_bad_questions(circuit, count, template, field):
    with pytest.raises(errors.BadRequest) as caught:
        what_if(DEPOT, TEN, [], {}, circuit, count, template)
    assert caught.value.field == field


def test_what_if_template_phases_must_fit_the_circuit():
    site = site_of([{"id": "l1", "max_current_a": 32, "phases": 1}], [])
    with pytest.raises(errors.BadRequest) as caught:
        what_if(site, [], [], {}, "l1", 1, ChargerTemplate(phases=3))
    assert caught.value.field == "template.phases"


# --- properties --------------------------------------------------------------------------

def check_rules(scenario) -> None:
    site, sessions, fixed, other = scenario
    result = allocate(site, sessions, fixed, other)
    checks.check_allocation(site, sessions, fixed, other, result)          # rules 1, 2, 3, 6
    checks.check_no_waste_above_minimum(site, sessions, fixed, other, result)
    checks.check_equal_needs(site, sessions, result)                       # rule 5
    assert result.as_json() == json.loads(json.dumps(result.as_json()))


@PROPERTIES
@given(checks.scenarios())
def test_the_rules_hold_on_random_sites(scenario):
    check_rules(scenario)


@PROPERTIES
@given(checks.scenarios(tight=False, max_circuits=4, max_chargers=20))
def test_the_rules_hold_on_roomy_sites_with_many_sessions(scenario):
    check_rules(scenario)


@pytest.mark.slow
@pytest.mark.timeout(600)
@LONG_PROPERTIES
@given(checks.scenarios())
def test_the_rules_hold_on_many_more_random_sites(scenario):
    check_rules(scenario)


@PROPERTIES
@given(checks.scenarios(), st.randoms(use_true_random=False))
def test_the_order_of_the_inputs_does_not_matter(scenario, rng: random.Random):
    site, sessions, fixed, other = scenario
    expected = allocate(site, sessions, fixed, other)
    shuffled_sessions, shuffled_fixed = list(sessions), list(fixed)
    rng.shuffle(shuffled_sessions)
    rng.shuffle(shuffled_fixed)
    shuffled_other = dict(reversed(list(other.items())))
    again = allocate(site, shuffled_sessions, shuffled_fixed, shuffled_other)
    assert again == expected
    assert again.as_json() == expected.as_json()


@st.composite
def single_circuit_scenarios(draw):
    """One circuit, chargers with the same phases, minimum and maximum, random tiers."""
    phases = draw(st.sampled_from((1, 3)))
    circuit: dict = {"id": "only", "phases": draw(st.sampled_from((phases, 3)))}
    if draw(st.booleans()) or circuit["phases"] == 1:
        circuit["max_current_a"] = draw(st.floats(20, 200))
        circuit["margin_a"] = draw(st.sampled_from((0, 1, 2.5)))
    if draw(st.booleans()) or "max_current_a" not in circuit:
        circuit["max_power_kw"] = draw(st.floats(15, 120))
    low = draw(st.sampled_from((6, 6, 8)))
    high = draw(st.sampled_from((16, 32, 13.5)))
    rotation = draw(st.sampled_from(("RST", "STR", "TRS") if circuit["phases"] == 3
                                    else ("RST",)))
    count = draw(st.integers(1, 25))
    site = site_of([circuit], [{"charger_id": f"CP-{n:02d}", "circuit": "only",
                                "phases": phases, "phase_rotation": rotation,
                                "min_current_a": low, "max_current_a": high}
                               for n in range(count)])
    sessions = [SessionDemand(f"CP-{n:02d}", 1, n, draw(st.integers(0, 2)),
                              draw(st.integers(0, 5))) for n in range(count)]
    fixed = [FixedLoad("CP-00", 1, draw(st.floats(0, 10)))] if draw(st.booleans()) else []
    return site, [s for s in sessions if not fixed or s.charger_id != "CP-00"], fixed


@PROPERTIES
@given(single_circuit_scenarios())
def test_equal_needs_on_one_circuit_get_equal_shares_higher_tiers_first(scenario):
    site, sessions, fixed = scenario
    result = allocate(site, sessions, fixed)
    tiers: dict[int, list[float]] = {}
    for s in result.sessions:
        if s.state == "charging":
            tiers.setdefault(s.priority, []).append(s.current_a)
    for given_currents in tiers.values():  # rule 5, simplified
        assert max(given_currents) - min(given_currents) < 0.1 + 1e-9, given_currents
    maximum = site.chargers[0].max_current_a
    minimum = site.chargers[0].min_current_a
    for tier, given_currents in tiers.items():  # rule 4 on a shared constraint
        if any(current > minimum for current in given_currents):
            assert all(current == maximum for higher, values in tiers.items() if higher > tier
                       for current in values), tiers
    checks.check_allocation(site, sessions, fixed, {}, result)
