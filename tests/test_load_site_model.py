"""The site model of load management: every validation rule with its field path,
defaults, the canonical JSON round trip, and the helpers the live part uses."""

from __future__ import annotations

import copy
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings

from evedge import errors
from evedge.load_management import parse_site
from evedge.load_management.site_model import Circuit, ChargerAssignment, SiteModel
from load_helpers import clean_body, site_bodies


def body(circuits=None, chargers=None, **extra) -> dict:
    """A small valid site: a 100 A root with a 3-phase and a 1-phase feeder."""
    value = {
        "circuits": circuits if circuits is not None else [
            {"id": "main", "parent": None, "max_current_a": 100, "margin_a": 2},
            {"id": "feeder-a", "parent": "main", "max_current_a": 63},
            {"id": "feeder-b", "parent": "main", "max_current_a": 32, "phases": 1,
             "phase": "L2"},
        ],
        "chargers": chargers if chargers is not None else [
            {"charger_id": "CP-1", "circuit": "feeder-a"},
        ],
    }
    value.update(extra)
    return value


def refused(value, field: str | None, *words: str) -> errors.BadRequest:
    with pytest.raises(errors.BadRequest) as caught:
        parse_site(value)
    error = caught.value
    assert error.status == 400
    assert error.field == field, error.message
    if field:
        assert error.message.startswith(f"{field}: "), error.message
    for word in words:
        assert word in error.message, error.message
    return error


def with_circuit(index: int, **changes) -> dict:
    value = body()
    value["circuits"][index].update(changes)
    for key, item in list(changes.items()):
        if item is ...:
            del value["circuits"][index][key]
    return value


def with_charger(**changes) -> dict:
    value = body()
    value["chargers"][0].update(changes)
    for key, item in list(changes.items()):
        if item is ...:
            del value["chargers"][0][key]
    return value


# --- the document as a whole -------------------------------------------------------------

def test_the_empty_model_is_valid_and_means_no_load_management():
    site = parse_site({"circuits": [], "chargers": []})
    assert site.is_empty
    assert site.as_json() == {"circuits": [], "chargers": [], "tag_priorities": {},
                              "grid_meters": []}
    assert site.assignment("CP-1", 1) is None


@pytest.mark.parametrize("value", [None, [], "site", 3])
def test_the_body_must_be_an_object(value):
    refused(value, None, "JSON object")


def test_unknown_top_level_keys_are_refused():
    refused(body(charger=[]), "charger", "unknown key 'charger'")


@pytest.mark.parametrize("key", ["circuits", "chargers"])
def test_circuits_and_chargers_are_required(key):
    value = body()
    del value[key]
    refused(value, key, "is required")


@pytest.mark.parametrize("key", ["circuits", "chargers", "grid_meters"])
def test_lists_must_be_arrays(key):
    value = body()
    value[key] = {"id": "main"}
    refused(value, key, "JSON array")


# --- circuits ----------------------------------------------------------------------------

def test_circuit_defaults_are_filled_in():
    site = parse_site(body(circuits=[{"id": "main", "max_current_a": 100}], chargers=[]))
    assert site.as_json()["circuits"] == [
        {"id": "main", "parent": None, "max_current_a": 100, "max_power_kw": None,
         "margin_a": 0, "phases": 3, "phase": None, "voltage_v": 230}]


def test_a_circuit_entry_must_be_an_object():
    value = body()
    value["circuits"][1] = "feeder-a"
    refused(value, "circuits[1]", "JSON object")


def test_unknown_circuit_keys_are_refused():
    refused(with_circuit(1, max_curent_a=10), "circuits[1].max_curent_a", "unknown key")


@pytest.mark.parametrize("value", [..., "", " main", 7, None])
def test_a_circuit_needs_an_id(value):
    refused(with_circuit(0, id=value), "circuits[0].id")


def test_duplicate_circuit_ids_are_refused():
    refused(with_circuit(2, id="feeder-a"), "circuits[2].id", "duplicate", "circuits[1]")


def test_a_parent_must_exist():
    error = refused(with_circuit(2, parent="feeder-x"), "circuits[2].parent")
    assert error.message == "circuits[2].parent: circuit 'feeder-x' does not exist"


def test_a_parent_must_be_a_name_or_null():
    refused(with_circuit(1, parent=0), "circuits[1].parent", "string")


def test_cycles_are_refused_and_shown():
    value = body(circuits=[
        {"id": "root", "max_current_a": 100},
        {"id": "a", "parent": "b", "max_current_a": 50},
        {"id": "b", "parent": "a", "max_current_a": 50},
    ], chargers=[])
    error = refused(value, "circuits[1].parent")
    assert error.message == "circuits[1].parent: the parents form a cycle: a -> b -> a"


def test_a_circuit_cannot_be_its_own_parent():
    refused(with_circuit(0, parent="main"), "circuits[0].parent", "main -> main")


def test_a_long_cycle_is_shown_whole():
    value = body(circuits=[{"id": name, "parent": parent, "max_current_a": 10}
                           for name, parent in (("x", "z"), ("y", "x"), ("z", "y"))],
                 chargers=[])
    refused(value, "circuits[0].parent", "x -> z -> y -> x")


def test_several_roots_are_separate_grid_connections():
    site = parse_site(body(circuits=[{"id": "grid-1", "max_current_a": 100},
                                     {"id": "grid-2", "max_power_kw": 50}], chargers=[]))
    assert [c.parent for c in site.circuits] == [None, None]


def chain(levels: int) -> list[dict]:
    return [{"id": f"c{n}", "parent": f"c{n - 1}" if n else None, "max_current_a": 100}
            for n in range(levels)]


def test_a_tree_may_be_16_levels_deep():
    site = parse_site(body(circuits=chain(16), chargers=[]))
    assert len(site.path("c15")) == 16


def test_a_deeper_tree_is_refused():
    refused(body(circuits=chain(17), chargers=[]), "circuits[16].parent", "16 levels")
    refused(body(circuits=chain(3000)[::-1], chargers=[]), "circuits[2983].parent")


@pytest.mark.parametrize("value", [2, 0, "3", True, 3.5])
def test_phases_are_1_or_3(value):
    refused(with_circuit(1, phases=value), "circuits[1].phases")


def test_only_a_1_phase_circuit_names_its_phase():
    refused(with_circuit(1, phase="L1"), "circuits[1].phase", "1-phase")


@pytest.mark.parametrize("value", ["L4", "l1", 1])
def test_a_phase_is_l1_l2_or_l3(value):
    refused(with_circuit(2, phase=value), "circuits[2].phase")


def test_a_1_phase_circuit_defaults_to_l1():
    site = parse_site(with_circuit(2, phase=...))
    assert site.circuit("feeder-b").phase == "L1"


@pytest.mark.parametrize("value", [-1, 0, "63", True, [63, 63], [63, 63, 63, 63], None])
def test_current_limits_are_positive_numbers_or_three_of_them(value):
    value = with_circuit(1, max_current_a=value)
    refused(value, "circuits[1].max_current_a")


def test_a_per_phase_limit_names_the_bad_phase():
    refused(with_circuit(1, max_current_a=[63, -1, 63]), "circuits[1].max_current_a[1]")


def test_non_finite_limits_are_refused():
    # Python's json module reads NaN and Infinity; JSON itself has neither.
    refused(json.loads('{"circuits": [{"id": "m", "max_current_a": NaN}], "chargers": []}'),
            "circuits[0].max_current_a", "finite")
    refused(with_circuit(1, max_power_kw=math.inf), "circuits[1].max_power_kw", "finite")


def test_a_1_phase_circuit_has_a_single_limit():
    refused(with_circuit(2, max_current_a=[32, 32, 32]), "circuits[2].max_current_a", "single")


def test_a_circuit_needs_a_current_or_power_limit():
    refused(with_circuit(1, max_current_a=...), "circuits[1].max_current_a", "max_power_kw")


def test_a_power_limit_alone_is_enough():
    site = parse_site(with_circuit(1, max_current_a=..., max_power_kw=22))
    assert site.circuit("feeder-a").max_current_a is None


@pytest.mark.parametrize("value", [0, -5, "22", False])
def test_power_limits_are_positive_numbers(value):
    refused(with_circuit(1, max_power_kw=value), "circuits[1].max_power_kw")


@pytest.mark.parametrize("value", [-1, "2", True])
def test_margins_are_non_negative_numbers(value):
    refused(with_circuit(0, margin_a=value), "circuits[0].margin_a")


@pytest.mark.parametrize("limit, margin", [(100, 100), (100, 101), ([63, 10, 63], 10)])
def test_a_margin_must_stay_below_the_limit(limit, margin):
    refused(with_circuit(0, max_current_a=limit, margin_a=margin), "circuits[0].margin_a",
            "below the current limit")


def test_a_margin_needs_a_current_limit():
    refused(with_circuit(0, max_current_a=..., max_power_kw=50), "circuits[0].margin_a",
            "max_current_a")


@pytest.mark.parametrize("value", [0, -230, "230"])
def test_voltages_are_positive_numbers(value):
    refused(with_circuit(0, voltage_v=value), "circuits[0].voltage_v")


def test_a_child_cannot_have_more_phases_than_its_parent():
    value = body()
    value["circuits"].append({"id": "sub", "parent": "feeder-b", "max_current_a": 16})
    refused(value, "circuits[3].phases", "3 phases", "'feeder-b' has 1")


def test_a_1_phase_child_of_a_1_phase_circuit_is_on_its_phase():
    value = body()
    value["circuits"].append({"id": "sub", "parent": "feeder-b", "max_current_a": 16,
                              "phases": 1})
    assert parse_site(value).circuit("sub").phase == "L2"
    value["circuits"][3]["phase"] = "L3"
    refused(value, "circuits[3].phase", "L2")


def test_a_child_listed_before_its_parent_is_fine():
    site = parse_site(body(circuits=[
        {"id": "sub", "parent": "feeder", "max_current_a": 16, "phases": 1},
        {"id": "feeder", "parent": "main", "max_current_a": 32, "phases": 1, "phase": "L3"},
        {"id": "main", "max_current_a": 100}], chargers=[]))
    assert site.circuit("sub").phase == "L3"


# --- chargers ----------------------------------------------------------------------------

def test_charger_defaults_are_filled_in():
    site = parse_site(body())
    assert site.as_json()["chargers"] == [
        {"charger_id": "CP-1", "connector_id": None, "circuit": "feeder-a",
         "min_current_a": 6, "max_current_a": 32, "phases": 3, "phase_rotation": "RST",
         "priority": 0}]


def test_a_charger_on_a_1_phase_circuit_defaults_to_its_phase():
    site = parse_site(with_charger(circuit="feeder-b"))
    charger = site.chargers[0]
    assert (charger.phases, charger.phase_rotation) == (1, "STR")
    assert charger.phase_vector == (0, 1, 0)


def test_unknown_charger_keys_are_refused():
    refused(with_charger(min_current=6), "chargers[0].min_current", "unknown key")


@pytest.mark.parametrize("key", ["charger_id", "circuit"])
def test_charger_id_and_circuit_are_required(key):
    refused(with_charger(**{key: ...}), f"chargers[0].{key}", "required")


def test_the_circuit_must_exist():
    error = refused(with_charger(circuit="feeder-x"), "chargers[0].circuit")
    assert error.message == "chargers[0].circuit: circuit 'feeder-x' does not exist"


@pytest.mark.parametrize("value", [0, -1, "1", 1.5, True])
def test_connector_ids_are_null_or_1_and_up(value):
    refused(with_charger(connector_id=value), "chargers[0].connector_id")


@pytest.mark.parametrize("key", ["min_current_a", "max_current_a"])
@pytest.mark.parametrize("value", [0, -6, "6", None, True, 6.05])
def test_charger_currents_are_positive_with_one_decimal(key, value):
    refused(with_charger(**{key: value}), f"chargers[0].{key}")


def test_one_decimal_currents_are_accepted():
    charger = parse_site(with_charger(min_current_a=6.1, max_current_a=13.7)).chargers[0]
    assert (charger.min_current_a, charger.max_current_a) == (6.1, 13.7)


def test_the_minimum_cannot_exceed_the_maximum():
    refused(with_charger(min_current_a=16, max_current_a=10), "chargers[0].min_current_a",
            "above max_current_a")


@pytest.mark.parametrize("value", [2, "3", True])
def test_charger_phases_are_1_or_3(value):
    refused(with_charger(phases=value), "chargers[0].phases")


def test_a_charger_cannot_have_more_phases_than_its_circuit():
    refused(with_charger(circuit="feeder-b", phases=3), "chargers[0].phases", "has 1")


@pytest.mark.parametrize("value", ["RTT", "rst", "NotApplicable", "Unknown", 1])
def test_phase_rotations_are_the_six_ocpp_values(value):
    refused(with_charger(phase_rotation=value), "chargers[0].phase_rotation")


def test_on_a_1_phase_circuit_the_rotation_starts_on_its_phase():
    refused(with_charger(circuit="feeder-b", phase_rotation="RST"),
            "chargers[0].phase_rotation", "start with S")
    charger = parse_site(with_charger(circuit="feeder-b", phase_rotation="SRT")).chargers[0]
    assert charger.site_phases == (1,)


def test_a_1_phase_charger_on_a_3_phase_circuit_loads_its_rotations_first_phase():
    charger = parse_site(with_charger(phases=1, phase_rotation="TSR")).chargers[0]
    assert charger.phase_vector == (0, 0, 1)


@pytest.mark.parametrize("value", [1.5, "1", True, None])
def test_priorities_are_integers(value):
    refused(with_charger(priority=value), "chargers[0].priority")


def test_negative_priorities_are_allowed():
    assert parse_site(with_charger(priority=-3)).chargers[0].priority == -3


def test_duplicate_charger_entries_are_refused():
    value = body(chargers=[{"charger_id": "CP-1", "circuit": "feeder-a"},
                           {"charger_id": "CP-1", "connector_id": 2, "circuit": "feeder-a"},
                           {"charger_id": "CP-1", "connector_id": 2, "circuit": "main"}])
    refused(value, "chargers[2].connector_id", "connector 2", "chargers[1]")
    value["chargers"][2]["connector_id"] = None
    refused(value, "chargers[2].connector_id", "whole charger", "chargers[0]")


def test_a_minimum_that_can_never_fit_is_refused():
    value = with_charger(circuit="feeder-b", min_current_a=6)
    value["circuits"][2]["max_current_a"] = 5.5
    refused(value, "chargers[0].min_current_a", "never", "5.5 A on L2")
    value = with_charger(min_current_a=6)
    value["circuits"][1] = {"id": "feeder-a", "parent": "main", "max_power_kw": 4}
    refused(value, "chargers[0].min_current_a", "power limit", "3 phases")


def test_a_minimum_that_just_fits_is_accepted():
    value = with_charger(circuit="feeder-b", min_current_a=6)
    value["circuits"][2].update(max_current_a=8, margin_a=2)
    assert parse_site(value).chargers[0].min_current_a == 6


# --- tag priorities and grid meters ------------------------------------------------------

def test_tag_priorities_are_looked_up_case_insensitively():
    site = parse_site(body(tag_priorities={"Fleet-7": 5, "guest": -1}))
    assert site.tag_priority("FLEET-7") == 5
    assert site.tag_priority("Guest") == -1
    assert site.tag_priority("other") is None
    assert site.tag_priority(None) is None
    charger = site.chargers[0]
    assert site.session_priority(charger, "fleet-7") == 5
    assert site.session_priority(charger, "guest") == 0  # the charger's priority is higher


@pytest.mark.parametrize("value, field", [
    ([], "tag_priorities"),
    ({"A" * 21: 1}, "tag_priorities." + "A" * 21),
    ({"TAG": 1.5}, "tag_priorities.TAG"),
    ({"TAG": "1"}, "tag_priorities.TAG"),
    ({" TAG": 1}, "tag_priorities. TAG"),
])
def test_tag_priorities_map_id_tags_to_integers(value, field):
    refused(body(tag_priorities=value), field)


def test_tags_differing_only_in_case_are_the_same_tag():
    refused(body(tag_priorities={"tag-1": 1, "TAG-1": 2}), "tag_priorities.TAG-1",
            "case-insensitive")


def test_grid_meter_defaults_are_filled_in():
    site = parse_site(body(grid_meters=[
        {"circuit": "main", "source": "modbus", "host": "10.0.0.5", "register": 3000,
         "scale": 0.1},
        {"circuit": "feeder-a", "source": "charger", "charger_id": "METER-1"},
        {"circuit": "feeder-b", "source": "rest"}]))
    assert site.as_json()["grid_meters"] == [
        {"circuit": "main", "source": "modbus", "host": "10.0.0.5", "port": 502,
         "unit_id": 1, "register": 3000, "scale": 0.1},
        {"circuit": "feeder-a", "source": "charger", "charger_id": "METER-1",
         "connector_id": 0},
        {"circuit": "feeder-b", "source": "rest"}]


MODBUS = {"circuit": "main", "source": "modbus", "host": "meter", "register": 1, "scale": 1}


@pytest.mark.parametrize("meter, field", [
    ("meter", "grid_meters[0]"),
    ({"source": "rest"}, "grid_meters[0].circuit"),
    ({"circuit": "main"}, "grid_meters[0].source"),
    ({"circuit": "main", "source": "mqtt"}, "grid_meters[0].source"),
    ({"circuit": "nowhere", "source": "rest"}, "grid_meters[0].circuit"),
    ({"circuit": "main", "source": "rest", "host": "x"}, "grid_meters[0].host"),
    ({"circuit": "main", "source": "rest", "hots": "x"}, "grid_meters[0].hots"),
    ({"circuit": "main", "source": "charger"}, "grid_meters[0].charger_id"),
    ({"circuit": "main", "source": "charger", "charger_id": "M", "connector_id": -1},
     "grid_meters[0].connector_id"),
    ({"circuit": "main", "source": "charger", "charger_id": "M", "register": 1},
     "grid_meters[0].register"),
    ({**MODBUS, "host": ...}, "grid_meters[0].host"),
    ({**MODBUS, "register": ...}, "grid_meters[0].register"),
    ({**MODBUS, "scale": ...}, "grid_meters[0].scale"),
    ({**MODBUS, "port": 0}, "grid_meters[0].port"),
    ({**MODBUS, "port": 70000}, "grid_meters[0].port"),
    ({**MODBUS, "unit_id": 256}, "grid_meters[0].unit_id"),
    ({**MODBUS, "register": 65536}, "grid_meters[0].register"),
    ({**MODBUS, "register": "1"}, "grid_meters[0].register"),
    ({**MODBUS, "scale": 0}, "grid_meters[0].scale"),
    ({**MODBUS, "scale": "x"}, "grid_meters[0].scale"),
])
def test_grid_meters_are_checked_by_source(meter, field):
    if isinstance(meter, dict):
        meter = {key: value for key, value in meter.items() if value is not ...}
    refused(body(grid_meters=[meter]), field)


def test_one_grid_meter_per_circuit():
    refused(body(grid_meters=[{"circuit": "main", "source": "rest"},
                              {"circuit": "main", "source": "rest"}]),
            "grid_meters[1].circuit", "already has a grid meter")


# --- round trip and helpers --------------------------------------------------------------

FULL = {
    "circuits": [
        {"id": "main", "parent": None, "max_current_a": [100, 90, 95.5], "max_power_kw": 60,
         "margin_a": 2, "phases": 3, "phase": None, "voltage_v": 230},
        {"id": "feeder-1", "parent": "main", "max_current_a": 63, "max_power_kw": None,
         "margin_a": 0, "phases": 3, "phase": None, "voltage_v": 230},
        {"id": "feeder-2", "parent": "main", "max_current_a": 32, "max_power_kw": 7.4,
         "margin_a": 1, "phases": 1, "phase": "L3", "voltage_v": 231},
        {"id": "grid-2", "parent": None, "max_current_a": None, "max_power_kw": 22,
         "margin_a": 0, "phases": 3, "phase": None, "voltage_v": 240},
    ],
    "chargers": [
        {"charger_id": "CP-1", "connector_id": None, "circuit": "feeder-1",
         "min_current_a": 6, "max_current_a": 32, "phases": 3, "phase_rotation": "SRT",
         "priority": 0},
        {"charger_id": "CP-1", "connector_id": 2, "circuit": "feeder-2",
         "min_current_a": 8, "max_current_a": 16, "phases": 1, "phase_rotation": "TRS",
         "priority": 2},
        {"charger_id": "CP-2", "connector_id": None, "circuit": "grid-2",
         "min_current_a": 6, "max_current_a": 16.5, "phases": 1, "phase_rotation": "STR",
         "priority": -1},
    ],
    "tag_priorities": {"VIP-1": 10},
    "grid_meters": [{"circuit": "main", "source": "rest"}],
}


def test_the_canonical_json_round_trips():
    site = parse_site(copy.deepcopy(FULL))
    assert site.as_json() == FULL
    assert parse_site(json.loads(json.dumps(site.as_json()))) == site


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(site_bodies())
def test_random_models_round_trip(value):
    site = parse_site(clean_body(value))
    canonical = site.as_json()
    again = parse_site(json.loads(json.dumps(canonical)))
    assert again == site
    assert again.as_json() == canonical
    assert set(canonical) == {"circuits", "chargers", "tag_priorities", "grid_meters"}
    for entry in canonical["circuits"]:
        assert len(entry) == 8


def test_path_goes_from_the_circuit_to_its_root():
    site = parse_site(FULL)
    assert [c.id for c in site.path("feeder-2")] == ["feeder-2", "main"]
    assert [c.id for c in site.path("grid-2")] == ["grid-2"]
    assert [c.id for c in site.children("main")] == ["feeder-1", "feeder-2"]


def test_phase_loads_per_circuit_on_the_path():
    site = parse_site(FULL)
    # connector 2 is on the 1-phase feeder on L3, which maps into main's L3
    assert site.phase_loads(site.assignment("CP-1", 2)) == (
        ("feeder-2", (0, 0, 1)), ("main", (0, 0, 1)))
    assert site.phase_loads(site.assignment("CP-1", 1)) == (
        ("feeder-1", (1, 1, 1)), ("main", (1, 1, 1)))


def test_the_connector_entry_comes_before_the_whole_charger_entry():
    site = parse_site(FULL)
    assert site.assignment("CP-1", 2).circuit == "feeder-2"
    assert site.assignment("CP-1", 1).circuit == "feeder-1"
    assert site.assignment("CP-1", None).circuit == "feeder-1"
    assert site.assignment("CP-1", 0).circuit == "feeder-1"  # connector 0: the whole charger
    assert site.assignment("CP-9", 1) is None                 # not load-managed


def test_an_entry_for_one_connector_only_leaves_the_others_unmanaged():
    site = parse_site(body(chargers=[{"charger_id": "CP-1", "connector_id": 1,
                                      "circuit": "main"}]))
    assert site.assignment("CP-1", 1).circuit == "main"
    assert site.assignment("CP-1", 2) is None


def test_constraints_are_the_limits_after_margin_and_power_over_voltage():
    site = parse_site(FULL)
    rows = {(row.circuit, row.phase): row.capacity_a for row in site.constraints}
    assert rows[("main", 0)] == 98 and rows[("main", 1)] == 88 and rows[("main", 2)] == 93.5
    assert rows[("main", None)] == pytest.approx(60000 / 230)
    assert rows[("feeder-2", 2)] == 31 and ("feeder-2", 0) not in rows
    assert rows[("grid-2", None)] == pytest.approx(22000 / 240)
    assert ("grid-2", 0) not in rows


def test_models_built_in_code_work_like_parsed_ones():
    site = SiteModel(circuits=(Circuit("main", None, 40, None),),
                     chargers=(ChargerAssignment("CP-1", None, "main"),))
    assert site.assignment("CP-1", 1).phase_vector == (1, 1, 1)
    assert parse_site(site.as_json()) == site
