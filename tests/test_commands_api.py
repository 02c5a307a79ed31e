"""The 19 OCPP 1.6 commands end to end: REST -> evedge -> simulated charger -> answer.

The simulator keeps its own configuration keys, local list, reservations and
profiles and validates every frame evedge sends against the official schemas;
each test ends by checking it saw no protocol error.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from contextlib import asynccontextmanager

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import ChargePoint
from ocpp.v16.enums import Action

import simulator
from evedge.storage.models import ChargingProfileRecord, CommandLog, IdTag, Reservation, Transaction

FUTURE = "2030-01-01T00:00:00Z"


@pytest.fixture
async def admin(token) -> str:
    """The admin's token, with the id tags these tests start sessions with."""
    for tag in ("T1", "CARD-R"):
        IdTag.create(id_tag=tag)
    return token


@pytest.fixture
def command(api, admin):
    async def send(charger_id: str, slug: str, body: dict | None = None, token: str = admin):
        return await api.post(f"/api/chargers/{charger_id}/{slug}/", body or {}, token=token)
    return send


@pytest.fixture
def charger(server):
    @asynccontextmanager
    async def open_charger(charger_id: str, **options):
        options.setdefault("meter_interval", 0.05)
        async with simulator.connect(server.ocpp_url, charger_id, **options) as sim:
            yield sim
            assert sim.protocol_errors == []
    return open_charger


async def test_remote_start_and_stop_run_a_whole_session(command, charger, api, admin):
    async with charger("SIM-1") as sim:
        started = await command("SIM-1", "remote-start", {"connector_id": 1, "id_tag": "T1"})
        assert started.status == 200 and started.body == {"status": "Accepted"}
        payload, result = await sim.wait_for_sent("StartTransaction")
        tx = result.transaction_id
        await sim.wait_for_sent("MeterValues")
        stopped = await command("SIM-1", "remote-stop", {"transaction_id": tx})
        assert stopped.body == {"status": "Accepted"}
        await sim.wait_for_sent("StopTransaction")
    row = Transaction.get_by_id(tx)
    assert row.stop_reason == "Remote" and row.energy_wh is not None and row.energy_wh >= 0
    log = await api.get("/api/command-log/?charger=SIM-1", token=admin)
    assert [e["action"] for e in log.body["items"]][:2] == ["RemoteStopTransaction",
                                                            "RemoteStartTransaction"]
    assert log.body["items"][0]["response"] == {"status": "Accepted"}
    assert log.body["items"][0]["username"] == "alice"


async def test_remote_stop_of_unknown_transaction_is_the_chargers_rejected(command, charger):
    async with charger("SIM-2"):
        response = await command("SIM-2", "remote-stop", {"transaction_id": 999})
    assert response.status == 200 and response.body == {"status": "Rejected"}


async def test_reset_reboots_the_charger(command, charger):
    async with charger("SIM-3") as sim:
        sim.clear_events()
        response = await command("SIM-3", "reset", {"type": "Soft"})
        assert response.body == {"status": "Accepted"}
        payload, result = await sim.wait_for_sent("BootNotification", timeout=10)
        assert result.status == "Accepted"


async def test_unlock_and_availability(command, charger, api, admin):
    async with charger("SIM-4", connectors=2) as sim:
        assert (await command("SIM-4", "unlock-connector", {"connector_id": 1})).body == {
            "status": "Unlocked"}
        sim.clear_events()
        changed = await command("SIM-4", "change-availability",
                                {"connector_id": 2, "type": "Inoperative"})
        assert changed.body == {"status": "Accepted"}
        await sim.wait_for_sent("StatusNotification", predicate=lambda p: p["connector_id"] == 2)
    detail = await api.get("/api/chargers/SIM-4/", token=admin)
    status = {c["connector_id"]: c["status"] for c in detail.body["connectors"]}
    assert status[2] == "Unavailable"


async def test_configuration_is_read_changed_and_kept(command, charger, api, admin):
    async with charger("SIM-5"):
        read = await command("SIM-5", "get-configuration", {})
        keys = {item["key"]: item for item in read.body["configuration_key"]}
        assert "HeartbeatInterval" in keys and keys["NumberOfConnectors"]["readonly"] is True
        assert (await command("SIM-5", "change-configuration",
                              {"key": "HeartbeatInterval", "value": "120"})).body == {
            "status": "Accepted"}
        assert (await command("SIM-5", "change-configuration",
                              {"key": "NumberOfConnectors", "value": "9"})).body == {
            "status": "Rejected"}
        assert (await command("SIM-5", "change-configuration",
                              {"key": "NoSuchKey", "value": "1"})).body == {
            "status": "NotSupported"}
        partial = await command("SIM-5", "get-configuration",
                                {"key": ["HeartbeatInterval", "Unknown1"]})
        assert partial.body["unknown_key"] == ["Unknown1"]
    detail = (await api.get("/api/chargers/SIM-5/", token=admin)).body
    assert detail["configuration"]["HeartbeatInterval"]["value"] == "120"
    assert detail["configuration"]["NumberOfConnectors"]["readonly"] is True
    assert len(detail["configuration"]) == len(keys)


async def test_clear_cache_trigger_message_and_data_transfer(command, charger):
    async with charger("SIM-6") as sim:
        assert (await command("SIM-6", "clear-cache")).body == {"status": "Accepted"}
        sim.clear_events()
        triggered = await command("SIM-6", "trigger-message",
                                  {"requested_message": "Heartbeat"})
        assert triggered.body == {"status": "Accepted"}
        await sim.wait_for_sent("Heartbeat")
        transfer = await command("SIM-6", "data-transfer",
                                 {"vendor_id": "evedge", "message_id": "echo", "data": "hello"})
        assert transfer.body["status"] == "Accepted" and transfer.body["data"] == "hello"
        unknown = await command("SIM-6", "data-transfer", {"vendor_id": "com.other"})
        assert unknown.body["status"] == "UnknownVendorId"


async def test_local_list_commands_keep_the_version(command, charger, api, admin):
    async with charger("SIM-7"):
        sent = await command("SIM-7", "send-local-list", {
            "list_version": 3, "update_type": "Full",
            "local_authorization_list": [
                {"id_tag": "CARD-A", "id_tag_info": {"status": "Accepted"}},
                {"id_tag": "CARD-B", "id_tag_info": {"status": "Blocked",
                                                     "expiry_date": FUTURE}}]})
        assert sent.body == {"status": "Accepted"}
        version = await command("SIM-7", "get-local-list-version")
        assert version.body == {"list_version": 3}
    held = await api.get("/api/chargers/SIM-7/local-list/", token=admin)
    assert held.body["list_version"] == 3
    assert {e["id_tag"]: e["status"] for e in held.body["entries"]} == {
        "CARD-A": "Accepted", "CARD-B": "Blocked"}


async def test_reservation_is_numbered_used_and_cancelled(command, charger, api, admin):
    async with charger("SIM-8", connectors=2) as sim:
        reserved = await command("SIM-8", "reserve-now", {
            "connector_id": 1, "expiry_date": FUTURE, "id_tag": "CARD-R"})
        assert reserved.body["status"] == "Accepted"
        reservation_id = reserved.body["reservation_id"]
        detail = (await api.get("/api/chargers/SIM-8/", token=admin)).body
        assert [r["reservation_id"] for r in detail["reservations"]] == [reservation_id]
        await command("SIM-8", "remote-start", {"connector_id": 1, "id_tag": "CARD-R"})
        payload, result = await sim.wait_for_sent("StartTransaction")
        assert payload["reservation_id"] == reservation_id
        used = Reservation.get_by_id(reservation_id)
        assert used.status == "Used" and used.transaction_id == result.transaction_id

        second = await command("SIM-8", "reserve-now", {
            "connector_id": 2, "expiry_date": FUTURE, "id_tag": "CARD-S"})
        cancelled = await command("SIM-8", "cancel-reservation",
                                  {"reservation_id": second.body["reservation_id"]})
        assert cancelled.body == {"status": "Accepted"}
        assert Reservation.get_by_id(second.body["reservation_id"]).status == "Cancelled"
        unknown = await command("SIM-8", "cancel-reservation", {"reservation_id": 424242})
        assert unknown.body == {"status": "Rejected"}


PROFILE = {
    "charging_profile_id": 11, "stack_level": 1,
    "charging_profile_purpose": "TxDefaultProfile", "charging_profile_kind": "Absolute",
    "charging_schedule": {
        "charging_rate_unit": "A", "start_schedule": "2026-01-01T00:00:00Z",
        "charging_schedule_period": [{"start_period": 0, "limit": 16.5},
                                     {"start_period": 3600, "limit": 8.0}]},
}


async def test_charging_profiles_are_set_kept_scheduled_and_cleared(command, charger, api,
                                                                    admin):
    async with charger("SIM-9") as sim:
        applied = await command("SIM-9", "set-charging-profile",
                                {"connector_id": 1, "cs_charging_profiles": PROFILE})
        assert applied.body == {"status": "Accepted"}
        received = await sim.wait_for("SetChargingProfile")
        assert received["cs_charging_profiles"]["charging_schedule"][
            "charging_schedule_period"][0]["limit"] == 16.5
        detail = (await api.get("/api/chargers/SIM-9/", token=admin)).body
        assert [p["charging_profile_id"] for p in detail["charging_profiles"]] == [11]
        schedule = await command("SIM-9", "get-composite-schedule",
                                 {"connector_id": 1, "duration": 7200,
                                  "charging_rate_unit": "A"})
        assert schedule.body["status"] == "Accepted"
        assert schedule.body["charging_schedule"]["charging_schedule_period"]
        cleared = await command("SIM-9", "clear-charging-profile", {"id": 11})
        assert cleared.body == {"status": "Accepted"}
        again = await command("SIM-9", "clear-charging-profile", {"id": 11})
        assert again.body == {"status": "Unknown"}
        detail = (await api.get("/api/chargers/SIM-9/", token=admin)).body
        assert detail["charging_profiles"] == []
    # Only profiles in force are kept (docs/decisions.md D23): the command log has the rest.
    assert not ChargingProfileRecord.select().where(ChargingProfileRecord.profile_id == 11).exists()


async def test_firmware_update_from_the_box_itself(command, charger, api, admin, server):
    firmware = bytes(range(256)) * 4096  # 1 MiB
    uploaded = await api.request("PUT", "/api/firmware/sim-fw-2.0.bin", raw=firmware,
                                 token=admin, headers={"Content-Type": "application/octet-stream"})
    assert uploaded.status == 201
    async with charger("SIM-10") as sim:
        response = await command("SIM-10", "update-firmware", {
            "location": uploaded.body["url"], "retrieve_date": "2026-01-01T00:00:00Z"})
        assert response.status == 200 and response.body == {}
        await sim.wait_for_sent("FirmwareStatusNotification",
                                predicate=lambda p: p["status"] == "Installed", timeout=10)
        assert sim.firmware_download["sha256"] == hashlib.sha256(firmware).hexdigest()
    detail = (await api.get("/api/chargers/SIM-10/", token=admin)).body
    assert detail["firmware_status"] == "Installed"


async def test_diagnostics_are_uploaded_to_the_box(command, charger, api, admin):
    async with charger("SIM-11") as sim:
        location = (await api.get("/api/diagnostics/location/SIM-11/", token=admin)).body
        response = await command("SIM-11", "get-diagnostics", {"location": location["location"]})
        assert response.status == 200 and response.body["file_name"]
        await sim.wait_for_sent("DiagnosticsStatusNotification",
                                predicate=lambda p: p["status"] == "Uploaded", timeout=10)
    listed = await api.get("/api/diagnostics/?charger=SIM-11", token=admin)
    assert [item["name"] for item in listed.body["items"]] == [response.body["file_name"]]


@pytest.mark.parametrize("slug, body, field", [
    ("reset", {}, "type"),
    ("reset", {"type": "Sideways"}, "type"),
    ("change-availability", {"connector_id": "one", "type": "Operative"}, "connector_id"),
    ("reserve-now", {"connector_id": 1, "expiry_date": "tomorrow", "id_tag": "X"},
     "expiry_date"),
    ("reserve-now", {"connector_id": 1, "expiry_date": "2030-01-01T00:00:00", "id_tag": "X"},
     "expiry_date"),
    ("set-charging-profile", {"connector_id": 1, "cs_charging_profiles": {
        **PROFILE, "charging_schedule": {**PROFILE["charging_schedule"],
                                         "charging_schedule_period": [
                                             {"start_period": 0, "limit": 6.25}]}}},
     "cs_charging_profiles.charging_schedule.charging_schedule_period[0].limit"),
    ("change-configuration", {"key": "K" * 51, "value": "1"}, "key"),
    ("get-diagnostics", {"location": "ftp://x", "retries": -1}, "retries"),
    ("clear-cache", {"extra": 1}, "extra"),
    ("remote-start", {"idTag": "X"}, "idTag"),
])
async def test_bad_bodies_are_400_and_never_sent(command, charger, slug, body, field):
    async with charger("SIM-12") as sim:
        sim.clear_events()
        response = await command("SIM-12", slug, body)
        assert response.status == 400, response.body
        assert response.body["field"] == field
        assert not [e for e in sim.history if e.event[0] == "received"]
    assert CommandLog.select().where(CommandLog.charger == "SIM-12").count() == 0


async def test_unknown_command_and_unknown_charger(command, api, admin):
    assert (await command("SIM-X", "reset", {"type": "Soft"})).status == 404
    response = await api.post("/api/chargers/SIM-X/explode/", {}, token=admin)
    assert response.status == 404


class RefusingCharger(ChargePoint):
    @on(Action.clear_cache)
    def on_clear_cache(self, **kwargs):
        raise NotSupportedError(details={"cause": "no cache here"})


async def test_callerror_from_the_charger_is_502_with_its_code(command, library_charger):
    async with library_charger("CP-ERR", cls=RefusingCharger):
        response = await command("CP-ERR", "clear-cache")
    assert response.status == 502 and response.body["code"] == "NotSupported"
    entry = CommandLog.get(CommandLog.charger == "CP-ERR")
    assert entry.outcome == "callerror" and json.loads(entry.response)["code"] == "NotSupported"


async def test_offline_charger_is_503_and_audited(command, charger):
    async with charger("SIM-13"):
        pass
    response = await command("SIM-13", "clear-cache")
    assert response.status == 503
    assert CommandLog.get(CommandLog.charger == "SIM-13").outcome == "offline"


async def test_viewer_cannot_send_commands(api, admin, command, charger):
    await api.post("/api/users/", {"username": "vera", "password": "viewer-pass",
                                   "role": "viewer"}, token=admin)
    viewer = (await api.post("/api/auth/login/", {"username": "vera",
                                                  "password": "viewer-pass"})).body["access"]
    async with charger("SIM-14"):
        assert (await command("SIM-14", "clear-cache", token=viewer)).status == 403


async def test_commands_to_many_chargers_at_once(command, charger):
    async with charger("SIM-A") as a, charger("SIM-B") as b:
        answers = await asyncio.gather(*(
            command(cid, "get-configuration", {"key": ["HeartbeatInterval"]})
            for cid in ("SIM-A", "SIM-B") for _ in range(3)))
    assert all(answer.status == 200 for answer in answers)
    assert a.protocol_errors == [] and b.protocol_errors == []
