"""The simulated load against the real evedge: charging profiles sent through the REST API change
what the simulated car draws after its reaction delay, per phase, and its MeterValues say so.

Every wait is on an event (the current reaching a value, a message being sent); the only timing
assertions are the reaction delay itself, with a small tolerance.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

import pytest

import simulator
from evedge.storage.models import IdTag
from evedge.simulation.ev import Car

DELAY = 0.5  # s: the reaction delay of the cars in these tests
TOLERANCE = 0.4  # s: event loop and round trips on a busy (shared, 2-core) test machine
FULL = round(11000 / 690, 3)  # A per phase of an 11 kW 3-phase connector


@pytest.fixture
async def admin(api) -> str:
    IdTag.create(id_tag="T1")
    return (await api.register("root", "correct-horse"))["access"]


@pytest.fixture
def command(api, admin):
    async def send(charger_id: str, slug: str, body: dict):
        response = await api.post(f"/api/chargers/{charger_id}/{slug}/", body, token=admin)
        assert response.status == 200, response.body
        return response.body
    return send


@pytest.fixture
def charging(server, admin):
    """A simulated charger with a session running on connector 1 (or more with ``sessions``)."""
    @asynccontextmanager
    async def open_charger(charger_id: str, sessions=(1,), **options):
        options = {"meter_interval": 0, "reaction_delay": DELAY, "ramp_rate": None, **options}
        async with simulator.connect(server.ocpp_url, charger_id, **options) as sim:
            for connector_id in sessions:
                assert await sim.start_charging(connector_id, "T1")
            yield sim
            assert sim.protocol_errors == []
    return open_charger


def tx_profile(pid: int, limit: float, transaction_id: int | None = None, purpose="TxProfile",
               unit="A", level=0) -> dict:
    profile = {
        "charging_profile_id": pid, "stack_level": level, "charging_profile_purpose": purpose,
        "charging_profile_kind": "Relative" if purpose == "TxProfile" else "Absolute",
        "charging_schedule": {"charging_rate_unit": unit,
                              "charging_schedule_period": [{"start_period": 0, "limit": limit}]},
    }
    if purpose != "TxProfile":
        profile["charging_schedule"]["start_schedule"] = "2025-01-01T00:00:00Z"
    if transaction_id is not None:
        profile["transaction_id"] = transaction_id
    return profile


def transaction_of(sim, connector_id: int = 1) -> int:
    return sim.connectors[connector_id].transaction.transaction_id


async def set_profile(command, sim, connector_id: int, profile: dict) -> tuple[float, float]:
    """Send SetChargingProfile through evedge; (time sent, time answered) by time.monotonic."""
    sent = time.monotonic()
    answer = await command(sim.id, "set-charging-profile",
                           {"connector_id": connector_id, "cs_charging_profiles": profile})
    assert answer == {"status": "Accepted"}
    return sent, time.monotonic()


def phases_near(value: float, tolerance: float = 0.01):
    return lambda current: all(abs(amps - value) <= tolerance for amps in current)


async def test_a_lowered_limit_takes_effect_after_the_delay_and_not_before(charging, command):
    async with charging("LOAD-1") as sim:
        assert await sim.wait_for_current(1, phases_near(FULL)) == (FULL, FULL, FULL)
        lower = tx_profile(1, 10.0, transaction_of(sim))
        sent, answered = await set_profile(command, sim, 1, lower)
        assert sim.drawn_current(1) == (FULL, FULL, FULL)  # the car has not reacted yet
        await sim.wait_for_current(1, phases_near(10.0), timeout=DELAY + 2)
        changed = time.monotonic()
        assert changed - sent >= DELAY
        assert changed - answered <= DELAY + TOLERANCE
        assert sim.drawn_current(0) == (10.0, 10.0, 10.0)


async def test_a_raised_limit_ramps_up_after_the_delay(charging, command):
    ramp = 20.0  # A/s: 8 -> 15.9 A takes about 0.4 s
    async with charging("LOAD-2", ramp_rate=ramp) as sim:
        tx = transaction_of(sim)
        await set_profile(command, sim, 1, tx_profile(1, 8.0, tx))
        await sim.wait_for_current(1, phases_near(8.0), timeout=DELAY + 3)
        sent, answered = await set_profile(command, sim, 1, tx_profile(1, 32.0, tx))
        assert sim.drawn_current(1) == (8.0, 8.0, 8.0)
        rising = await sim.wait_for_current(1, lambda c: 8.5 < c[0] < FULL - 0.5, DELAY + 2)
        assert time.monotonic() - sent >= DELAY and rising[0] == rising[1] == rising[2]
        await sim.wait_for_current(1, phases_near(FULL), timeout=DELAY + 2)
        ramp_time = (FULL - 8.0) / ramp
        assert time.monotonic() - sent >= DELAY + ramp_time - 0.05
        assert time.monotonic() - answered <= DELAY + ramp_time + TOLERANCE


async def test_below_6_a_the_car_suspends_and_resumes(charging, command, api, admin):
    async with charging("LOAD-3", ramp_rate=50.0) as sim:
        tx = transaction_of(sim)
        await sim.wait_for_current(1, phases_near(FULL))
        sim.clear_events()
        await set_profile(command, sim, 1, tx_profile(1, 4.0, tx))
        await sim.wait_for_current(1, phases_near(0.0), timeout=DELAY + 2)
        payload, _ = await sim.wait_for_sent("StatusNotification", timeout=2)
        assert (payload["connector_id"], payload["status"]) == (1, "SuspendedEVSE")
        detail = (await api.get("/api/chargers/LOAD-3/", token=admin)).body
        assert {c["connector_id"]: c["status"] for c in detail["connectors"]}[1] == "SuspendedEVSE"

        await set_profile(command, sim, 1, tx_profile(1, 10.0, tx))
        resumed = await sim.wait_for_current(1, lambda c: c[0] > 0, timeout=DELAY + 2)
        assert resumed[0] >= 6.0  # a car never draws less than 6 A while it charges
        payload, _ = await sim.wait_for_sent("StatusNotification", timeout=2)
        assert payload["status"] == "Charging"
        await sim.wait_for_current(1, phases_near(10.0), timeout=2)


def samples_of(payload: dict) -> list[dict]:
    return payload["meter_value"][0]["sampled_value"]


def measured(samples: list[dict], measurand: str) -> float:
    return next(float(s["value"]) for s in samples if s["measurand"] == measurand)


async def test_meter_values_of_a_three_phase_charger(charging):
    """Current.Import per phase, the power they make, and a register that grows by that power
    (speed 60: half a second of MeterValues interval is half a simulated minute)."""
    async with charging("LOAD-4", meter_interval=0.5, speed=60) as sim:
        sim.clear_events()
        readings = []
        for _ in range(2):
            payload, _ = await sim.wait_for_sent("MeterValues", timeout=3)
            readings.append((simulator.parse_rfc3339(payload["meter_value"][0]["timestamp"]),
                             samples_of(payload)))
        (first_at, first), (second_at, second) = readings
        currents = {s["phase"]: float(s["value"]) for s in first
                    if s["measurand"] == "Current.Import"}
        assert currents == {phase: pytest.approx(FULL, abs=0.01) for phase in ("L1", "L2", "L3")}
        assert all("phase" not in s for s in first if s["measurand"] != "Current.Import")
        power = measured(first, "Power.Active.Import")
        assert power == pytest.approx(sum(currents.values()) * 230, abs=5)
        simulated_hours = (second_at - first_at).total_seconds() * 60 / 3600
        grown = measured(second, "Energy.Active.Import.Register") - measured(
            first, "Energy.Active.Import.Register")
        assert grown == pytest.approx(power * simulated_hours, abs=2)


async def test_meter_values_of_a_one_phase_charger_on_its_wired_phase(charging, api, admin):
    async with charging("LOAD-5", phases=1, phase_rotation="STR", power_w=7360) as sim:
        await sim.wait_for_current(1, lambda c: c[1] == 32.0)
        assert sim.drawn_current(1) == (0.0, 32.0, 0.0)  # STR: the connector's L1 is grid L2
        await sim.meter_values(1)
        samples = samples_of((await sim.wait_for_sent("MeterValues"))[0])
        currents = [(s.get("phase"), s["value"]) for s in samples
                    if s["measurand"] == "Current.Import"]
        assert currents == [("L2", "32.00")]
        power = next(float(s["value"]) for s in samples if s["measurand"] == "Power.Active.Import")
        assert power == pytest.approx(32 * 230)
        tx = transaction_of(sim)
    detail = (await api.get(f"/api/transactions/{tx}/", token=admin)).body
    stored = [(s["phase"], s["value"]) for s in detail["meter_samples"]
              if s["measurand"] == "Current.Import"]
    assert stored == [("L2", 32.0)]


async def test_a_one_phase_car_on_a_three_phase_charger_follows_the_rotation(server):
    async with simulator.connect(server.ocpp_url, "LOAD-6", meter_interval=0, ramp_rate=None,
                                 phase_rotation="TRS", reaction_delay=DELAY) as sim:
        IdTag.create(id_tag="T1")
        sim.connectors[1].car = Car(max_current=12.0, phases=1)
        assert await sim.start_charging(1, "T1")
        assert await sim.wait_for_current(1, lambda c: c[2] > 0) == (0.0, 0.0, 12.0)
        assert sim.protocol_errors == []


async def test_charge_point_maximum_is_shared_and_tx_profile_beats_tx_default(charging, command):
    async with charging("LOAD-7", sessions=(1, 2), connectors=2) as sim:
        await sim.wait_for_current(0, phases_near(2 * FULL, 0.02))
        # connector 0's TxDefaultProfile limits each connector on its own
        await set_profile(command, sim, 0, tx_profile(1, 12.0, purpose="TxDefaultProfile"))
        await sim.wait_for_current(0, phases_near(24.0), timeout=DELAY + 2)
        # the charge point maximum limits both together: 20 A shared is 10 A each
        await set_profile(command, sim, 0, tx_profile(2, 20.0, purpose="ChargePointMaxProfile"))
        await sim.wait_for_current(0, phases_near(20.0), timeout=DELAY + 2)
        assert sim.drawn_current(1) == sim.drawn_current(2) == (10.0, 10.0, 10.0)
        # a TxProfile replaces the default on its connector; the other connector then gets the
        # rest of the charge point maximum, up to its own default
        await set_profile(command, sim, 1, tx_profile(3, 8.0, transaction_of(sim, 1)))
        await sim.wait_for_current(1, phases_near(8.0), timeout=DELAY + 2)
        await sim.wait_for_current(2, phases_near(12.0), timeout=DELAY + 2)
        # a higher TxProfile beats the lower default too, once the maximum is gone
        await set_profile(command, sim, 1, tx_profile(3, 16.0, transaction_of(sim, 1)))
        cleared = await command("LOAD-7", "clear-charging-profile", {"id": 2})
        assert cleared == {"status": "Accepted"}
        await sim.wait_for_current(1, phases_near(FULL), timeout=DELAY + 2)
        assert sim.drawn_current(2) == (12.0, 12.0, 12.0)
        schedule = await command("LOAD-7", "get-composite-schedule",
                                 {"connector_id": 1, "duration": 60, "charging_rate_unit": "W"})
        periods = schedule["charging_schedule"]["charging_schedule_period"]
        assert [(p["start_period"], float(p["limit"])) for p in periods] == [(0, 11000.0)]


async def test_a_watt_limit_is_converted_on_the_chargers_phases(charging, command):
    async with charging("LOAD-8", phases=1, power_w=7360) as sim:
        await set_profile(command, sim, 1, tx_profile(1, 2300.0, transaction_of(sim), unit="W"))
        assert await sim.wait_for_current(1, lambda c: c[0] == 10.0, DELAY + 2) == (10.0, 0, 0)
        schedule = await command("LOAD-8", "get-composite-schedule",
                                 {"connector_id": 1, "duration": 60, "charging_rate_unit": "A"})
        periods = schedule["charging_schedule"]["charging_schedule_period"]
        assert [(p["start_period"], float(p["limit"])) for p in periods] == [(0, 10.0)]
