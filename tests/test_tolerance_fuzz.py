"""Property-based fuzzing of the ten charger-initiated actions over a real socket.

Valid payloads are generated from the 1.6 schemas, then deviated (one or more of the
deviations in tests/schema_strategies.py, each with the outcome the rules give it).
A repairable one must be answered with a CALLRESULT valid against the action's
response schema, and its data must be stored (read back through the REST API, or the
database file where the API shows nothing); an unrecoverable one must get its
CALLERROR code. After either, a Heartbeat on the same socket is answered, and the
server has logged no error or traceback.

Health check: hypothesis warns about function-scoped fixtures in a @given test because
they are not reset between examples. Here that is deliberate: one server and one
socket per test function carry every example (a server per example would cost a
hundred times more), and each example uses a connector and transaction of its own,
so no example reads another's data.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import os
from typing import Any

import jsonschema
import pytest
import websockets
from hypothesis import HealthCheck, given, settings, strategies as st

from evedge.domain import meter_readings
from evedge.chargers import protocol
from evedge.storage.models import DataTransferRecord, MeterSample
from evedge.timeutil import parse_charger_time, to_rfc3339

from conftest import RawCharger
from schema_strategies import Deviated, deviated, valid_payloads

ACTIONS = ["Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
           "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
           "StatusNotification", "StopTransaction"]
CHARGER = "CP-FUZZ"
T0 = "2026-11-20T10:00:00Z"
# The normal round draws the same cases every run (conftest's hypothesis profile);
# the long fuzz (-m slow) explores new ones every run.
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
LONG_FUZZ = settings(FUZZ, max_examples=400, derandomize=False)


def response_schema(action: str) -> jsonschema.Draft4Validator:
    with open(os.path.join(protocol.SCHEMA_DIR, action + "Response.json"),
              encoding="utf-8-sig") as fh:
        return jsonschema.Draft4Validator(json.load(fh))


class Fuzzer:
    """One socket, one API login, and fresh ids for every example."""

    def __init__(self, cp, api, token: str, caplog):
        self.cp, self.api, self.token, self.caplog = cp, api, token, caplog
        self.numbers = itertools.count(1)      # unique ids of frames
        self.connectors = itertools.count(1)   # one connector per example
        self.transaction: int | None = None   # the one this example started

    async def call(self, action: str, payload: dict) -> list:
        unique_id = f"u{next(self.numbers)}"
        reply = await self.cp.call([2, unique_id, action, payload])
        assert reply[1] == unique_id, reply
        return reply

    async def get(self, path: str) -> Any:
        response = await self.api.get(path, token=self.token)
        assert response.status == 200, response.body
        return response.body

    async def start(self, connector_id: int) -> int:
        reply = await self.call("StartTransaction", {
            "connectorId": connector_id, "idTag": f"FZ{connector_id}", "meterStart": 0,
            "timestamp": T0})
        return reply[2]["transactionId"]

    async def prepare(self, action: str, valid: dict) -> dict:
        """Ids of this example's own: a connector, and a transaction where one is needed."""
        number = next(self.connectors)
        if action in ("StartTransaction", "StatusNotification", "MeterValues"):
            valid["connectorId"] = number
        if action == "StartTransaction":
            valid["idTag"] = f"FZ{number}"
        self.transaction = None
        if action in ("MeterValues", "StopTransaction"):
            valid["transactionId"] = self.transaction = await self.start(number)
        return valid

    async def run(self, case: Deviated) -> None:
        reply = await self.call(case.action, case.sent)
        if case.error:
            assert reply[0] == 4 and reply[2] == case.error, (reply, case.deviations)
        else:
            assert reply[0] == 3, (reply, case.deviations)
            response_schema(case.action).validate(reply[2])
            await STORED[case.action](self, case, reply[2])
        assert (await self.call("Heartbeat", {}))[0] == 3
        errors = [r for r in self.caplog.records if r.exc_info or r.levelno >= logging.ERROR]
        assert not errors, errors


# --- what each action stores, read back -------------------------------------------------------

def _time_or(text: Any, fallback: str | None) -> str | None:
    """The stored time of a charger's timestamp: its own, or the receive time."""
    return to_rfc3339(parse_charger_time(text)) or fallback


def expected_samples(meter_value: list[dict], received: str) -> collections.Counter:
    """The meter_sample rows a list of MeterValue makes, with OCPP 1.6's defaults."""
    rows = collections.Counter()
    for reading in meter_value:
        for sample in reading["sampledValue"]:
            measurand = sample.get("measurand") or meter_readings.ENERGY_REGISTER
            unit = sample.get("unit") or ("Wh" if measurand.startswith("Energy.") else None)
            value, raw = meter_readings.parse_sample_value(sample["value"], sample.get("format"))
            rows[(measurand, unit, sample.get("context"), sample.get("phase"),
                  sample.get("location"), value, raw,
                  _time_or(reading["timestamp"], received))] += 1
    return rows


def stored_samples(samples: list[dict]) -> collections.Counter:
    return collections.Counter(
        (s["measurand"], s["unit"], s["context"], s["phase"], s["location"], s["value"],
         s["raw_value"], s["timestamp"]) for s in samples)


def _received(samples: list[dict]) -> str | None:
    return samples[0]["received_at"] if samples else None


async def stored_boot(fuzz: Fuzzer, case: Deviated, answer: dict) -> None:
    charger, sent = await fuzz.get(f"/api/chargers/{CHARGER}/"), case.expected
    assert (charger["vendor"], charger["model"], charger["serial_number"],
            charger["charge_box_serial_number"], charger["firmware_version"]) == (
        sent["chargePointVendor"], sent["chargePointModel"],
        sent.get("chargePointSerialNumber", ""), sent.get("chargeBoxSerialNumber", ""),
        sent.get("firmwareVersion", "")), case.deviations


async def stored_status(fuzz: Fuzzer, case: Deviated, answer: dict) -> None:
    [event] = (await fuzz.get(f"/api/chargers/{CHARGER}/status-log/?limit=1"))["items"]
    sent = case.expected
    assert event == {
        "connector_id": sent["connectorId"], "status": sent["status"],
        "error_code": sent["errorCode"], "info": sent.get("info", ""),
        "vendor_id": sent.get("vendorId", ""),
        "vendor_error_code": sent.get("vendorErrorCode", ""),
        "charger_time": to_rfc3339(parse_charger_time(sent.get("timestamp"))),
        "received_at": event["received_at"]}, case.deviations


async def stored_start(fuzz: Fuzzer, case: Deviated, answer: dict) -> None:
    tx = await fuzz.get(f"/api/transactions/{answer['transactionId']}/")
    sent = case.expected
    assert (tx["connector_id"], tx["id_tag"], tx["meter_start"], tx["reservation_id"],
            tx["start_time"], tx["active"]) == (
        sent["connectorId"], sent["idTag"], sent["meterStart"], sent.get("reservationId"),
        _time_or(sent["timestamp"], tx["start_received_at"]), True), case.deviations


async def stored_meter_values(fuzz: Fuzzer, case: Deviated, answer: dict) -> None:
    sent = case.expected
    if "transactionId" in sent:
        samples = (await fuzz.get(f"/api/transactions/{sent['transactionId']}/"))["meter_samples"]
    else:   # samples outside a transaction have no API of their own: the database file
        samples = [_sample_json(row) for row in MeterSample.select().where(
            MeterSample.charger == CHARGER, MeterSample.connector_id == sent["connectorId"])]
    assert stored_samples(samples) == expected_samples(sent["meterValue"], _received(samples)), \
        case.deviations


def _sample_json(row: MeterSample) -> dict:
    return {"measurand": row.measurand, "unit": row.unit, "context": row.context,
            "phase": row.phase, "location": row.location, "value": row.value,
            "raw_value": row.raw_value, "timestamp": to_rfc3339(row.timestamp),
            "received_at": to_rfc3339(row.received_at)}


async def stored_stop(fuzz: Fuzzer, case: Deviated, answer: dict) -> None:
    sent = case.expected
    tx = await fuzz.get(f"/api/transactions/{fuzz.transaction}/")
    if sent["transactionId"] is None:   # unusable id: answered, recorded, nothing closed
        anomalies = (await fuzz.get(f"/api/chargers/{CHARGER}/anomalies/?limit=5"))["items"]
        assert tx["active"] is True
        assert any(a["kind"] == "unknown_transaction_stop" for a in anomalies)
        return
    meter_stop = sent["meterStop"]
    energy = meter_stop if meter_stop is not None and meter_stop >= 0 else None
    assert (tx["active"], tx["meter_stop"], tx["energy_wh"], tx["stop_reason"],
            tx["stop_id_tag"], tx["stop_time"]) == (
        False, meter_stop, energy, sent.get("reason") or "Local", sent.get("idTag"),
        _time_or(sent["timestamp"], tx["stop_received_at"])), case.deviations
    samples = tx["meter_samples"]
    assert stored_samples(samples) == expected_samples(sent.get("transactionData", []),
                                                       _received(samples)), case.deviations


async def stored_charger_status(fuzz: Fuzzer, case: Deviated, answer: dict) -> None:
    field = "diagnostics_status" if case.action.startswith("Diagnostics") else "firmware_status"
    assert (await fuzz.get(f"/api/chargers/{CHARGER}/"))[field] == case.expected["status"]


async def stored_data_transfer(fuzz: Fuzzer, case: Deviated, answer: dict) -> None:
    # No REST endpoint shows DataTransfer messages: read the database file.
    row = DataTransferRecord.select().order_by(DataTransferRecord.id.desc()).first()
    sent = case.expected
    assert (row.vendor_id, row.message_id, row.data) == (
        sent["vendorId"], sent.get("messageId"), sent.get("data")), case.deviations


async def answered_only(fuzz: Fuzzer, case: Deviated, answer: dict) -> None:
    """Authorize and Heartbeat store nothing: the valid answer is the whole check."""


STORED = {
    "Authorize": answered_only, "Heartbeat": answered_only, "BootNotification": stored_boot,
    "StatusNotification": stored_status, "StartTransaction": stored_start,
    "MeterValues": stored_meter_values, "StopTransaction": stored_stop,
    "DiagnosticsStatusNotification": stored_charger_status,
    "FirmwareStatusNotification": stored_charger_status, "DataTransfer": stored_data_transfer,
}


# --- the tests ----------------------------------------------------------------------------------

@pytest.fixture
async def fuzzer(start_server, caplog):
    # Each example uses a connector id of its own, up to a few hundred in the long run.
    server = await start_server(max_connector_id=10_000)
    tokens = await server.api.register()
    async with websockets.connect(f"{server.ocpp_url}/{CHARGER}", subprotocols=["ocpp1.6"],
                                  open_timeout=5) as ws:
        yield Fuzzer(RawCharger(ws), server.api, tokens["access"], caplog)


async def _one_example(fuzzer: Fuzzer, action: str, data: st.DataObject) -> None:
    valid = await fuzzer.prepare(action, data.draw(valid_payloads(action)))
    await fuzzer.run(data.draw(deviated(action, valid)))


@pytest.mark.parametrize("action", ACTIONS)
@FUZZ
@given(data=st.data())
async def test_deviated_messages_are_repaired_and_stored_or_refused_with_their_code(
        fuzzer, action, data):
    await _one_example(fuzzer, action, data)


# slow tests run by default in this suite (the browser's, the binary's): this one only
# when asked for, ``pytest -m slow tests/test_tolerance_fuzz.py`` (about 2 minutes).
@pytest.mark.slow
@pytest.mark.skipif("'slow' not in config.getoption('markexpr')",
                    reason="long fuzz: select it with -m slow")
@pytest.mark.timeout(600)
@pytest.mark.parametrize("action", ACTIONS)
@LONG_FUZZ
@given(data=st.data())
async def test_long_fuzz(fuzzer, action, data):
    """The same with 400 examples per action."""
    await _one_example(fuzzer, action, data)
