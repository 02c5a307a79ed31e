"""``evedge simulate run``: a lifelike fleet against the real evedge, time compressed.

Three chargers at speed 60 (a simulated minute per second) with high rates: the server's own
records, read through the REST API, show sessions the drivers started and ended, a fault and its
recovery, and reconnects; and no charger saw a protocol error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys

import pytest

import simulator
from evedge.storage.models import IdTag
from evedge.simulation.behaviour import FleetOptions
from evedge.simulation.fleet import Fleet

LIVELY = FleetOptions(session_rate=240, fault_rate=60, reconnect_rate=60, dwell_minutes=1.5,
                      fault_minutes=0.5, reboot_share=0.5, id_tags=("FLEET-TAG",), seed=7)


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_short_lively_run_leaves_its_traces_in_the_servers_records(server, api):
    IdTag.create(id_tag="FLEET-TAG")
    token = (await api.register("root", "correct-horse"))["access"]
    fleet = Fleet(server.ocpp_url, ["FLEET-1", "FLEET-2", "FLEET-3"], LIVELY, speed=60,
                  meter_interval=0.5, reconnect_base=0.1, reconnect_cap=0.5)
    stop = asyncio.Event()
    running = asyncio.create_task(fleet.run(stop))
    try:
        await fleet.stats.wait_until(
            lambda s: s.sessions_stopped >= 2 and s.recoveries >= 1
            and any(not boot for *_, boot in s.reconnects)
            and any(boot for *_, boot in s.reconnects), timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
    assert fleet.protocol_errors() == {}
    stats = fleet.stats

    ended = await api.get("/api/transactions/?active=false&limit=1000", token=token)
    by_driver = [tx for tx in ended.body["items"] if tx["stop_reason"] == "EVDisconnected"]
    assert len(by_driver) >= stats.sessions_stopped >= 2
    assert all(tx["energy_wh"] > 0 and tx["meter_stop"] > tx["meter_start"] for tx in by_driver)
    started = await api.get("/api/transactions/?limit=1000", token=token)
    assert started.body["total"] >= stats.sessions_started >= 2

    charger_id, connector_id, code = stats.faults[0]
    log = (await api.get(f"/api/chargers/{charger_id}/status-log/?limit=1000", token=token)).body
    history = [(e["status"], e["error_code"]) for e in reversed(log["items"])
               if e["connector_id"] == connector_id]
    faulted = history.index(("Faulted", code))
    assert ("Available", "NoError") in history[faulted + 1:]  # and it recovered

    for charger_id, dropped_at, boot in stats.reconnects:
        detail = (await api.get(f"/api/chargers/{charger_id}/", token=token)).body
        assert parse_time(detail["connected_at"]) > dropped_at  # it came back after the drop
        if boot:
            assert parse_time(detail["last_boot_at"]) > dropped_at


async def test_a_full_car_tapers_suspends_and_its_driver_unplugs(server, api):
    """Above 80 % the car draws less; full, it stops drawing (SuspendedEV); its driver, who
    would otherwise stay for days, notices and unplugs (EVDisconnected). Speed 600: ten
    simulated minutes per second."""
    IdTag.create(id_tag="FLEET-TAG")
    token = (await api.register("root", "correct-horse"))["access"]
    patient = FleetOptions(session_rate=3600, fault_rate=0, reconnect_rate=0,
                           dwell_minutes=10_000, id_tags=("FLEET-TAG",), seed=3)
    fleet = Fleet(server.ocpp_url, ["FULL-1"], patient, speed=600, meter_interval=0.2)
    charger = fleet.chargers["FULL-1"]
    stop = asyncio.Event()
    running = asyncio.create_task(fleet.run(stop))
    try:
        await fleet.stats.wait_until(lambda s: s.sessions_started == 1, timeout=10)
        car = charger.connectors[1].car
        top = min(car.max_current, charger.max_current)
        car.soc = 99.0  # nearly full: the taper holds it at 6 A
        await charger.wait_for_current(1, lambda c: 0 < max(c) < top * 0.5, timeout=5)
        await charger.wait_for_current(1, lambda c: max(c) == 0, timeout=10)
        assert charger.connectors[1].status == "SuspendedEV" and car.full
        await fleet.stats.wait_until(lambda s: s.sessions_stopped == 1, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
    assert fleet.protocol_errors() == {}
    ended = (await api.get("/api/transactions/?charger=FULL-1&active=false", token=token)).body
    assert [tx["stop_reason"] for tx in ended["items"]][-1] == "EVDisconnected"
    log = (await api.get("/api/chargers/FULL-1/status-log/?limit=1000", token=token)).body
    statuses = [e["status"] for e in reversed(log["items"]) if e["connector_id"] == 1]
    suspended = statuses.index("SuspendedEV")
    assert statuses[suspended - 1] == "Charging" and statuses[suspended + 1] == "Finishing"


def test_run_is_the_default_command_and_its_options_are_checked():
    args = simulator._parse_args(["run", "ws://x/ocpp", "--seed", "3", "--speed", "60",
                                  "--session-rate", "12", "--id-tag", "A", "--id-tag", "B",
                                  "--phases", "1", "--phase-rotation", "str"])
    assert (args.url, args.speed, args.fleet.seed, args.fleet.id_tags) == (
        "ws://x/ocpp", 60.0, 3, ("A", "B"))
    assert args.fleet.session_rate == 12.0 and args.phases == 1
    assert simulator._parse_args(["--count", "5"]).fleet == FleetOptions()


@pytest.mark.parametrize("option, value", [
    ("--session-rate", "-1"), ("--dwell-minutes", "0"), ("--reboot-share", "1.5"),
    ("--speed", "0"), ("--phases", "2"), ("--phase-rotation", "ABC"),
    ("--reaction-delay", "-1"), ("--id-tag", "X" * 21),
])
def test_bad_run_options_exit_2_naming_the_option(option, value):
    result = subprocess.run([sys.executable, "simulator.py", option, value],
                            capture_output=True, text=True, timeout=20,
                            cwd=simulator.__file__.rsplit("/", 1)[0])
    assert result.returncode == 2
    assert option.lstrip("-").replace("-", "_") in result.stderr.replace("-", "_")


@pytest.mark.parametrize("field, value", [
    ("session_rate", float("nan")), ("fault_minutes", -1), ("id_tags", ()),
])
def test_fleet_options_name_the_bad_field(field, value):
    with pytest.raises(ValueError, match=field):
        FleetOptions(**{field: value})
