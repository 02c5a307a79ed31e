"""Commissioning rehearsals over real HTTP: POST /ui/simulators/<charger_id>/<action>/ makes a
running simulated charger plug a car in and out, swipe a tag, fault and recover, drop off the
network and come back; every answer is checked against the OpenAPI document, and what the
charger sent against what the server recorded and the dashboard socket announced.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from ocpp.v16 import call

from evedge import commissioning
from evedge.simulation.rehearsal import FAULT_CODES
from evedge.storage.models import Transaction

from test_openapi import Answers
from test_pages import authed_socket, next_event

pytestmark = pytest.mark.timeout(60)

PATH = "/ui/simulators/{charger_id}/%s/"
STATIC = Path(__file__).resolve().parent.parent / "static" / "js"
ONLINE = 10  # s for a simulator to connect and register on loopback


@pytest.fixture
async def fleet(server) -> commissioning.SimulatorFleet:
    server.services.simulators.url = server.ocpp_url  # tests serve on an unused port
    return server.services.simulators


@pytest.fixture
async def rehearse(api, fleet, tokens, token):
    """``await rehearse("SIM-1", "plug-in", {...})``: the answer, checked against the
    document (as an operator; CARD-1 is an accepted tag)."""
    assert (await api.post("/api/id-tags/", {"id_tag": "CARD-1"}, token=token)).status == 201
    answers = Answers((await api.get("/api/openapi.json")).body)

    async def act(charger_id: str, action: str, body: dict | None = None, status: int = 200):
        response = await api.post(f"/ui/simulators/{charger_id}/{action}/", body or {},
                                  token=tokens["operator"])
        answers.check("POST", PATH % action, response)
        assert response.status == status, response.body
        return response.body

    act.answers = answers
    return act


async def started(fleet, charger_id: str = "SIM-1", **options):
    fleet.start(charger_id, meter_interval=1, **options)
    charger = fleet.simulated(charger_id)
    await charger.wait_online(ONLINE)
    return charger


async def events_until(ws, done, timeout: float = 10) -> list[dict]:
    """The dashboard events read until ``done(events so far)`` holds (one frame may carry
    several: a boot and the statuses after it)."""
    seen: list[dict] = []

    async def read():
        while not done(seen):
            seen.extend(json.loads(await ws.recv()).get("events", ()))
        return seen
    return await asyncio.wait_for(read(), timeout)


def state(answer: dict, connector_id: int) -> dict:
    [found] = [c for c in answer["connector_states"] if c["connector_id"] == connector_id]
    return found


async def recorded(api, token: str, charger_id: str, connector_id: int) -> dict:
    charger = (await api.get(f"/api/chargers/{charger_id}/", token=token)).body
    [connector] = [c for c in charger["connectors"] if c["connector_id"] == connector_id]
    return {**connector, "online": charger["online"],
            "active": [tx["id"] for tx in charger["active_transactions"]]}


# --- the car and the tag ---------------------------------------------------------------------

async def test_plug_in_swipe_charge_and_plug_out(server, api, fleet, rehearse, token):
    charger = await started(fleet, connectors=2)
    ws, _ = await authed_socket(server, token)
    async with ws:
        plugged = await rehearse("SIM-1", "plug-in", {"connector_id": 2})
        assert plugged["action"] == "plug-in" and plugged["connector_id"] == 2
        assert state(plugged, 2) == {"connector_id": 2, "status": "Preparing",
                                     "error_code": "NoError", "info": "", "plugged_in": True,
                                     "transaction_id": None}
        assert state(plugged, 1)["status"] == "Available"
        # Acknowledged after commit (D1): the record holds it when the answer comes.
        assert (await recorded(api, token, "SIM-1", 2))["status"] == "Preparing"

        swiped = await rehearse("SIM-1", "swipe", {"connector_id": 2, "id_tag": "CARD-1"})
        assert swiped["authorization"] == "Accepted" and not swiped["stopped"]
        transaction_id = swiped["transaction_id"]
        assert isinstance(transaction_id, int) and state(swiped, 2)["status"] == "Charging"
        authorize = await charger.wait_for_event("sent", "Authorize")
        assert authorize[2] == {"id_tag": "CARD-1"}
        assert (await recorded(api, token, "SIM-1", 2))["active"] == [transaction_id]
        meter = await next_event(ws, lambda e: e["type"] == "meter"
                                 and e["transaction_id"] == transaction_id
                                 and (e["power_w"] or 0) > 0)
        assert meter["connector_id"] == 2

        unplugged = await rehearse("SIM-1", "plug-out", {"connector_id": 2})
        assert state(unplugged, 2) == {"connector_id": 2, "status": "Available",
                                       "error_code": "NoError", "info": "",
                                       "plugged_in": False, "transaction_id": None}
    stopped = Transaction.get_by_id(transaction_id)
    assert stopped.stop_reason == "EVDisconnected" and not stopped.stop_inferred
    assert (await recorded(api, token, "SIM-1", 2))["status"] == "Available"
    assert charger.protocol_errors == []


async def test_a_swipe_needs_a_car_and_a_known_tag_and_the_sessions_tag_stops_it(
        api, fleet, rehearse, token):
    charger = await started(fleet)
    no_car = await rehearse("SIM-1", "swipe", {"connector_id": 1, "id_tag": "CARD-1"}, 409)
    assert "no car is plugged into connector 1" in no_car["error"]
    await rehearse("SIM-1", "plug-in", {"connector_id": 1})
    again = await rehearse("SIM-1", "plug-in", {"connector_id": 1}, 409)
    assert "has a car already" in again["error"]

    unknown = await rehearse("SIM-1", "swipe", {"connector_id": 1, "id_tag": "NOBODY"})
    assert unknown["authorization"] == "Invalid" and unknown["transaction_id"] is None
    assert state(unknown, 1)["status"] == "Preparing"  # the car waits for a good tag

    session = await rehearse("SIM-1", "swipe", {"connector_id": 1, "id_tag": "CARD-1"})
    other = await rehearse("SIM-1", "swipe", {"connector_id": 1, "id_tag": "CARD-2"}, 409)
    assert f"transaction {session['transaction_id']} of tag CARD-1" in other["error"]
    # IdToken is case-insensitive: the session's own tag, read in any case, stops it.
    stop = await rehearse("SIM-1", "swipe", {"connector_id": 1, "id_tag": "card-1"})
    assert stop["stopped"] and stop["transaction_id"] == session["transaction_id"]
    assert stop["authorization"] is None
    assert state(stop, 1) == {**state(stop, 1), "status": "Finishing", "plugged_in": True}
    ended = Transaction.get_by_id(session["transaction_id"])
    assert ended.stop_reason == "Local" and ended.stop_id_tag == "card-1"
    finishing = await rehearse("SIM-1", "swipe", {"connector_id": 1, "id_tag": "CARD-1"}, 409)
    assert "Finishing: plug the car out" in finishing["error"]
    out = await rehearse("SIM-1", "plug-out", {"connector_id": 1})
    assert state(out, 1)["status"] == "Available"
    nothing = await rehearse("SIM-1", "plug-out", {"connector_id": 1}, 409)
    assert "no car is plugged into connector 1" in nothing["error"]
    authorizations = [e for e in charger.history if e.event[:2] == ("sent", "Authorize")]
    assert len(authorizations) == 2  # NOBODY and CARD-1; the stop asked nothing
    assert charger.protocol_errors == []


# --- faults ------------------------------------------------------------------------------------

async def test_a_fault_reaches_the_record_and_the_dashboard_with_its_info_then_clears(
        server, api, fleet, rehearse, token):
    await started(fleet, connectors=2)
    ws, _ = await authed_socket(server, token)
    async with ws:
        faulted = await rehearse("SIM-1", "fault", {"connector_id": 1, "error_code":
                                                    "GroundFailure", "info": "RCD tripped"})
        assert state(faulted, 1)["status"] == "Faulted"
        assert state(faulted, 1)["info"] == "RCD tripped"
        event = await next_event(ws, lambda e: e["type"] == "connector.status"
                                 and e["status"] == "Faulted")
        assert event["error_code"] == "GroundFailure" and event["info"] == "RCD tripped"
        assert event["timestamp"].endswith("Z")
        record = await recorded(api, token, "SIM-1", 1)
        assert (record["status"], record["error_code"], record["info"]) == (
            "Faulted", "GroundFailure", "RCD tripped")
        twice = await rehearse("SIM-1", "fault", {"connector_id": 1, "error_code":
                                                  "OverVoltage"}, 409)
        assert "Faulted already (GroundFailure)" in twice["error"]
        blocked = await rehearse("SIM-1", "plug-in", {"connector_id": 1}, 409)
        assert "clear the fault first" in blocked["error"]

        cleared = await rehearse("SIM-1", "clear-fault", {"connector_id": 1})
        assert state(cleared, 1) == {**state(cleared, 1), "status": "Available",
                                     "error_code": "NoError", "info": ""}
        event = await next_event(ws, lambda e: e["type"] == "connector.status"
                                 and e["connector_id"] == 1 and e["status"] == "Available")
        assert event["info"] == ""
        not_faulted = await rehearse("SIM-1", "clear-fault", {"connector_id": 1}, 409)
        assert "not Faulted (it is Available)" in not_faulted["error"]

        whole = await rehearse("SIM-1", "fault", {"connector_id": 0, "error_code":
                                                  "PowerMeterFailure"})
        assert state(whole, 0)["status"] == "Faulted" and state(whole, 2)["status"] == "Available"
        assert (await recorded(api, token, "SIM-1", 0))["error_code"] == "PowerMeterFailure"


async def test_a_session_survives_a_fault_without_energy_and_charges_again(
        api, fleet, rehearse, token):
    charger = await started(fleet)
    await rehearse("SIM-1", "plug-in", {"connector_id": 1})
    session = await rehearse("SIM-1", "swipe", {"connector_id": 1, "id_tag": "CARD-1"})
    await charger.wait_for_current(1, lambda amps: amps[0] > 6)
    await rehearse("SIM-1", "fault", {"connector_id": 1, "error_code": "HighTemperature"})
    assert charger.drawn_current(1) == (0.0, 0.0, 0.0)  # §4.9: Faulted delivers no energy
    assert (await recorded(api, token, "SIM-1", 1))["active"] == [session["transaction_id"]]
    cleared = await rehearse("SIM-1", "clear-fault", {"connector_id": 1})
    assert state(cleared, 1)["status"] == "Charging"
    await charger.wait_for_current(1, lambda amps: amps[0] > 6)
    await rehearse("SIM-1", "fault", {"connector_id": 1, "error_code": "HighTemperature"})
    # Unplugged while Faulted: the session ends, the fault stays as reported.
    out = await rehearse("SIM-1", "plug-out", {"connector_id": 1})
    assert state(out, 1) == {**state(out, 1), "status": "Faulted",
                             "error_code": "HighTemperature", "transaction_id": None}
    assert Transaction.get_by_id(session["transaction_id"]).stop_reason == "EVDisconnected"
    record = await recorded(api, token, "SIM-1", 1)
    assert (record["status"], record["error_code"], record["active"]) == (
        "Faulted", "HighTemperature", [])
    assert charger.protocol_errors == []


# --- the network -------------------------------------------------------------------------------

async def test_offline_until_told_then_back_without_a_boot_and_the_session_goes_on(
        server, api, fleet, rehearse, token):
    charger = await started(fleet, connectors=2)
    await rehearse("SIM-1", "plug-in", {"connector_id": 1})
    session = await rehearse("SIM-1", "swipe", {"connector_id": 1, "id_tag": "CARD-1"})
    boots = sum(1 for e in charger.history if e.event[:2] == ("sent", "BootNotification"))
    ws, _ = await authed_socket(server, token)
    async with ws:
        offline = await rehearse("SIM-1", "go-offline")
        assert offline["held_offline"] and not offline["connected"]
        assert offline["back_at"] is None
        await next_event(ws, lambda e: e["type"] == "charger.disconnected")
        assert not (await recorded(api, token, "SIM-1", 1))["online"]
        twice = await rehearse("SIM-1", "go-offline", {"seconds": 5}, 409)
        assert "offline already" in twice["error"]
        # Offline, a car can still be plugged in (reported once back); a session cannot
        # start, since this simulator asks the Central System first.
        plugged = await rehearse("SIM-1", "plug-in", {"connector_id": 2})
        assert state(plugged, 2)["status"] == "Preparing"
        refused = await rehearse("SIM-1", "swipe", {"connector_id": 2, "id_tag": "CARD-1"}, 409)
        assert "SIM-1 is offline" in refused["error"]
        assert (await recorded(api, token, "SIM-1", 2))["status"] == "Available"

        back = await rehearse("SIM-1", "go-online")
        assert not back["held_offline"]
        await next_event(ws, lambda e: e["type"] == "charger.connected")
        await charger.wait_online(ONLINE)
    assert sum(1 for e in charger.history if e.event[:2] == ("sent", "BootNotification")) == boots
    assert (await recorded(api, token, "SIM-1", 1))["active"] == [session["transaction_id"]]
    assert (await recorded(api, token, "SIM-1", 2))["status"] == "Preparing"
    not_held = await rehearse("SIM-1", "go-online", status=409)
    assert "not held offline" in not_held["error"]
    assert charger.protocol_errors == []


async def test_a_timed_reboot_comes_back_with_a_boot_and_reports_what_changed_offline(
        server, api, fleet, rehearse, token):
    charger = await started(fleet, connectors=2)
    await rehearse("SIM-1", "plug-in", {"connector_id": 1})
    session = await rehearse("SIM-1", "swipe", {"connector_id": 1, "id_tag": "CARD-1"})
    ws, _ = await authed_socket(server, token)
    async with ws:
        offline = await rehearse("SIM-1", "go-offline", {"seconds": 1, "reboot": True})
        assert offline["held_offline"] and offline["back_at"].endswith("Z")
        # The reboot ended the session (reason Reboot, queued until the charger is back).
        assert state(offline, 1) == {**state(offline, 1), "transaction_id": None,
                                     "status": "Preparing", "plugged_in": True}
        fault = await rehearse("SIM-1", "fault", {"connector_id": 2, "error_code":
                                                  "ReaderFailure", "info": "no RFID"})
        assert state(fault, 2)["status"] == "Faulted" and not fault["connected"]

        def faulted(e: dict) -> bool:
            return e["type"] == "connector.status" and e["connector_id"] == 2

        seen = await events_until(ws, lambda events: any(map(faulted, events)))
        kinds = [e["type"] for e in seen]
        assert "charger.boot" in kinds and kinds.index("charger.boot") < kinds.index(
            "connector.status")
        [reported] = filter(faulted, seen)
        assert (reported["status"], reported["error_code"], reported["info"]) == (
            "Faulted", "ReaderFailure", "no RFID")
        await charger.wait_online(ONLINE)
    stopped = Transaction.get_by_id(session["transaction_id"])
    assert stopped.stop_reason == "Reboot" and not stopped.stop_inferred
    listed = (await api.get("/api/simulators/", token=token)).body["items"][0]
    assert not listed["held_offline"] and listed["back_at"] is None and listed["connected"]
    assert charger.protocol_errors == []


async def test_a_simulator_held_offline_still_stops_at_once(api, fleet, rehearse, token):
    charger = await started(fleet)
    await rehearse("SIM-1", "go-offline", {"seconds": 3600})
    began = asyncio.get_running_loop().time()
    stopped = await api.post("/ui/stop-simulator/", {"charger_id": "SIM-1"}, token=token)
    assert stopped.status == 200 and fleet.running() == []
    # Its connection loop waits for the network or the stop, whichever comes first: not
    # for commissioning.STOP_TIMEOUT, after which the fleet would cancel it.
    assert asyncio.get_running_loop().time() - began < commissioning.STOP_TIMEOUT / 2
    assert not charger.connected


# --- refusals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("action, body, field", [
    ("plug-in", {}, "connector_id"),
    ("plug-in", {"connector_id": 0}, "connector_id"),
    ("plug-in", {"connector_id": 3}, "connector_id"),
    ("plug-in", {"connector_id": "1"}, "connector_id"),
    ("plug-in", {"connector_id": True}, "connector_id"),
    ("plug-in", {"connector_id": 1.5}, "connector_id"),
    ("plug-in", {"connector_id": 1, "id_tag": "CARD-1"}, "id_tag"),
    ("plug-out", {"connector_id": -1}, "connector_id"),
    ("swipe", {"connector_id": 1}, "id_tag"),
    ("swipe", {"connector_id": 1, "id_tag": ""}, "id_tag"),
    ("swipe", {"connector_id": 1, "id_tag": "x" * 21}, "id_tag"),
    ("swipe", {"connector_id": 1, "id_tag": 7}, "id_tag"),
    ("fault", {"connector_id": 1}, "error_code"),
    ("fault", {"connector_id": 1, "error_code": "NoError"}, "error_code"),
    ("fault", {"connector_id": 1, "error_code": "groundfailure"}, "error_code"),
    ("fault", {"connector_id": 1, "error_code": "GroundFailure", "info": "x" * 51}, "info"),
    ("fault", {"connector_id": 1, "error_code": "GroundFailure", "info": ["RCD"]}, "info"),
    ("clear-fault", {"connector_id": None}, "connector_id"),
    ("go-offline", {"seconds": 0}, "seconds"),
    ("go-offline", {"seconds": 86401}, "seconds"),
    ("go-offline", {"seconds": "10"}, "seconds"),
    ("go-offline", {"seconds": True}, "seconds"),
    ("go-offline", {"reboot": "yes"}, "reboot"),
    ("go-online", {"seconds": 5}, "seconds"),
])
async def test_bad_bodies_name_the_field_and_change_nothing(
        fleet, rehearse, action, body, field):
    charger = await started(fleet, connectors=2)
    refused = await rehearse("SIM-1", action, body, 400)
    assert refused["field"] == field, refused
    assert all(c.status == "Available" and not c.plugged_in for c in charger.connectors.values())
    assert not charger.held_offline and charger.connected


async def test_only_running_simulators_rehearse(api, fleet, rehearse, tokens, library_charger):
    missing = await rehearse("SIM-NONE", "plug-in", {"connector_id": 1}, 404)
    assert "no simulator SIM-NONE is running" in missing["error"]
    async with library_charger("CP-REAL") as cp:  # a real charger is never driven
        await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="X1"))
        await rehearse("CP-REAL", "go-offline", {}, 404)
    await started(fleet)
    await fleet.stop("SIM-1")
    await rehearse("SIM-1", "plug-in", {"connector_id": 1}, 404)
    viewer = await api.post("/ui/simulators/SIM-1/plug-in/", {"connector_id": 1},
                            token=tokens["viewer"])
    assert viewer.status == 403
    unknown = await api.post("/ui/simulators/SIM-1/explode/", {}, token=tokens["operator"])
    assert unknown.status == 404


# --- the status event ------------------------------------------------------------------------

@pytest.mark.parametrize("sent, announced", [
    ({"timestamp": "2026-11-20T10:00:00+01:00", "info": "RCD tripped"},
     {"timestamp": "2026-11-20T09:00:00.000Z", "info": "RCD tripped"}),
    ({"timestamp": "2026-11-20 09:00:00"}, {"timestamp": "2026-11-20T09:00:00.000Z", "info": ""}),
    ({"timestamp": "yesterday"}, {"timestamp": None, "info": ""}),  # D9: junk is no time
    ({}, {"timestamp": None, "info": ""}),
])
async def test_status_events_carry_the_info_and_the_chargers_own_time(
        server, token, raw_charger, sent, announced):
    ws, _ = await authed_socket(server, token)
    async with ws, raw_charger("CP-T") as cp:
        payload = {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted", **sent}
        assert (await cp.call([2, "s1", "StatusNotification", payload]))[0] == 3
        event = await next_event(ws, lambda e: e["type"] == "connector.status")
    assert event == {"type": "connector.status", "charger_id": "CP-T", "connector_id": 1,
                     "status": "Faulted", "error_code": "GroundFailure", **announced}


def test_the_dashboards_fault_codes_are_the_boxs():
    """The fault dialog offers exactly the codes the box takes (ChargePointErrorCode, §7.6)."""
    text = (STATIC / "simulator-controls.js").read_text()
    start = text.index("FAULT_CODES = [")
    listed = re.findall(r'"(\w+)"', text[start:text.index("];", start)])
    assert len(listed) > 10 and sorted(listed) == sorted(c.value for c in FAULT_CODES)
