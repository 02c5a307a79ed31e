"""OCPP-J 1.6 framing and CALLERRORs (§4.2.3) over a real WebSocket, frame by frame."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from conftest import RawCharger

BOOT = {"chargePointVendor": "Acme", "chargePointModel": "X1"}


async def test_boot_answer_is_rfc3339_utc(raw_charger):
    async with raw_charger("CP-1") as cp:
        reply = await cp.call([2, "b1", "BootNotification", BOOT])
    assert reply[:2] == [3, "b1"]
    assert reply[2]["status"] == "Accepted"
    assert reply[2]["interval"] == 300
    assert reply[2]["currentTime"].endswith("Z")
    assert len(reply[2]["currentTime"]) == len("2026-01-01T00:00:00.000Z")


T0 = "2026-11-20T10:00:00Z"

# What cannot be understood keeps its CALLERROR in the default (tolerant) mode.
NOT_UNDERSTOOD = [
    ([2, "e1", "FooBar", {}], "NotImplemented", "FooBar"),
    # Reset is a 1.6 action, but one a Central System receives, never handles.
    ([2, "e2", "Reset", {"type": "Hard"}], "NotSupported", "Reset"),
    ([2, "e3", "BootNotification", {"chargePointVendor": "Acme"}],
     "OccurenceConstraintViolation", "chargePointModel is required"),
    ([2, "e4", "BootNotification", {"chargePointVendor": {"name": "Acme"},
                                    "chargePointModel": "X"}],
     "TypeConstraintViolation", "chargePointVendor"),
    ([2, "e5", "StartTransaction", {"connectorId": "1_000", "idTag": "T", "meterStart": 0,
                                    "timestamp": T0}], "TypeConstraintViolation", "connectorId"),
    ([2, "e6", "StartTransaction", {"connectorId": 2 ** 63, "idTag": "T", "meterStart": 0,
                                    "timestamp": T0}],
     "PropertyConstraintViolation", "connectorId"),
    ([2, "e7", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                      "status": "Available",
                                      "timestamp": "0001-01-01T00:00:00+01:00"}],
     "PropertyConstraintViolation", "timestamp"),
    ([2, "e8", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": T0}]}],
     "OccurenceConstraintViolation", "sampledValue is required"),
    ([2, "e9", "Heartbeat"], "ProtocolError", "4 elements"),
    ([7, "e10", "Heartbeat", {}], "FormationViolation", "MessageTypeId"),
    ([2, "e11", "Heartbeat", "not-an-object"], "FormationViolation", "payload"),
    ('[2,"e12","Heartbeat",{}', "FormationViolation", "not valid JSON"),
]

# Deviations whose meaning is clear: repaired by default, refused with strict_validation.
DEVIATIONS = [
    ([2, "d1", "BootNotification", {"chargePointVendor": 7, "chargePointModel": "X"}],
     "TypeConstraintViolation", "chargePointVendor"),
    ([2, "d2", "BootNotification", {"chargePointVendor": "A" * 21, "chargePointModel": "X"}],
     "TypeConstraintViolation", "chargePointVendor"),
    ([2, "d3", "Heartbeat", {"unexpected": 1}], "FormationViolation", "unexpected"),
    ([2, "d4", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                      "status": "Bogus"}], "PropertyConstraintViolation", "status"),
    ([2, "d5", "MeterValues", {"connectorId": 1, "meterValue": []}],
     "OccurenceConstraintViolation", "meterValue"),
    ([2, "d6", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                      "status": "Available", "timestamp": "not-a-date"}],
     "PropertyConstraintViolation", "timestamp"),
]


def _frame_id(frame) -> str:
    return frame[1] if isinstance(frame, list) else "e12"


@pytest.mark.parametrize("frame, code, cause_fragment", NOT_UNDERSTOOD)
async def test_bad_frames_get_the_spec_callerror_and_the_socket_stays_usable(
        raw_charger, frame, code, cause_fragment):
    async with raw_charger("CP-ERR") as cp:
        await _assert_callerror(cp, frame, code, cause_fragment)


@pytest.mark.parametrize("frame, code, cause_fragment", DEVIATIONS)
async def test_strict_validation_answers_every_deviation_with_its_callerror(
        start_server, frame, code, cause_fragment):
    running = await start_server(strict_validation=True)
    async with websockets.connect(f"{running.ocpp_url}/CP-STRICT", subprotocols=["ocpp1.6"],
                                  open_timeout=5) as ws:
        await _assert_callerror(RawCharger(ws), frame, code, cause_fragment)


@pytest.mark.parametrize("frame, code, cause_fragment", DEVIATIONS)
async def test_the_same_deviations_are_repaired_by_default(raw_charger, frame, code,
                                                           cause_fragment):
    async with raw_charger("CP-TOLERANT") as cp:
        reply = await cp.call(frame)
    assert reply[:2] == [3, frame[1]], reply


async def _assert_callerror(cp: RawCharger, frame, code: str, cause_fragment: str) -> None:
    reply = await cp.call(frame)
    assert reply[0] == 4 and reply[1] == _frame_id(frame), reply
    assert reply[2] == code
    assert isinstance(reply[3], str) and reply[3]
    assert cause_fragment in reply[4]["cause"]
    # The connection is still usable after any CALLERROR.
    assert (await cp.call([2, "ok", "Heartbeat", {}]))[:2] == [3, "ok"]


async def test_frames_without_a_recoverable_id_are_dropped_not_fatal(raw_charger):
    async with raw_charger("CP-JUNK") as cp:
        for junk in ("garbage", "{}", "[]", '{"a": 1}', "42"):
            await cp.send(junk)
        reply = await cp.call([2, "after-junk", "Heartbeat", {}])
        # The first frame back is the Heartbeat answer: nothing was sent for the junk.
        assert reply[:2] == [3, "after-junk"]


async def test_unsolicited_callresult_is_ignored(raw_charger):
    async with raw_charger("CP-UNSOL") as cp:
        await cp.send([3, "nobody-asked", {}])
        await cp.send([4, "nobody-asked-2", "GenericError", "", {}])
        assert (await cp.call([2, "hb", "Heartbeat", {}]))[:2] == [3, "hb"]


async def test_subprotocol_ocpp16_is_selected_among_several(server):
    async with websockets.connect(f"{server.ocpp_url}/CP-SUB",
                                  subprotocols=["ocpp2.0.1", "ocpp1.6"]) as ws:
        assert ws.subprotocol == "ocpp1.6"


async def test_charger_offering_no_subprotocol_is_accepted_as_16(server):
    async with websockets.connect(f"{server.ocpp_url}/CP-NOSUB") as ws:
        assert ws.subprotocol is None
        await ws.send(json.dumps([2, "1", "Heartbeat", {}]))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))[:2] == [3, "1"]


async def test_charger_offering_only_other_protocols_is_closed_with_1002(server):
    async with websockets.connect(f"{server.ocpp_url}/CP-201", subprotocols=["ocpp2.0.1"]) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 1002


async def test_missing_subprotocol_refused_when_configured(start_server):
    running = await start_server(allow_missing_subprotocol=False)
    async with websockets.connect(f"{running.ocpp_url}/CP-STRICT") as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 1002


async def test_reconnect_replaces_the_stale_session(server, raw_charger):
    """The field case: the charger lost its link and reconnects before the server noticed.
    The old connection no longer answers pings, so the newcomer takes over."""
    async with raw_charger("CP-TWICE") as first:
        assert (await first.call([2, "1", "Heartbeat", {}]))[0] == 3
        first.ws.transport.pause_reading()  # a dead link: nothing is read, no pong comes back
        async with raw_charger("CP-TWICE") as second:
            # The old socket is closed by the server ...
            first.ws.transport.resume_reading()
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(first.ws.recv(), 10)
            # ... and the new one is the live session.
            assert (await second.call([2, "2", "Heartbeat", {}]))[:2] == [3, "2"]
            assert len(server.services.chargers) == 1
            session = server.services.chargers.get("CP-TWICE")
            assert session is not None and not session.closed.done()


async def test_invalid_charger_id_is_refused_before_upgrade(server):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{server.ocpp_url}/{'x' * 65}", subprotocols=["ocpp1.6"]):
            pass
    assert refused.value.response.status_code == 400


async def test_plain_http_get_is_refused_and_registers_nothing(server, api):
    from evedge.storage.models import Charger
    response = await api.get("/ocpp/CP-PLAIN")
    assert response.status == 400
    assert Charger.select().where(Charger.id == "CP-PLAIN").count() == 0
