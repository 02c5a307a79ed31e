"""The simulated load's pure rules: a car following its allowed current, a charge point's limit
shared between connectors, phase rotation, a battery that tapers, and profile stacking (§3.13).

No server and no sockets; time is an explicit number. Properties are checked with hypothesis.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import simulator
from evedge.simulation.ev import TAPER_FROM, Car
from evedge.simulation.load import (
    MIN_CURRENT,
    CurrentFollower,
    Setpoint,
    check_phase_rotation,
    grid_currents,
    share_current,
    wired_phases,
)
from simulator import ChargingProfiles

NOW = dt.datetime(2025, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def follower(evse=16.0, delay=5.0, ramp=2.0, phases=3):
    return CurrentFollower(0.0, Setpoint(evse, phases=phases), reaction_delay=delay,
                           ramp_rate=ramp)


def amps_at(load: CurrentFollower, t: float) -> float:
    load.advance(t)
    return load.amps


# ---- one car following its setpoint -------------------------------------------------------

def test_a_session_starts_at_6_a_and_ramps_to_the_allowed_current():
    load = follower(evse=16.0, ramp=2.0)
    assert amps_at(load, 0.0) == MIN_CURRENT
    assert amps_at(load, 2.0) == pytest.approx(10.0)
    assert load.ramping and load.next_change() == pytest.approx(5.0)
    assert amps_at(load, 5.0) == 16.0 and not load.ramping
    assert load.next_change() is None


def test_a_lowered_limit_applies_after_the_delay_and_not_before():
    load = follower(evse=16.0, delay=5.0, ramp=None)
    load.command(10.0, Setpoint(10.0))
    assert load.next_change() == 15.0
    assert amps_at(load, 14.999) == 16.0
    assert amps_at(load, 15.0) == 10.0


def test_a_raised_limit_ramps_up_after_the_delay():
    load = follower(evse=8.0, delay=5.0, ramp=2.0)
    amps_at(load, 10.0)
    load.command(10.0, Setpoint(16.0))
    assert amps_at(load, 14.9) == 8.0
    assert amps_at(load, 17.0) == pytest.approx(12.0)
    assert amps_at(load, 19.0) == 16.0


def test_below_6_a_the_car_pauses_and_resumes_from_6_a():
    load = follower(evse=16.0, delay=1.0, ramp=5.0)
    load.command(10.0, Setpoint(4.0))
    assert amps_at(load, 10.9) == 16.0 and load.paused_by is None
    assert amps_at(load, 11.0) == 0.0 and load.paused_by == "EVSE"
    load.command(20.0, Setpoint(12.0))
    assert amps_at(load, 21.0) == MIN_CURRENT and load.paused_by is None
    assert amps_at(load, 22.2) == pytest.approx(12.0)


def test_a_car_that_wants_less_than_6_a_is_the_evs_pause():
    load = follower(evse=16.0, delay=0.0, ramp=None)
    load.command(1.0, Setpoint(16.0, ev=0.0))
    assert amps_at(load, 1.0) == 0.0 and load.paused_by == "EV"


def test_energy_is_the_exact_integral_of_current_times_phases():
    load = follower(evse=16.0, delay=0.0, ramp=2.0, phases=3)
    load.advance(10.0)  # ramp 6 -> 16 A in 5 s (area 55), then 5 s at 16 A (area 80)
    assert load.phase_amp_seconds == pytest.approx((55 + 80) * 3)
    assert load.drain() == pytest.approx(405) and load.drain() == 0.0


@pytest.mark.parametrize("bad, field", [({"delay": -1}, "reaction_delay"),
                                        ({"ramp": 0}, "ramp_rate")])
def test_bad_follower_options_name_the_field(bad, field):
    with pytest.raises(ValueError, match=field):
        follower(**bad)


commands = st.lists(
    st.tuples(st.floats(0.0, 10.0), st.floats(0.0, 40.0), st.sampled_from([1, 3])),
    max_size=8)


@settings(max_examples=100, deadline=None)
@example(commands=[(1e-09, 0.0, 1)], delay=1.0, ramp=None)
# A reaction delay is a physical time: 0, or at least 10 ms.
@given(commands=commands, delay=st.one_of(st.just(0.0), st.floats(0.01, 5.0)),
       ramp=st.one_of(st.none(), st.floats(2.0, 50.0)))
def test_properties_of_the_drawn_current(commands, delay, ramp):
    """At every moment the car draws 0 A or at least 6 A, never more than the setpoint in force
    (applied ``delay`` after its command), and the energy integral matches a fine sum."""
    load = CurrentFollower(0.0, Setpoint(16.0), reaction_delay=delay, ramp_rate=ramp)
    in_force, due, t = [(0.0, Setpoint(16.0))], [], 0.0
    for gap, amps, phases in commands:
        t += gap
        due.append((t, Setpoint(amps, phases=phases)))
    step, total, previous = 0.05, 0.0, None
    for k in range(int((t + delay + 20) / step) + 1):
        moment = k * step
        while due and due[0][0] <= moment:
            at, setpoint = due.pop(0)
            load.command(at, setpoint)
            in_force.append((at + delay, setpoint))
        load.advance(moment)
        amps = load.amps
        assert amps == 0.0 or amps >= MIN_CURRENT - 1e-9
        # At the very instant a setpoint comes into force either one may hold (float sums
        # of gaps and delays; found by a random draw: a command at 1e-9 s, 1 s delay).
        if not any(abs(at - moment) < 1e-6 for at, _ in in_force):
            setpoint = [s for at, s in in_force if at <= moment][-1]
            if setpoint.allowed < MIN_CURRENT:
                assert amps == 0.0
            else:
                assert amps <= setpoint.allowed + 1e-9
        now = amps * load.phases
        if previous is not None:
            total += (previous + now) / 2 * step
        previous = now
    final = in_force[-1][1]
    assert load.amps == pytest.approx(final.allowed if final.paused_by is None else 0.0)
    jumps = len(in_force) + 1
    assert load.phase_amp_seconds == pytest.approx(total, abs=jumps * 40 * 3 * step + 1e-6)


# ---- sharing a charge point's limit --------------------------------------------------------

def test_share_is_fair_and_respects_what_each_connector_wants():
    offers = share_current(32.0, {1: 16.0, 2: 32.0, 3: 10.0}, [1, 2, 3])
    drawn = {key: min(want, offers[key]) for key, want in {1: 16.0, 2: 32.0, 3: 10.0}.items()}
    assert drawn == {1: 11.0, 2: 11.0, 3: 10.0}
    assert share_current(None, {1: 16.0}, [1]) == {1: math.inf}


def test_share_switches_the_last_comer_off_rather_than_pausing_everyone():
    offers = share_current(10.0, {1: 16.0, 2: 16.0}, [1, 2])
    assert offers == {1: 10.0, 2: 0.0}
    assert share_current(4.0, {1: 16.0}, [1]) == {1: 4.0}  # alone below 6 A: it pauses


@settings(max_examples=300, deadline=None)
@given(cap=st.floats(0.0, 100.0),
       wants=st.dictionaries(st.integers(1, 6), st.floats(0.0, 40.0), min_size=1, max_size=6))
def test_properties_of_the_share(cap, wants):
    offers = share_current(cap, wants, sorted(wants))
    drawn = {k: min(w, offers[k]) if w >= MIN_CURRENT and offers[k] >= MIN_CURRENT else 0.0
             for k, w in wants.items()}
    assert sum(drawn.values()) <= cap + 1e-6
    running = [k for k, amps in drawn.items() if amps > 0]
    assert all(drawn[k] <= wants[k] for k in wants)
    if cap >= MIN_CURRENT and any(w >= MIN_CURRENT for w in wants.values()):
        assert running  # a cap of 6 A or more never pauses everyone
    if sum(w for w in wants.values() if w >= MIN_CURRENT) <= cap:
        assert all(drawn[k] == pytest.approx(w) for k, w in wants.items() if w >= MIN_CURRENT)
    if running:  # those still running got fair shares: nobody is capped below another's share
        capped = [drawn[k] for k in running if drawn[k] < wants[k] - 1e-6]
        assert not capped or min(capped) >= max(drawn[k] for k in running) - 1e-6


# ---- phases --------------------------------------------------------------------------------

@pytest.mark.parametrize("rotation, one_phase, three_phase_wired", [
    ("RST", (7.0, 0.0, 0.0), [0, 1, 2]), ("STR", (0.0, 7.0, 0.0), [0, 1, 2]),
    ("TSR", (0.0, 0.0, 7.0), [0, 1, 2]), ("SRT", (0.0, 7.0, 0.0), [0, 1, 2]),
])
def test_phase_rotation_decides_the_grid_phase(rotation, one_phase, three_phase_wired):
    assert grid_currents(7.0, 1, rotation) == one_phase
    assert grid_currents(7.0, 3, rotation) == (7.0, 7.0, 7.0)
    assert wired_phases(3, rotation) == three_phase_wired
    assert wired_phases(1, rotation) == [one_phase.index(7.0)]


def test_phase_rotation_is_checked():
    assert check_phase_rotation(" str ") == "STR"
    for bad in ("RRS", "", "L1", None):
        with pytest.raises(ValueError, match="phase_rotation"):
            check_phase_rotation(bad)


@pytest.mark.parametrize("options, field", [
    ({"phases": 2}, "phases"), ({"phase_rotation": "XYZ"}, "phase_rotation"),
    ({"reaction_delay": -0.1}, "reaction_delay"), ({"ramp_rate": 0}, "ramp_rate"),
    ({"speed": 0}, "speed"), ({"car_max_current": -3}, "car_max_current"),
])
def test_bad_charger_options_name_the_option(options, field):
    with pytest.raises(ValueError, match=field):
        simulator.SimulatedCharger("CP-1", **options)


def test_the_configuration_reports_the_wiring():
    charger = simulator.SimulatedCharger("CP-1", connectors=2, phases=1, phase_rotation="trs")
    assert charger.config.value("ConnectorPhaseRotation") == "0.TRS,1.TRS,2.TRS"
    assert charger.max_current == pytest.approx(11000 / 230)
    assert charger.drawn_current(0) == (0.0, 0.0, 0.0)


# ---- the car's battery ---------------------------------------------------------------------

def test_a_battery_tapers_above_80_percent_and_stops_when_full():
    car = Car(max_current=32.0, phases=3, capacity_wh=10_000.0, soc=50.0)
    assert car.demand() == 32.0
    car.soc = 90.0
    assert car.demand() == pytest.approx(16.0)
    car.soc = 99.5
    assert car.demand() == MIN_CURRENT
    car.charge(1_000.0)
    assert car.full and car.demand() == 0.0 and car.soc == 100.0
    assert Car().demand() == math.inf and not Car().full


@given(soc=st.floats(0.0, 100.0), top=st.floats(6.0, 80.0))
def test_the_taper_never_rises_with_the_state_of_charge(soc, top):
    lower = Car(max_current=top, capacity_wh=50_000.0, soc=soc)
    higher = Car(max_current=top, capacity_wh=50_000.0, soc=min(100.0, soc + 1.0))
    assert higher.demand() <= lower.demand()
    assert lower.demand() == top or soc > TAPER_FROM


# ---- profile stacking (§3.13.2, §3.13.3) ------------------------------------------------------

def profile(pid, purpose, limit, level=0, unit="A", number_phases=None, **extra):
    period = {"start_period": 0, "limit": limit}
    if number_phases:
        period["number_phases"] = number_phases
    return {"charging_profile_id": pid, "stack_level": level, "charging_profile_purpose": purpose,
            "charging_profile_kind": "Absolute",
            "charging_schedule": {"charging_rate_unit": unit, "charging_schedule_period": [period],
                                  "start_schedule": simulator.rfc3339(NOW), **extra}}


def test_tx_profile_replaces_tx_default_and_the_charge_point_maximum_caps_both():
    profiles = ChargingProfiles()
    profiles.install(0, profile(1, "TxDefaultProfile", 20.0))
    assert profiles.tx_limit(1, NOW, NOW).value == 20.0
    profiles.install(1, profile(2, "TxDefaultProfile", 14.0))  # the connector's own default
    assert profiles.tx_limit(1, NOW, NOW).value == 14.0
    assert profiles.tx_limit(2, NOW, NOW).value == 20.0  # the other connector keeps connector 0's
    profiles.install(1, profile(3, "TxProfile", 18.0))  # higher than the default, and wins
    assert profiles.tx_limit(1, NOW, NOW).value == 18.0
    profiles.install(0, profile(4, "ChargePointMaxProfile", 12.0))
    assert profiles.limit_at(1, NOW, "A", NOW) == 12.0
    assert profiles.charge_point_limit(NOW, NOW).value == 12.0


def test_a_higher_stack_level_wins_only_while_it_has_a_period():
    profiles = ChargingProfiles()
    profiles.install(1, profile(1, "TxDefaultProfile", 16.0, level=0))
    profiles.install(1, profile(2, "TxDefaultProfile", 8.0, level=3, duration=60))
    assert profiles.tx_limit(1, NOW + dt.timedelta(seconds=30), NOW).value == 8.0
    assert profiles.tx_limit(1, NOW + dt.timedelta(seconds=60), NOW).value == 16.0
    change = profiles.next_change({0, 1}, NOW + dt.timedelta(seconds=1), NOW, 3600)
    assert change == NOW + dt.timedelta(seconds=60)


def test_watts_become_amps_on_the_phases_in_use():
    profiles = ChargingProfiles()
    profiles.install(1, profile(1, "TxProfile", 6900.0, unit="W"))
    assert profiles.limit_at(1, NOW, "A", NOW, phases=3) == pytest.approx(10.0)
    assert profiles.limit_at(1, NOW, "A", NOW, phases=1) == pytest.approx(30.0)
    profiles.install(1, profile(2, "TxProfile", 2300.0, level=1, unit="W", number_phases=1))
    limit = profiles.tx_limit(1, NOW, NOW)
    assert limit.phases_used(3) == 1 and limit.value_in("A", 3) == pytest.approx(10.0)


def test_composite_schedule_of_a_one_phase_charger():
    profiles = ChargingProfiles()
    profiles.install(1, profile(1, "TxDefaultProfile", 10.0))
    watts = profiles.composite(1, 60, "W", NOW, NOW, 7360.0, phases=1)
    assert watts["charging_schedule_period"] == [{"start_period": 0, "limit": 2300.0}]
    amps = profiles.composite(1, 60, "A", NOW, NOW, 2000.0, phases=1)  # hardware 8.7 A caps it
    assert amps["charging_schedule_period"] == [{"start_period": 0, "limit": 8.7}]
