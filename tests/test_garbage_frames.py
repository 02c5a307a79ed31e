"""What the fuzzing campaign found on the OCPP side (issue 10), one test per finding.

Each fails on the code before the fix: a frame of nested brackets dropped the
connection, invalid UTF-8 ended it without a close frame, NUL characters were stored
as sent (and fail a PostgreSQL commit), a reading beyond float range reached the
dashboard as ``Infinity``, and two StopTransactions of a broken meter made every
transaction list and energy report a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import websockets

from conftest import RawCharger, fetch
from fuzz_kit import open_dashboard, strict_json

T0 = "2026-11-20T10:00:00Z"
HEARTBEAT = [2, "hb", "Heartbeat", {}]


def errors_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def still_usable(cp: RawCharger) -> None:
    assert (await cp.call(HEARTBEAT))[:2] == [3, "hb"]


async def test_a_frame_of_1000_nested_brackets_is_logged_and_dropped(raw_charger, caplog):
    caplog.set_level(logging.INFO, logger="evedge")
    async with raw_charger("CP-NEST") as cp:
        await cp.send("[" * 1000 + "]" * 1000)   # no unique id to answer
        # The first frame back is the Heartbeat's: nothing was answered, nothing closed.
        await still_usable(cp)
    assert any("malformed frame" in r.getMessage() and "MessageTypeId a JSON array"
               in r.getMessage() for r in caplog.records)
    assert not errors_logged(caplog)


async def test_deep_nesting_in_a_call_gets_its_answer(raw_charger, caplog):
    nested = "[" * 1000 + "]" * 1000
    async with raw_charger("CP-NEST") as cp:
        # An unknown property, however deep, is dropped and recorded (D10).
        reply = await cp.call(f'[2,"n1","Heartbeat",{{"quirk":{nested}}}]')
        assert reply[:2] == [3, "n1"], reply
        reply = await cp.call(f'[2,"n2","DataTransfer",{{"vendorId":"v","data":{nested}}}]')
        assert reply[:3] == [4, "n2", "TypeConstraintViolation"], reply
        reply = await cp.call(f'[2,"n3","Heartbeat",{nested}]')
        assert reply[:3] == [4, "n3", "FormationViolation"], reply
        await still_usable(cp)
    assert not errors_logged(caplog)


async def test_nesting_deeper_than_the_parser_goes_is_answered_by_its_recovered_id(
        raw_charger, caplog):
    # RFC 8259 §9 lets a parser limit nesting (orjson: 1,024 levels); the frame is then not
    # JSON to us, and its id is read from its start, escapes included.
    nested = "[" * 5000 + "]" * 5000
    async with raw_charger("CP-NEST") as cp:
        for frame, unique_id in ((f'[2,"d1","Heartbeat",{{"quirk":{nested}}}]', "d1"),
                                 (rf'[2,"d\u00e9\u001f","Heartbeat",{nested}]', "d\u00e9\u001f"),
                                 (f' [ 2 , "d3", {nested}', "d3")):
            reply = await cp.call(frame)
            assert reply[:3] == [4, unique_id, "FormationViolation"], reply
            assert reply[4] == {"cause": "frame is not valid JSON"}
        await still_usable(cp)
    assert not errors_logged(caplog)


async def test_invalid_utf8_in_a_text_frame_closes_with_1007(raw_charger):
    async with raw_charger("CP-UTF8") as cp:
        await still_usable(cp)
        await cp.ws.send(b'[2,"u1","Heartbeat",{"x":"\xff"}]', text=True)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(cp.ws.recv(), 10)
    assert closed.value.rcvd.code == 1007   # RFC 6455 §7.4.1: invalid frame payload data
    # A binary frame with the same bytes is read as JSON and refused, not a close.
    async with raw_charger("CP-UTF8") as cp:
        await cp.ws.send(b'[2,"u2","Heartbeat",{"x":"\xff"}]')
        assert (await cp.recv())[:3] == [4, "u2", "FormationViolation"]
        await still_usable(cp)


async def test_nul_in_what_a_charger_sends_is_stored_as_the_replacement_character(
        server, raw_charger, api):
    token = (await api.register())["access"]
    async with raw_charger("CP-NUL") as cp:
        reply = await cp.call([2, "b1", "BootNotification", {
            "chargePointVendor": "Ac\u0000me", "chargePointModel": "X\u0000"}])
        assert reply[:2] == [3, "b1"]
        reply = await cp.call([2, "m1", "MeterValues", {"connectorId": 1, "meterValue": [
            {"timestamp": T0, "sampledValue": [{"value": "12\u00005"}]}]}])
        assert reply[:2] == [3, "m1"]
    charger = (await api.get("/api/chargers/CP-NUL/", token=token)).body
    assert (charger["vendor"], charger["model"]) == ("Ac\ufffdme", "X\ufffd")
    anomalies = (await api.get("/api/chargers/CP-NUL/anomalies/", token=token)).body["items"]
    details = {a["detail"] for a in anomalies}
    assert "BootNotification chargePointVendor: nul_replaced (Ac\ufffdme)" in details
    assert any("meterValue[0].sampledValue[0].value: nul_replaced" in d for d in details)


async def test_a_reading_beyond_float_range_reaches_the_dashboard_as_json(
        server, raw_charger, api):
    token = (await api.register())["access"]
    dashboard = await open_dashboard(server, token)
    async with raw_charger("CP-HUGE") as cp:
        reply = await cp.call([2, "m1", "MeterValues", {"connectorId": 1, "meterValue": [
            {"timestamp": T0, "sampledValue": [
                {"value": "1e306", "measurand": "Power.Active.Import", "unit": "kW"},
                {"value": "1e306", "unit": "kWh"}]}]}])
        assert reply[:2] == [3, "m1"]
    while True:   # the browser's JSON.parse refuses Infinity
        frame = strict_json(await asyncio.wait_for(dashboard.recv(), 5))
        meter = [e for e in frame.get("events", ()) if e["type"] == "meter"]
        if meter:
            break
    assert (meter[0]["power_w"], meter[0]["energy_wh"]) == (None, None)
    await dashboard.close()
    # Stored as sent: the reading is the charger's, only its conversion has no value.
    response = await fetch(f"{server.http_url}/api/chargers/CP-HUGE/",
                           headers={"Authorization": f"Bearer {token}"})
    assert response.code == 200
    strict_json(response.body)


async def test_energies_beyond_64_bits_in_sum_keep_lists_and_reports_working(
        server, raw_charger, api):
    token = (await api.register())["access"]
    async with raw_charger("CP-BIG") as cp:
        for connector in (1, 2):
            started = await cp.call([2, f"s{connector}", "StartTransaction", {
                "connectorId": connector, "idTag": "T", "meterStart": 0, "timestamp": T0}])
            stopped = await cp.call([2, f"e{connector}", "StopTransaction", {
                "transactionId": started[2]["transactionId"], "meterStop": 2 ** 63 - 1,
                "timestamp": T0}])
            assert stopped[:2] == [3, f"e{connector}"]
    listed = await api.get("/api/transactions/", token=token)
    assert listed.status == 200, listed.body
    assert listed.body["totals"]["energy_wh"] == 2 ** 64   # 2 * (2^63 - 1), as a double
    for group in ("day", "charger", "id_tag"):
        report = await api.get(f"/api/reports/energy/?group={group}", token=token)
        assert report.status == 200, report.body
        assert report.body["total_energy_wh"] == 2 ** 64
    csv = await fetch(f"{server.http_url}/api/reports/energy/?format=csv",
                      headers={"Authorization": f"Bearer {token}"})
    assert csv.code == 200 and str(2 ** 64).encode() in csv.body
    assert json.loads(json.dumps(listed.body)) == listed.body
