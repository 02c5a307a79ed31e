"""Unit tests of simulator.py's pure parts: no server and no sockets.

The simulator's behaviour over a real websocket is covered by the OCPP flow tests, which drive
it against the real server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys

import pytest
from ocpp.charge_point import snake_to_camel_case
from ocpp.messages import CallResult, _validate_payload

import simulator
from simulator import ChargingProfiles, Configuration, LocalAuthList, SimulatedCharger

NOW = dt.datetime(2025, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
ACTIONS_FROM_CENTRAL_SYSTEM = {
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
    "ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration",
    "GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction", "RemoteStopTransaction",
    "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile", "TriggerMessage",
    "UnlockConnector", "UpdateFirmware",
}


def profile(pid, purpose="TxDefaultProfile", level=0, periods=((0, 16.0),), unit="A", **extra):
    schedule = {
        "charging_rate_unit": unit,
        "charging_schedule_period": [{"start_period": s, "limit": lim} for s, lim in periods],
        "start_schedule": simulator.rfc3339(NOW - dt.timedelta(minutes=1)),
    }
    schedule.update(extra.pop("schedule", {}))
    return {"charging_profile_id": pid, "stack_level": level, "charging_profile_purpose": purpose,
            "charging_profile_kind": extra.pop("kind", "Absolute"),
            "charging_schedule": schedule, **extra}


def test_import_has_no_side_effects():
    code = ("import logging, asyncio, ocpp.messages, simulator; "
            "assert logging.getLogger().handlers == []; "
            "assert logging.getLogger('evedge.simulator').handlers == []; "
            "assert ocpp.messages.ASYNC_VALIDATION is True")
    here = simulator.__file__.rsplit("/", 1)[0]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=here)


@pytest.mark.parametrize("text", ["2025-05-01T12:00:00Z", "2025-05-01T12:00:00.123+02:00",
                                  "2025-05-01t12:00:00.5z"])
def test_rfc3339_accepts(text):
    assert simulator.parse_rfc3339(text).tzinfo is not None


@pytest.mark.parametrize("text", ["2025-05-01T12:00:00", "2025-05-01 12:00:00Z", "yesterday",
                                  "2025-05-01T12:00:00+0200", None, 17])
def test_rfc3339_rejects(text):
    with pytest.raises(ValueError):
        simulator.parse_rfc3339(text)


def test_rfc3339_formats_utc_with_z():
    local = NOW.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert simulator.rfc3339(local) == "2025-05-01T12:00:00.000Z"


def test_url_and_basic_auth():
    assert simulator.charger_url("ws://h:8000/ocpp/", "CP 1/x") == "ws://h:8000/ocpp/CP%201%2Fx"
    assert simulator.basic_auth_header("CP-1", "pw") == "Basic Q1AtMTpwdw=="


def test_configuration_report_and_change():
    config = Configuration(connectors=2, meter_interval=10)
    known, unknown = config.report(["heartbeatinterval", "Nope"])
    assert known == [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
    assert unknown == ["Nope"]
    assert len(config.report(None)[0]) == len(config.entries) >= 20
    assert config.change("NumberOfConnectors", "3") == "Rejected"
    assert config.change("HeartbeatInterval", "1.5") == "Rejected"
    assert config.change("Bogus", "1") == "NotSupported"
    assert config.change("LocalPreAuthorize", "TRUE") == "Accepted"
    assert config.flag("localpreauthorize") is True
    assert config.change("MeterValuesSampledData", "Voltage,SoC") == "Rejected"
    assert config.change("MeterValuesSampledData", " Voltage , Current.Import ") == "Accepted"
    assert config.value("MeterValuesSampledData") == "Voltage,Current.Import"


def test_local_list_full_and_differential():
    local = LocalAuthList()
    ok = {"status": "Accepted"}
    assert local.apply("Full", 3, [{"id_tag": "A", "id_tag_info": ok}], 10) == "Accepted"
    assert local.apply("Differential", 3, [], 10) == "VersionMismatch"
    entries = [{"id_tag": "B", "id_tag_info": ok}, {"id_tag": "A"}]
    assert local.apply("Differential", 4, entries, 10) == "Accepted"
    assert local.entries == {"B": ok} and local.get("b") == ok
    assert local.apply("Full", 5, [{"id_tag": str(n), "id_tag_info": ok} for n in range(3)],
                       2) == "Failed"
    assert local.apply("Full", 6, [], 10) == "Accepted" and local.version == 0


def test_profiles_replace_by_id_or_slot_and_clear():
    profiles = ChargingProfiles()
    profiles.install(1, profile(1))
    profiles.install(1, profile(2))  # same connector, purpose and stack level: replaces 1
    profiles.install(0, profile(3, "ChargePointMaxProfile"))
    profiles.install(0, profile(3, "ChargePointMaxProfile", level=2))  # same id: replaces
    assert set(profiles.installed) == {2, 3}
    assert profiles.clear(profile_id=99) == 0
    assert profiles.clear(purpose="TxDefaultProfile", connector_id=1) == 1
    assert profiles.clear() == 1 and profiles.installed == {}


def test_limit_combines_purposes_and_stack_levels():
    profiles = ChargingProfiles()
    profiles.install(0, profile(1, "ChargePointMaxProfile", periods=((0, 20.0),)))
    profiles.install(0, profile(2, "TxDefaultProfile", periods=((0, 16.0),)))
    assert profiles.limit_at(1, NOW, "A", NOW) == 16.0
    profiles.install(1, profile(3, "TxDefaultProfile", periods=((0, 10.0),)))
    profiles.install(1, profile(4, "TxDefaultProfile", level=5, periods=((0, 12.0),)))
    assert profiles.limit_at(1, NOW, "A", NOW) == 12.0  # connector's own, highest level
    profiles.install(1, profile(5, "TxProfile", periods=((0, 32.0),)))
    assert profiles.limit_at(1, NOW, "A", NOW) == 20.0  # capped by the charge point maximum
    assert profiles.limit_at(1, NOW, "W", NOW) == 20.0 * 230 * 3
    assert profiles.limit_at(0, NOW, "A", NOW) == 20.0


def test_composite_schedule_is_valid_ocpp16():
    profiles = ChargingProfiles()
    relative = profile(1, periods=((0, 6.25), (60, 10.0)), kind="Relative",
                       schedule={"start_schedule": None, "duration": 120})
    profiles.install(1, relative)
    schedule = profiles.composite(1, 300, "A", NOW, NOW, max_power_w=11000)
    periods = schedule["charging_schedule_period"]
    # 6.25 A is rounded for multipleOf 0.1; after 120 s the hardware maximum (15.9 A) applies.
    assert periods == [{"start_period": 0, "limit": 6.2}, {"start_period": 60, "limit": 10.0},
                       {"start_period": 120, "limit": 15.9}]
    payload = {"status": "Accepted", "connectorId": 1, "scheduleStart": simulator.rfc3339(NOW),
               "chargingSchedule": snake_to_camel_case(schedule)}
    _validate_payload(CallResult("1", payload, "GetCompositeSchedule"), "1.6")  # raises if not
    assert profiles.composite(1, 60, None, NOW, NOW, 11000)["charging_rate_unit"] == "A"
    assert profiles.composite(2, 60, None, NOW, NOW, 11000) is None  # no profile concerns it
    assert ChargingProfiles().composite(1, 60, None, NOW, NOW, 11000) is None


def test_composite_follows_a_daily_recurrence():
    start = NOW - dt.timedelta(days=3, seconds=30)  # recurs 30 s before NOW
    profiles = ChargingProfiles()
    profiles.install(0, profile(1, kind="Recurring", recurrency_kind="Daily",
                                periods=((0, 8.0), (3600, 16.0)),
                                schedule={"start_schedule": simulator.rfc3339(start)}))
    before = NOW - dt.timedelta(hours=1)
    periods = profiles.composite(1, 7200, "A", before, before, 11000)["charging_schedule_period"]
    assert periods == [{"start_period": 0, "limit": 15.9}, {"start_period": 3570, "limit": 8.0},
                       {"start_period": 7170, "limit": 15.9}]


def test_raw_frame_ids():
    assert simulator._raw_frame_id('[2,"a","Heartbeat",{}]') == "a"
    assert simulator._raw_frame_id("[2, 7]") == 7
    assert simulator._raw_frame_id("not json") is None
    assert simulator._raw_frame_id('{"a": 1}') is None


def test_charger_routes_all_central_system_actions():
    charger = SimulatedCharger("CP-1", connectors=2)
    assert set(charger.route_map) == ACTIONS_FROM_CENTRAL_SYSTEM
    assert sorted(charger.connectors) == [0, 1, 2]
    assert charger.config.value("NumberOfConnectors") == "2"
    assert not charger.connected and charger.protocol_errors == []


def test_handlers_answer_from_state_without_a_connection():
    charger = SimulatedCharger("CP-1")
    answer = charger.on_get_configuration(key=["HeartbeatInterval", "X"])
    assert answer.unknown_key == ["X"]
    assert charger.on_change_configuration(key="MeterValueSampleInterval", value="5").status == \
        "Accepted"
    assert charger.meter_interval == 5
    assert charger.on_get_local_list_version().list_version == 0
    assert charger.on_data_transfer(vendor_id="EVEDGE", data="x").data == "x"
    assert charger.on_data_transfer(vendor_id="acme").status == "UnknownVendorId"
    assert charger.on_remote_stop_transaction(transaction_id=1).status == "Rejected"
    # not registered yet: no remote start, and only BootNotification may be triggered (§4.2)
    assert charger.on_remote_start_transaction(id_tag="T").status == "Rejected"
    assert charger.on_trigger_message(requested_message="Heartbeat").status == "Rejected"
    assert charger.on_unlock_connector(connector_id=0).status == "NotSupported"
    assert charger.on_change_availability(connector_id=3, type="Inoperative").status == "Rejected"
    tx_profile = profile(1, "TxProfile")
    assert charger.on_set_charging_profile(connector_id=1,
                                           cs_charging_profiles=tx_profile).status == "Rejected"
    assert charger.on_get_composite_schedule(connector_id=1, duration=60).status == "Rejected"
    assert charger.on_clear_charging_profile().status == "Unknown"
    assert charger.protocol_errors == []


def test_cli_arguments():
    args = simulator._parse_args(["ws://x/ocpp", "--count", "3", "--auto-start-tag", "T"])
    assert (args.url, args.count, args.auto_start_tag) == ("ws://x/ocpp", 3, "T")
    assert simulator._parse_args(["--url", "ws://y/ocpp"]).url == "ws://y/ocpp"
    assert simulator._parse_args([]).url == simulator.DEFAULT_URL
    with pytest.raises(SystemExit):
        simulator._parse_args(["--count", "0"])


@pytest.mark.parametrize("url", ["http://[broken/fw.bin", "ftp://host/fw.bin", "not a url"])
async def test_transfer_to_an_unusable_url_fails_like_a_charger_reports_it(url):
    """A malformed location ends in DownloadFailed/UploadFailed, never in an exception."""
    charger = SimulatedCharger("CP-1")
    assert await asyncio.wait_for(charger._http_transfer("GET", url, None, 0, 0), 5) is None
