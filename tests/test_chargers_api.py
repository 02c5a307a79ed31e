"""The chargers API and the remote-start round trip to a real OCPP client."""

from __future__ import annotations

import asyncio

import pytest
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from evedge.storage.models import CommandLog, Transaction


class AnsweringCharger(ChargePoint):
    """Answers RemoteStartTransaction with a configurable status and remembers the request."""

    answer = "Accepted"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests: asyncio.Queue = asyncio.Queue()

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag, **kwargs):
        self.requests.put_nowait({"id_tag": id_tag, **kwargs})
        return call_result.RemoteStartTransaction(status=self.answer)


class RejectingCharger(AnsweringCharger):
    answer = "Rejected"


class SilentCharger(ChargePoint):
    """Receives RemoteStartTransaction and never answers it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received = asyncio.Event()

    @on(Action.remote_start_transaction, skip_schema_validation=True)
    async def on_remote_start(self, **kwargs):
        self.received.set()
        await asyncio.Event().wait()


async def test_freshly_registered_user_starts_a_charger_remotely(api, token, library_charger):
    async with library_charger("CP-RS", cls=AnsweringCharger) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="X"))
        response = await api.post("/api/chargers/start/CP-RS/",
                                  {"connector_id": 1, "id_tag": "CARD-9"}, token=token)
        assert response.status == 200, response.body
        assert response.body["status"] == "Accepted"
        request = await asyncio.wait_for(cp.requests.get(), 5)
        assert request == {"id_tag": "CARD-9", "connector_id": 1}
    entry = CommandLog.get(CommandLog.charger == "CP-RS")
    assert entry.action == "RemoteStartTransaction" and entry.outcome == "answered"
    assert entry.username == "alice" and "Accepted" in entry.response


async def test_an_operator_the_admin_made_can_start_too(api, tokens, library_charger):
    async with library_charger("CP-OP", cls=AnsweringCharger):
        response = await api.post("/api/chargers/start/CP-OP/", {"id_tag": "C"},
                                  token=tokens["operator"])
    assert response.status == 200


async def test_rejected_remote_start_is_409(api, token, library_charger):
    async with library_charger("CP-REJ", cls=RejectingCharger):
        response = await api.post("/api/chargers/start/CP-REJ/", {"id_tag": "C"}, token=token)
    assert response.status == 409 and response.body["status"] == "Rejected"


async def test_unknown_charger_is_404_and_offline_is_503(api, token, library_charger):
    response = await api.post("/api/chargers/start/NOPE/", {"id_tag": "C"}, token=token)
    assert response.status == 404
    async with library_charger("CP-GONE"):
        pass
    response = await api.post("/api/chargers/start/CP-GONE/", {"id_tag": "C"}, token=token)
    assert response.status == 503


async def test_no_answer_is_504_within_the_timeout(start_server):
    running = await start_server(command_timeout=0.5)
    token = (await running.api.register())["access"]
    import websockets
    async with websockets.connect(f"{running.ocpp_url}/CP-SILENT",
                                  subprotocols=["ocpp1.6"]) as ws:
        cp = SilentCharger("CP-SILENT", ws)
        task = asyncio.create_task(cp.start())
        started = asyncio.get_running_loop().time()
        response = await running.api.post("/api/chargers/start/CP-SILENT/", {"id_tag": "C"},
                                          token=token)
        elapsed = asyncio.get_running_loop().time() - started
        task.cancel()
    assert response.status == 504
    assert elapsed < 3
    assert CommandLog.get(CommandLog.charger == "CP-SILENT").outcome == "timeout"


async def test_disconnect_mid_call_answers_503_at_once(api, token, library_charger):
    async with library_charger("CP-DROP", cls=SilentCharger) as cp:
        pending = asyncio.ensure_future(
            api.post("/api/chargers/start/CP-DROP/", {"id_tag": "C"}, token=token))
        await asyncio.wait_for(cp.received.wait(), 5)
    response = await asyncio.wait_for(pending, 2)  # well below the 3 s command timeout
    assert response.status == 503


@pytest.mark.parametrize("body, field", [
    ({}, "id_tag"),
    ({"id_tag": ""}, "id_tag"),
    ({"id_tag": "X" * 21}, "id_tag"),
    ({"id_tag": "C", "connector_id": "1"}, "connector_id"),
    ({"id_tag": "C", "connector_id": 0}, "connector_id"),
])
async def test_bad_remote_start_body_is_400_naming_the_field(api, token, body, field):
    response = await api.post("/api/chargers/start/CP-X/", body, token=token)
    assert response.status == 400 and response.body["field"] == field


async def test_charger_detail_and_list_paging(api, token, library_charger):
    for name in ("CP-A", "CP-B", "CP-C"):
        async with library_charger(name):
            pass
    page = await api.get("/api/chargers/?limit=2&offset=1", token=token)
    assert [c["id"] for c in page.body] == ["CP-B", "CP-C"]
    assert page.headers["X-Total-Count"] == "3"
    detail = await api.get("/api/chargers/CP-A/", token=token)
    assert detail.status == 200 and detail.body["id"] == "CP-A" and detail.body["online"] is False
    assert detail.body["last_seen"].endswith("Z")
    assert (await api.get("/api/chargers/NOPE/", token=token)).status == 404
    bad = await api.get("/api/chargers/?limit=0", token=token)
    assert bad.status == 400 and bad.body["field"] == "limit"


async def test_transactions_filters_and_validation(api, token, library_charger):
    async with library_charger("CP-T1") as cp:
        for n, tag in enumerate(("A", "B", "A")):
            await cp.call(call.StartTransaction(connector_id=n + 1, id_tag=tag, meter_start=0,
                                                timestamp=f"2026-11-2{n}T10:00:00Z"))
    everything = await api.get("/api/transactions/", token=token)
    assert everything.body["total"] == 3
    only_a = await api.get("/api/transactions/?id_tag=A", token=token)
    assert {t["id_tag"] for t in only_a.body["items"]} == {"A"} and only_a.body["total"] == 2
    since = await api.get("/api/transactions/?since=2026-11-21T00:00:00Z&charger=CP-T1",
                          token=token)
    assert since.body["total"] == 2
    page = await api.get("/api/transactions/?limit=1&offset=1", token=token)
    assert len(page.body["items"]) == 1 and page.body["limit"] == 1
    assert all(t["active"] for t in everything.body["items"])
    bad = await api.get("/api/transactions/?since=yesterday", token=token)
    assert bad.status == 400 and bad.body["field"] == "since"
    assert (await api.get("/api/transactions/99999/", token=token)).status == 404
    assert Transaction.select().count() == 3


class RebootingCharger(ChargePoint):
    """Answers Reset and drops the connection right away, as a rebooting charger does."""

    @on(Action.reset)
    def on_reset(self, type, **kwargs):
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, **kwargs):
        await self._connection.close()


async def test_answer_followed_at_once_by_a_disconnect_is_not_lost(api, token, library_charger):
    for attempt in range(5):
        async with library_charger(f"CP-BOOT{attempt}", cls=RebootingCharger):
            response = await api.post(f"/api/chargers/CP-BOOT{attempt}/reset/",
                                      {"type": "Hard"}, token=token)
        assert response.status == 200, response.body
        assert response.body == {"status": "Accepted"}


async def test_status_log_anomalies_and_newest_samples(api, token, library_charger):
    async with library_charger("CP-HIST") as cp:
        for status in ("Available", "Preparing", "Charging"):
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                  status=status))
        await cp.call(call.StopTransaction(meter_stop=1, timestamp="2026-11-20T10:00:00Z",
                                           transaction_id=9999))
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="T",
                                                      meter_start=0,
                                                      timestamp="2026-11-20T10:00:00Z"))
        for minute in range(5):
            await cp.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                           meter_value=[{
                                               "timestamp": f"2026-11-20T10:0{minute}:00Z",
                                               "sampled_value": [
                                                   {"value": str(minute * 100)},
                                                   {"value": "7000",
                                                    "measurand": "Power.Active.Import",
                                                    "unit": "W"}]}]))
    log = await api.get("/api/chargers/CP-HIST/status-log/?limit=2", token=token)
    assert log.body["total"] == 3 and [e["status"] for e in log.body["items"]] == [
        "Charging", "Preparing"]
    found = await api.get("/api/chargers/CP-HIST/anomalies/", token=token)
    assert [a["kind"] for a in found.body["items"]] == ["unknown_transaction_stop"]
    assert (await api.get("/api/chargers/NOPE/anomalies/", token=token)).status == 404
    detail = await api.get(f"/api/transactions/{started.transaction_id}/?samples_limit=2"
                           "&newest=true&measurand=Energy.Active.Import.Register", token=token)
    assert detail.body["samples_total"] == 5
    assert [s["value"] for s in detail.body["meter_samples"]] == [300, 400]


async def test_charger_detail_shows_each_connectors_latest_meter_reading(
        api, token, library_charger):
    """Latest per connector (docs/architecture.md §7): between transactions and inside one."""
    register = {"measurand": "Energy.Active.Import.Register", "unit": "kWh"}
    async with library_charger("CP-METER") as cp:
        for connector in (1, 2):
            await cp.call(call.StatusNotification(connector_id=connector, error_code="NoError",
                                                  status="Available"))
        idle = [{"timestamp": "2026-11-24T10:00:00Z",
                 "sampled_value": [{"value": "12.5", "context": "Sample.Clock", **register}]}]
        await cp.call(call.MeterValues(connector_id=1, meter_value=idle))
        detail = (await api.get("/api/chargers/CP-METER/", token=token)).body
        meters = {c["connector_id"]: c["last_meter"] for c in detail["connectors"]}
        assert meters[1]["energy_wh"] == 12500 and meters[1]["transaction_id"] is None
        assert meters[1]["timestamp"] == "2026-11-24T10:00:00.000Z"
        assert meters[2] is None

        started = await cp.call(call.StartTransaction(
            connector_id=1, id_tag="TAG", meter_start=12500, timestamp="2026-11-24T10:05:00Z"))
        tx = started.transaction_id
        during = [{"timestamp": "2026-11-24T10:10:00Z",
                   "sampled_value": [{"value": "13.25", **register},
                                     {"value": "7000", "measurand": "Power.Active.Import",
                                      "unit": "W"}]}]
        await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=during))
        detail = (await api.get("/api/chargers/CP-METER/", token=token)).body
        latest = next(c["last_meter"] for c in detail["connectors"] if c["connector_id"] == 1)
        assert latest["energy_wh"] == 13250 and latest["transaction_id"] == tx
