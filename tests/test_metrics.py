"""GET /metrics: who may scrape it, and that each series counts what really happened.

Everything goes through the real server and real sockets; the exposition is read back
with prometheus_client's own parser (what Prometheus reads, not a regex of ours).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest
import websockets
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.v16 import call
from ocpp.v16.enums import Action
from prometheus_client.parser import text_string_to_metric_families

from evedge import metrics as metrics_module
from evedge.chargers.catalog import COMMANDS
from evedge.chargers.session import ChargePointSession
from evedge.config import ConfigError
from evedge.metrics import Metrics
from evedge.storage import sql
from evedge.timeutil import utcnow

from conftest import fetch, library_chargers, make_config
from test_pages import socket_url

METRICS_TOKEN = "prometheus-scrape-token-0123456789"
BOOT = [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
T0 = "2026-11-20T10:00:00Z"


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) -> value of every sample of an exposition."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def scrape(server, token: str | None = None, accept: str | None = None):
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if accept:
        headers["Accept"] = accept
    return await fetch(f"{server.http_url}/metrics", headers=headers)


async def read_metrics(server, token: str) -> dict:
    response = await scrape(server, token)
    assert response.code == 200, response.body
    return parse(response.body.decode())


# --- protection ------------------------------------------------------------------------------

async def test_metrics_are_never_open(server, tokens):
    for token in (None, "garbage", METRICS_TOKEN):  # no metrics_token configured here
        refused = await scrape(server, token)
        assert refused.code == 401
        assert "error" in json.loads(refused.body)
    for role in ("viewer", "operator", "admin"):
        answered = await scrape(server, tokens[role])
        assert answered.code == 200, role
        assert answered.headers["Content-Type"].startswith("text/plain")


async def test_the_metrics_token_lets_prometheus_in(start_server):
    server = await start_server(metrics_token=METRICS_TOKEN)
    assert (await scrape(server, METRICS_TOKEN)).code == 200
    for wrong in (METRICS_TOKEN[:-1], METRICS_TOKEN + "x", "", METRICS_TOKEN.upper()):
        assert (await scrape(server, wrong)).code == 401, wrong
    basic = await fetch(f"{server.http_url}/metrics",
                        headers={"Authorization": f"Basic {METRICS_TOKEN}"})
    assert basic.code == 401


@pytest.mark.parametrize("token", ["short", "sixteen chars with blanks", "tab\tseparated-0123456",
                                   "ünïcödé-is-not-ascii-0123"])
def test_a_weak_or_unsendable_metrics_token_is_a_configuration_error(tmp_path, token):
    with pytest.raises(ConfigError, match="metrics_token"):
        make_config(tmp_path, metrics_token=token)


async def test_openmetrics_when_the_scraper_asks_for_it(server, tokens):
    response = await scrape(server, tokens["viewer"],
                            accept="application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.body.decode().endswith("# EOF\n")


# --- the OCPP path ---------------------------------------------------------------------------

async def test_messages_are_counted_by_action_and_outcome(server, tokens, raw_charger):
    async with raw_charger("CP-METRICS-1") as cp:
        assert (await cp.call(BOOT))[0] == 3
        start = await cp.call([2, "s", "StartTransaction", {
            "connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": T0}])
        for n in range(3):
            assert (await cp.call([2, f"m{n}", "MeterValues", {
                "connectorId": 1, "transactionId": start[2]["transactionId"],
                "meterValue": [{"timestamp": T0, "sampledValue": [{"value": str(n)}]}]}]))[0] == 3
        assert (await cp.call([2, "h", "Heartbeat", {}]))[0] == 3
        assert (await cp.call([2, "x", "FooBar", {}]))[2] == "NotImplemented"
        assert (await cp.call([2, "bad", "StatusNotification", {
            "connectorId": "one", "errorCode": "NoError", "status": "Available"}]))[0] == 4
        await cp.send("[2, nonsense")
        assert (await cp.call([2, "h2", "Heartbeat", {}]))[0] == 3  # after the unanswerable
    samples = await read_metrics(server, tokens["viewer"])
    count = "evedge_ocpp_messages_total"
    assert value(samples, count, action="MeterValues", outcome="answered") == 3
    assert value(samples, count, action="Heartbeat", outcome="answered") == 2
    assert value(samples, count, action="BootNotification", outcome="answered") == 1
    assert value(samples, count, action="other", outcome="NotImplemented") == 1
    assert value(samples, count, action="StatusNotification",
                 outcome="TypeConstraintViolation") == 1
    assert value(samples, count, action="malformed", outcome="unanswered") == 1
    assert value(samples, count, action="Authorize", outcome="answered") == 0  # pre-declared
    latency = "evedge_ocpp_message_seconds"
    assert value(samples, latency + "_count", action="MeterValues") == 3
    # The latency runs until the answer is written after its commit: a MeterValues waits
    # for the 2 ms commit window, a Heartbeat (a read) does not.
    assert value(samples, latency + "_bucket", action="MeterValues", le="0.001") == 0
    assert value(samples, latency + "_bucket", action="MeterValues", le="+Inf") == 3
    assert value(samples, latency + "_sum", action="MeterValues") >= 3 * 0.002
    text = (await scrape(server, tokens["viewer"])).body.decode()
    assert "CP-METRICS-1" not in text and "FooBar" not in text  # no charger id, no invention


async def test_group_commits_are_measured(server, tokens, raw_charger):
    before = await read_metrics(server, tokens["viewer"])
    async with raw_charger("CP-COMMIT") as cp:
        for n in range(4):
            assert (await cp.call([2, f"s{n}", "StatusNotification", {
                "connectorId": 1, "errorCode": "NoError", "status": "Available"}]))[0] == 3
    after = await read_metrics(server, tokens["viewer"])
    commits = (value(after, "evedge_group_commit_seconds_count")
               - value(before, "evedge_group_commit_seconds_count"))
    released = (value(after, "evedge_group_commit_batch_size_sum")
                - value(before, "evedge_group_commit_batch_size_sum"))
    assert commits >= 4 and released >= 4  # one commit per answer here (they are sequential)
    assert value(after, "evedge_group_commit_failures_total") == 0
    assert value(after, "evedge_group_commit_seconds_sum") > 0


async def test_repairs_are_counted_by_kind(server, tokens, raw_charger):
    async with raw_charger("CP-QUIRK") as cp:
        for unique_id in ("q1", "q2"):  # the anomaly is recorded once; the metric counts both
            reply = await cp.call([2, unique_id, "Heartbeat", {"vendorNote": "x"}])
            assert reply[0] == 3
    samples = await read_metrics(server, tokens["viewer"])
    assert value(samples, "evedge_tolerance_repairs_total", action="Heartbeat",
                 kind="unknown_property") == 2


async def test_connections_opened_and_refused_by_reason(start_server):
    server = await start_server(admission="reject")
    api = server.api
    token = (await api.register())["access"]
    created = await api.post("/api/chargers/", {"id": "CP-KNOWN", "password": "s3cret-pass"},
                             token=token)
    assert created.status == 201

    async def refused(charger_id: str, **kwargs) -> int:
        with pytest.raises(websockets.InvalidStatus) as caught:
            async with websockets.connect(f"{server.ocpp_url}/{charger_id}", open_timeout=5,
                                          **kwargs):
                pass
        return caught.value.response.status_code

    assert await refused("CP-STRANGER", subprotocols=["ocpp1.6"]) == 404
    assert await refused("CP-KNOWN", subprotocols=["ocpp1.6"]) == 401
    assert (await fetch(f"{server.ocpp_url.replace('ws', 'http')}/CP-KNOWN")).code == 400
    credentials = {"additional_headers": {"Authorization": "Basic Q1AtS05PV046czNjcmV0LXBhc3M="}}
    async with websockets.connect(f"{server.ocpp_url}/CP-KNOWN", subprotocols=["ocpp2.0.1"],
                                  open_timeout=5, **credentials) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    async with websockets.connect(f"{server.ocpp_url}/CP-KNOWN", subprotocols=["ocpp1.6"],
                                  open_timeout=5, **credentials) as ws:
        await ws.send(json.dumps([2, "h", "Heartbeat", {}]))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))[0] == 3
        samples = await read_metrics(server, token)
        assert value(samples, "evedge_chargers_connected") == 1
    refusals = "evedge_ocpp_connections_refused_total"
    assert value(samples, refusals, reason="unknown") == 1
    assert value(samples, refusals, reason="auth") == 1
    assert value(samples, refusals, reason="not_websocket") == 1
    assert value(samples, refusals, reason="subprotocol") == 1
    assert value(samples, refusals, reason="takeover") == 0
    assert value(samples, "evedge_ocpp_connections_opened_total") == 1  # 2.0.1: refused
    assert value(samples, "evedge_gate_opening_connections") == 0  # plain requests left it
    # A client stuck in its headers holds an opening slot (web/connection_gate.py).
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /ocpp/CP-SLOW HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    await writer.drain()
    for _ in range(50):  # bounded: the server reads the partial request within a loop turn
        samples = await read_metrics(server, token)
        if value(samples, "evedge_gate_opening_connections") == 1:
            break
    writer.close()
    assert value(samples, "evedge_gate_opening_connections") == 1
    assert value(samples, "evedge_gate_waiting_connections") == 0


# --- commands, the database, dashboards --------------------------------------------------------

async def test_commands_are_counted_with_their_latency(server, tokens, library_charger):
    admin = tokens["admin"]
    async with library_charger("CP-CMD") as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        # The library's ChargePoint answers unsupported actions with NotImplemented.
        answered = await server.api.post("/api/chargers/CP-CMD/clear-cache/", {}, token=admin)
        assert answered.status == 502
    offline = await server.api.post("/api/chargers/CP-CMD/clear-cache/", {}, token=admin)
    assert offline.status == 503
    samples = await read_metrics(server, admin)
    assert value(samples, "evedge_commands_total", command="ClearCache",
                 outcome="callerror") == 1
    assert value(samples, "evedge_commands_total", command="ClearCache", outcome="offline") == 1
    assert value(samples, "evedge_command_seconds_count", command="ClearCache") == 1


async def test_fleet_transactions_and_energy_come_from_the_database(start_server):
    server = await start_server(admission="pending")
    api = server.api
    token = (await api.register())["access"]
    for charger_id in ("CP-A", "CP-B", "CP-C"):
        assert (await api.post("/api/chargers/", {"id": charger_id, "registration_status":
                                                  "Accepted"}, token=token)).status == 201
    async with library_chargers(server)("CP-NEW") as newcomer:  # registered as Pending
        await newcomer.call(call.Heartbeat())
    async with library_chargers(server)("CP-A") as cp:
        first = await cp.call(call.StartTransaction(connector_id=1, id_tag="T", meter_start=1000,
                                                    timestamp=T0))
        await cp.call(call.StartTransaction(connector_id=2, id_tag="T", meter_start=0,
                                            timestamp=T0))
        await cp.call(call.StopTransaction(meter_stop=3500, timestamp=T0,
                                           transaction_id=first.transaction_id))
        samples = await read_metrics(server, token)
    assert value(samples, "evedge_chargers_known") == 4
    assert value(samples, "evedge_chargers_pending") == 1
    assert value(samples, "evedge_chargers_connected") == 1
    assert value(samples, "evedge_transactions_active") == 1
    assert value(samples, "evedge_energy_delivered_joules_total") == 2500 * 3600
    assert value(samples, "evedge_database_size_bytes") > 0
    assert 0 < value(samples, "evedge_data_volume_free_bytes") \
        <= value(samples, "evedge_data_volume_size_bytes")
    assert value(samples, "evedge_process_resident_memory_bytes") > 0
    assert value(samples, "evedge_build_info", version=metrics_module.__version__) == 1


async def test_dashboards_open_and_closed(server, tokens):
    async with websockets.connect(socket_url(server), open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "auth", "token": tokens["viewer"]}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "snapshot"
        samples = await read_metrics(server, tokens["viewer"])
        assert value(samples, "evedge_dashboard_sockets") == 1
    async with websockets.connect(socket_url(server), open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "auth", "token": "forged"}))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    samples = await read_metrics(server, tokens["viewer"])
    assert value(samples, "evedge_dashboard_sockets_closed_total", reason="unauthorized") == 1
    assert value(samples, "evedge_dashboard_events_dropped_total") == 0


async def test_a_scrape_with_500_chargers_known_stays_cheap(server, tokens):
    """The numbers the README quotes; the bound is generous (a shared 2-core VM)."""
    token = tokens["admin"]
    ids = [f"CP-{n:03d}" for n in range(500)]
    server.services.committer.run(
        lambda: [sql.insert_charger(charger_id, "Accepted", utcnow()) for charger_id in ids])
    await server.services.committer.durable()
    timings = []
    for _ in range(5):
        began = time.perf_counter()
        samples = await read_metrics(server, token)
        timings.append(time.perf_counter() - began)
    assert value(samples, "evedge_chargers_known") == 500
    print(f"scrape with 500 chargers known: best {min(timings) * 1000:.1f} ms, "
          f"worst {max(timings) * 1000:.1f} ms")
    assert min(timings) < 0.5


# --- the vocabulary ----------------------------------------------------------------------------

def test_the_action_vocabulary_is_ocpp_16s():
    """The library's list of 1.6 actions (security extension included) is an independent
    source; every message evedge handles and every command it sends is in it."""
    assert metrics_module.ACTIONS == {action.value for action in Action}
    assert set(ChargePointSession._routes) == set(metrics_module.CHARGER_ACTIONS)
    assert {command.action for command in COMMANDS.values()} <= set(
        metrics_module.SYSTEM_ACTIONS)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=30), st.text(max_size=30)), max_size=40))
def test_whatever_chargers_send_the_series_stay_bounded(pairs):
    """Labels only ever take vocabulary values, however many inventions come in, and the
    bound cache never keeps an invented key."""
    metrics = Metrics()
    for action, outcome in pairs:
        metrics.ocpp_message(action, outcome, time.perf_counter())
        metrics.ocpp_malformed(outcome or None)
        metrics.command(action, outcome)
        metrics.connection_refused(outcome)
        metrics.dashboard_closed(action)
    allowed_outcomes = metrics_module.ERROR_CODES | {"answered", "other", "unanswered"}
    actions = metrics_module.ACTIONS | {"other", "malformed"}
    for family in text_string_to_metric_families(metrics.render()[0].decode()):
        for sample in family.samples:
            labels = sample.labels
            assert labels.get("action", "other") in actions
            assert labels.get("command", "other") in metrics_module.ACTIONS | {"other"}
            if family.name == "evedge_ocpp_messages":
                assert labels["outcome"] in allowed_outcomes
            if family.name == "evedge_commands":
                assert labels["outcome"] in set(metrics_module.COMMAND_OUTCOMES) | {"other"}
            if "reason" in labels:
                assert labels["reason"] in set(metrics_module.REFUSAL_REASONS) | set(
                    metrics_module.DASHBOARD_DROPS) | {"other"}
    assert all(action in metrics_module.ACTIONS for action, _ in metrics._ocpp)


# --- the Grafana dashboard ---------------------------------------------------------------------

GRAFANA = Path(__file__).resolve().parent.parent / "docs" / "grafana-evedge.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
            "gauge": ("",), "info": ("_info",)}


async def test_the_grafana_dashboard_reads_only_series_evedge_serves(server, tokens):
    served = {family.name + suffix
              for family in text_string_to_metric_families(
                  (await scrape(server, tokens["viewer"])).body.decode())
              for suffix in SUFFIXES.get(family.type, ("",))}
    dashboard = json.loads(GRAFANA.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    used: set[str] = set()
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            names = set(re.findall(r"\b(evedge_\w+)", target["expr"]))
            assert names, (panel["title"], target["expr"])
            used |= names
    assert used <= served, sorted(used - served)
    groups = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    assert groups >= {"Chargers", "OCPP messages", "Storage", "Remote commands",
                      "Dashboards and connections"}
    # Every family evedge serves appears on some panel (the process ones aside).
    missing = sorted({family_of(name) for name in served} - {family_of(n) for n in used})
    assert [f for f in missing if not f.startswith(("evedge_process_", "evedge_build"))] == []


def family_of(sample_name: str) -> str:
    for suffix in ("_total", "_bucket", "_sum", "_count"):
        if sample_name.endswith(suffix):
            return sample_name.removesuffix(suffix)
    return sample_name
