"""Charger-initiated OCPP 1.6 flows with the ocpp library's own (schema-validating) client.

Each reply is validated against the official 1.6 schemas by the client library;
what was stored is checked through the REST API and the database file.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from ocpp.v16 import call

from evedge.storage.models import (Anomaly, Charger, Connector, IdTag, MeterSample, StatusEvent,
                                   Transaction)

T0 = "2026-11-20T10:00:00Z"


def sample(value: str, measurand: str, unit: str, **extra) -> dict:
    return {"value": value, "measurand": measurand, "unit": unit, **extra}


def meter_values(transaction_id: int | None, energy: float, power: float,
                 at: str = T0) -> call.MeterValues:
    return call.MeterValues(connector_id=1, transaction_id=transaction_id, meter_value=[{
        "timestamp": at,
        "sampled_value": [
            sample(str(energy), "Energy.Active.Import.Register", "Wh", context="Sample.Periodic"),
            sample(str(power), "Power.Active.Import", "W", context="Sample.Periodic"),
            sample("16.0", "Current.Import", "A", phase="L1"),
            sample("230.1", "Voltage", "V", phase="L1-N"),
        ]}])


async def test_full_session_is_stored_and_visible_in_the_api(server, api, library_charger):
    IdTag.create(id_tag="CARD-1", status="Accepted")
    tokens = await api.register()
    async with library_charger("CP-FLOW") as cp:
        boot = await cp.call(call.BootNotification(charge_point_vendor="Acme",
                                                   charge_point_model="X1",
                                                   firmware_version="1.2.3"))
        assert boot.status == "Accepted"
        assert (await cp.call(call.Heartbeat())).current_time.endswith("Z")
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                              status="Available"))
        auth = await cp.call(call.Authorize(id_tag="CARD-1"))
        assert auth.id_tag_info["status"] == "Accepted"
        start = await cp.call(call.StartTransaction(connector_id=1, id_tag="CARD-1",
                                                    meter_start=1000, timestamp=T0))
        tx = start.transaction_id
        assert start.id_tag_info["status"] == "Accepted"
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                              status="Charging"))
        await cp.call(meter_values(tx, 1500, 7200, "2026-11-20T10:05:00Z"))

        listing = await api.get("/api/chargers/", token=tokens["access"])
        [charger] = listing.body
        assert charger["online"] is True and charger["vendor"] == "Acme"
        assert charger["active_transaction"]["id"] == tx
        assert charger["active_transaction"]["power_w"] == 7200
        assert charger["active_transaction"]["energy_wh"] == 500
        assert charger["connectors"][0]["status"] == "Charging"

        stop = await cp.call(call.StopTransaction(
            meter_stop=3000, timestamp="2026-11-20T10:30:00Z", transaction_id=tx,
            reason="Local", id_tag="CARD-1",
            transaction_data=[{"timestamp": "2026-11-20T10:30:00Z", "sampled_value": [
                sample("3000", "Energy.Active.Import.Register", "Wh",
                       context="Transaction.End")]}]))
        assert stop.id_tag_info["status"] == "Accepted"

    detail = await api.get(f"/api/transactions/{tx}/", token=tokens["access"])
    assert detail.status == 200
    body = detail.body
    assert body["energy_wh"] == 2000 and body["stop_reason"] == "Local"
    assert body["active"] is False and body["stop_inferred"] is False
    assert body["start_time"] == "2026-11-20T10:00:00.000Z"
    assert body["samples_total"] == 5
    assert {s["measurand"] for s in body["meter_samples"]} == {
        "Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage"}
    charger_row = Charger.get_by_id("CP-FLOW")
    assert charger_row.firmware_version == "1.2.3" and charger_row.last_boot_at is not None
    assert StatusEvent.select().where(StatusEvent.charger == "CP-FLOW").count() == 2


async def test_unknown_tags_follow_the_policy_and_tag_rules_apply(start_server, library_charger):
    now = dt.datetime.utcnow()
    IdTag.create(id_tag="BLOCKED", status="Blocked")
    IdTag.create(id_tag="OLD", status="Accepted", expiry_date=now - dt.timedelta(days=1))
    IdTag.create(id_tag="GROUP", status="Blocked")
    IdTag.create(id_tag="CHILD", status="Accepted", parent_id_tag="GROUP")
    IdTag.create(id_tag="ONCE", status="Accepted", max_active_transactions=1)
    async with library_charger("CP-TAGS") as cp:
        async def status(tag):
            return (await cp.call(call.Authorize(id_tag=tag))).id_tag_info["status"]
        assert await status("NOBODY") == "Invalid"
        assert await status("BLOCKED") == "Blocked"
        assert await status("OLD") == "Expired"
        assert await status("CHILD") == "Blocked"
        assert await status("ONCE") == "Accepted"
        await cp.call(call.StartTransaction(connector_id=1, id_tag="ONCE", meter_start=0,
                                            timestamp=T0))
        assert await status("ONCE") == "ConcurrentTx"


async def test_accept_policy_for_unknown_tags(start_server):
    running = await start_server(unknown_id_tags="accept")
    import websockets
    from ocpp.v16 import ChargePoint
    async with websockets.connect(f"{running.ocpp_url}/CP-OPEN", subprotocols=["ocpp1.6"]) as ws:
        cp = ChargePoint("CP-OPEN", ws, response_timeout=5)
        task = asyncio.create_task(cp.start())
        result = await cp.call(call.Authorize(id_tag="ANYONE"))
        task.cancel()
    assert result.id_tag_info["status"] == "Accepted"


async def test_repeated_start_gets_the_same_id_and_concurrent_chargers_never_share(
        server, library_charger):
    async with library_charger("CP-DUP") as cp:
        first = await cp.call(call.StartTransaction(connector_id=1, id_tag="T", meter_start=5,
                                                    timestamp=T0))
        again = await cp.call(call.StartTransaction(connector_id=1, id_tag="T", meter_start=5,
                                                    timestamp=T0))
        assert first.transaction_id == again.transaction_id
    assert Transaction.select().count() == 1

    async def one_start(i: int) -> int:
        async with library_charger(f"CP-C{i}") as cp:
            result = await cp.call(call.StartTransaction(connector_id=1, id_tag="T",
                                                         meter_start=0, timestamp=T0))
            return result.transaction_id

    ids = await asyncio.gather(*(one_start(i) for i in range(20)))
    assert len(set(ids)) == 20 and first.transaction_id not in ids


async def test_stop_is_always_answered(server, library_charger):
    async with library_charger("CP-STOP") as cp:
        unknown = await cp.call(call.StopTransaction(meter_stop=10, timestamp=T0,
                                                     transaction_id=424242))
        assert unknown.id_tag_info is None
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="T",
                                                      meter_start=0, timestamp=T0))
    assert Anomaly.select().where(Anomaly.kind == "unknown_transaction_stop").count() == 1
    # Reconnect without a BootNotification (a network blip) and stop: still answered.
    async with library_charger("CP-STOP") as cp:
        stop = await cp.call(call.StopTransaction(meter_stop=900, timestamp=T0,
                                                  transaction_id=started.transaction_id,
                                                  id_tag="T"))
        assert stop.id_tag_info["status"] == "Invalid"
        repeat = await cp.call(call.StopTransaction(meter_stop=900, timestamp=T0,
                                                    transaction_id=started.transaction_id))
        assert repeat is not None
    tx = Transaction.get_by_id(started.transaction_id)
    assert tx.meter_stop == 900 and tx.energy_wh == 900 and not tx.stop_inferred


async def test_connector_available_closes_an_orphan_and_a_late_stop_still_wins(
        server, library_charger):
    async with library_charger("CP-ORPHAN") as cp:
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="T",
                                                      meter_start=100, timestamp=T0))
        await cp.call(meter_values(started.transaction_id, 600, 7000))
    # The charger reboots (power cut) and reports the connector Available.
    async with library_charger("CP-ORPHAN") as cp:
        await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="X1"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                              status="Available"))
        tx = Transaction.get_by_id(started.transaction_id)
        assert tx.stop_inferred and tx.stop_received_at is not None
        assert tx.meter_stop == 600 and tx.energy_wh == 500 and "Available" in tx.note
        # Its StopTransaction arrives later from the offline queue: the real data wins.
        await cp.call(call.StopTransaction(meter_stop=700, timestamp="2026-11-20T10:40:00Z",
                                           transaction_id=started.transaction_id))
    tx = Transaction.get_by_id(started.transaction_id)
    assert not tx.stop_inferred and tx.meter_stop == 700 and tx.energy_wh == 600


async def test_new_start_on_the_same_connector_supersedes_an_open_one(server, library_charger):
    async with library_charger("CP-SUPER") as cp:
        old = await cp.call(call.StartTransaction(connector_id=2, id_tag="T", meter_start=0,
                                                  timestamp=T0))
        new = await cp.call(call.StartTransaction(connector_id=2, id_tag="T", meter_start=50,
                                                  timestamp="2026-11-20T11:00:00Z"))
    assert new.transaction_id != old.transaction_id
    assert Transaction.get_by_id(old.transaction_id).stop_inferred
    assert Transaction.get_by_id(new.transaction_id).stop_received_at is None


async def test_offline_replay_keeps_both_times(server, library_charger):
    async with library_charger("CP-REPLAY") as cp:
        started = await cp.call(call.StartTransaction(
            connector_id=1, id_tag="T", meter_start=0, timestamp="2026-01-01T08:00:00Z"))
        await cp.call(meter_values(started.transaction_id, 100, 1000, "2026-01-01T08:01:00Z"))
    row = MeterSample.select().where(MeterSample.transaction == started.transaction_id).first()
    assert row.timestamp == dt.datetime(2026, 1, 1, 8, 1)
    assert row.received_at > dt.datetime(2026, 11, 1)


async def test_meter_values_for_unknown_transaction_are_kept_without_it(server, library_charger):
    async with library_charger("CP-MV") as cp:
        await cp.call(meter_values(999999, 10, 10))
        await cp.call(meter_values(None, 20, 20))
    assert MeterSample.select().where(MeterSample.charger == "CP-MV").count() == 8
    assert MeterSample.select().where(MeterSample.transaction.is_null(False)).count() == 0


async def test_data_transfer_and_status_notifications_are_stored(server, library_charger):
    async with library_charger("CP-MISC") as cp:
        transfer = await cp.call(call.DataTransfer(vendor_id="com.acme", message_id="hello",
                                                   data="{}"))
        assert transfer.status == "UnknownVendorId"
        await cp.call(call.FirmwareStatusNotification(status="Downloading"))
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
        await cp.call(call.StatusNotification(connector_id=0, error_code="NoError",
                                              status="Unavailable", info="door open",
                                              vendor_error_code="E42",
                                              timestamp="2026-11-20T10:00:00+01:00"))
    charger = Charger.get_by_id("CP-MISC")
    assert charger.firmware_status == "Downloading"
    assert charger.diagnostics_status == "Uploaded"
    connector = Connector.get(Connector.charger == "CP-MISC", Connector.connector_id == 0)
    assert connector.info == "door open" and connector.vendor_error_code == "E42"
    assert connector.status_at == dt.datetime(2026, 11, 20, 9, 0)


async def test_firmware_deviations_are_repaired_with_a_record(raw_charger):
    """The deviations quirks.py used to know by name, now repaired from the schemas."""
    async with raw_charger("CP-QUIRK") as cp:
        start = await cp.call([2, "s", "StartTransaction", {
            "connectorId": 1, "idTag": "T", "meterStart": 1234.6, "timestamp": T0}])
        assert start[0] == 3
        tx = start[2]["transactionId"]
        values = await cp.call([2, "m", "MeterValues", {
            "connectorId": 1, "transactionId": str(tx), "meterValue": [{
                "timestamp": "2026-11-20T10:01:00",  # no zone: taken as UTC
                "sampledValue": [{"value": 1300.5}, {"value": "12,5", "measurand": "Current.Import",
                                                     "unit": "A"}]}]}])
        assert values[0] == 3
        stop = await cp.call([2, "t", "StopTransaction", {
            "transactionId": tx, "meterStop": "1400", "timestamp": T0}])
        assert stop[0] == 3
        boot = await cp.call([2, "b", "BootNotification", {
            "chargePointVendor": "Acme", "chargePointModel": "X", "firmwareVersion": "v" * 80}])
        assert boot[0] == 3
    tx_row = Transaction.get_by_id(tx)
    assert tx_row.meter_start == 1235 and tx_row.meter_stop == 1400
    values = sorted(s.value for s in MeterSample.select().where(MeterSample.transaction == tx))
    assert values == [12.5, 1300.5]
    # Informational strings are kept in full up to 500 characters.
    assert Charger.get_by_id("CP-QUIRK").firmware_version == "v" * 80
    quirks = {a.detail.split(" (")[0]
              for a in Anomaly.select().where(Anomaly.kind == "firmware_quirk")}
    assert quirks == {
        "StartTransaction meterStart: fraction_rounded",
        "MeterValues transactionId: number_from_string",
        "MeterValues meterValue[0].timestamp: timestamp_lenient",
        "MeterValues meterValue[0].sampledValue[0].value: string_from_number",
        "StopTransaction meterStop: number_from_string",
        "BootNotification firmwareVersion: string_too_long",
    }


async def test_a_stop_transaction_is_answered_whatever_its_values(raw_charger):
    """OCPP 1.6 §4.10: refusing a StopTransaction makes the charger retry it forever."""
    async with raw_charger("CP-STOPPY") as cp:
        start = await cp.call([2, "s", "StartTransaction", {
            "connectorId": 1, "idTag": "T", "meterStart": 100, "timestamp": T0}])
        tx = start[2]["transactionId"]
        # meterStop beyond double range (orjson refuses the frame; it is decoded again),
        # and a timestamp that cannot be held in UTC.
        stop = await cp.call(f'[2,"t","StopTransaction",{{"transactionId":{tx},'
                             f'"meterStop":1e999,"timestamp":"0001-01-01T00:00:00+01:00"}}]')
        assert stop[:2] == [3, "t"]
        junk = await cp.call([2, "j", "StopTransaction", {"transactionId": "soon"}])
        assert junk[:2] == [3, "j"]
    row = Transaction.get_by_id(tx)
    assert row.stop_received_at is not None and row.stop_time == row.stop_received_at
    assert row.meter_stop is None and row.energy_wh is None
    assert Anomaly.select().where(Anomaly.kind == "unknown_transaction_stop").count() == 1


async def test_repairs_are_recorded_once_per_kind_action_and_field_per_connection(raw_charger):
    def units(*names: str) -> dict:
        return {"connectorId": 1, "meterValue": [{"timestamp": T0, "sampledValue": [
            {"value": "1", "unit": name} for name in names]}]}

    async with raw_charger("CP-ONCE") as cp:
        for n in range(3):   # two samples with an unlisted unit, three messages
            assert (await cp.call([2, f"m{n}", "MeterValues", units("mA", "mV")]))[0] == 3
    async with raw_charger("CP-ONCE") as cp:   # a new connection records again
        assert (await cp.call([2, "m", "MeterValues", units("mA")]))[0] == 3
    details = [a.detail for a in Anomaly.select().where(Anomaly.kind == "firmware_quirk")]
    assert details == ["MeterValues meterValue[0].sampledValue[0].unit: enum_raw (mA)"] * 2
    assert MeterSample.select().where(MeterSample.unit == "mV").count() == 3


@pytest.mark.sqlite_only
async def test_every_acknowledged_message_is_already_committed(server, raw_charger):
    """At the moment each answer is written to the socket, another connection to the
    database file already sees the data it acknowledges."""
    import json
    import sqlite3
    other = sqlite3.connect(server.config.database_path)
    seen_at_send: list[tuple] = []
    try:
        async with raw_charger("CP-DURABLE") as cp:
            await cp.call([2, "hb", "Heartbeat", {}])
            session = server.services.chargers.get("CP-DURABLE")
            write = session._send_frame

            def observe(frame: str) -> bool:
                reply = json.loads(frame)
                if reply[0] == 3 and "transactionId" in reply[2]:
                    seen_at_send.append(other.execute(
                        'SELECT charger_id FROM "transaction" WHERE id = ?',
                        (reply[2]["transactionId"],)).fetchone())
                elif reply[0] == 3 and reply[1].startswith("m"):
                    seen_at_send.append(other.execute(
                        "SELECT COUNT(*) FROM meter_sample WHERE charger_id = ?",
                        ("CP-DURABLE",)).fetchone())
                return write(frame)

            session._send_frame = observe
            for n in range(3):
                reply = await cp.call([2, f"s{n}", "StartTransaction", {
                    "connectorId": n + 1, "idTag": "T", "meterStart": n, "timestamp": T0}])
                await cp.call([2, f"m{n}", "MeterValues", {
                    "connectorId": n + 1, "transactionId": reply[2]["transactionId"],
                    "meterValue": [{"timestamp": T0, "sampledValue": [{"value": "5"}]}]}])
    finally:
        other.close()
    assert seen_at_send == [("CP-DURABLE",), (1,), ("CP-DURABLE",), (2,), ("CP-DURABLE",), (3,)]
