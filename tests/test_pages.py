"""The dashboard without a browser: pages and their static files, the /ws/dashboard socket,
and the simulator commissioning endpoints, all against the real server over real sockets."""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser
from typing import Any, Callable

import pytest
import tornado.httpclient
import tornado.websocket
import websockets
from ocpp.v16 import call

from evedge import commissioning
from evedge.config import Config

from conftest import fetch
from test_openapi import Answers

pytestmark = pytest.mark.timeout(60)

PAGES = ["/", "/ui/", "/ui/dashboard", "/ui/dashboard/", "/ui/charger/CP-1/", "/ui/id-tags/",
         "/ui/transactions/", "/ui/transaction/7/", "/ui/reports/", "/ui/users/", "/ui/files/"]


class Links(HTMLParser):
    """Every src/href of a page, inline scripts and inline styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.inline_styles = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        if tag == "script" and "src" not in found:
            self.inline_scripts += 1
        if "style" in found or tag == "style":
            self.inline_styles += 1


# --- pages and static files ------------------------------------------------------------------

async def test_every_page_is_html_and_every_static_url_it_emits_is_served(server):
    static: set[str] = set()
    for path in PAGES:
        response = await fetch(server.http_url + path)
        assert response.code == 200, path
        assert response.headers["Content-Type"].startswith("text/html"), path
        assert "default-src 'self'" in response.headers["Content-Security-Policy"], path
        links = Links()
        links.feed(response.body.decode())
        # No CDN, nothing from another host: the box has no internet.
        assert not [u for u in links.urls if re.match(r"(https?:)?//", u)], path
        # The CSP allows neither inline scripts nor inline styles.
        assert links.inline_scripts == 0 and links.inline_styles == 0, path
        page_static = {u for u in links.urls if u.startswith("/static/")}
        assert any("/static/css/evedge.css?v=" in u for u in page_static), path
        static |= page_static
    for url in sorted(static):
        response = await fetch(server.http_url + url)
        assert response.code == 200 and response.body, url


async def test_every_page_script_and_its_imports_exist(server):
    """Each page loads js/<page>.js; every relative import of every module resolves."""
    seen: set[str] = set()
    queue = ["dashboard.js", "charger.js", "login.js", "id_tags.js", "transactions.js",
             "transaction.js", "reports.js", "users.js", "files.js"]
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        response = await fetch(f"{server.http_url}/static/js/{name}")
        assert response.code == 200, name
        queue += re.findall(r'from "\./([\w-]+\.js)"', response.body.decode())
    assert {"api.js", "live.js", "store.js", "actions.js", "charger-chart.js"} <= seen


async def test_the_charger_page_escapes_the_id_in_the_url(server):
    response = await fetch(server.http_url + "/ui/charger/%3Cscript%3Ealert(1)%3C%2Fscript%3E/")
    assert response.code == 200
    assert b"<script>alert" not in response.body
    assert b"&lt;script&gt;alert(1)" in response.body


# --- the dashboard socket --------------------------------------------------------------------

def socket_url(server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/dashboard"


async def close_code(ws, timeout: float = 10) -> int | None:
    """Read until the server closes the socket; its close code."""
    async def drain():
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
    return await asyncio.wait_for(drain(), timeout)


async def next_event(ws, wanted: Callable[[dict], bool], timeout: float = 10) -> dict:
    async def read():
        while True:
            frame = json.loads(await ws.recv())
            for event in frame.get("events", ()):
                if wanted(event):
                    return event
    return await asyncio.wait_for(read(), timeout)


async def authed_socket(server, token: str):
    ws = await websockets.connect(socket_url(server), open_timeout=5)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    snapshot = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert snapshot["type"] == "snapshot"
    return ws, snapshot


async def test_socket_without_an_auth_message_is_closed_4401(start_server):
    assert Config().dashboard_auth_timeout == 5.0  # the contract; shortened here for speed
    server = await start_server(dashboard_auth_timeout=0.3)
    async with websockets.connect(socket_url(server), open_timeout=5) as ws:
        assert await close_code(ws) == 4401
    assert server.services.events.subscriber_count == 0


@pytest.mark.parametrize("first", [
    {"type": "auth", "token": "not-a-token"},
    {"type": "auth"},
    {"type": "hello"},
    "not json",
])
async def test_socket_with_a_bad_first_message_is_closed_4401(server, first):
    async with websockets.connect(socket_url(server), open_timeout=5) as ws:
        await ws.send(first if isinstance(first, str) else json.dumps(first))
        assert await close_code(ws) == 4401


async def test_socket_refuses_another_origin(server, api):
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(socket_url(server), origin="http://elsewhere.example",
                                 open_timeout=5)
    assert refused.value.response.status_code == 403


async def test_socket_sends_a_snapshot_then_live_events(server, api, library_charger):
    token = (await api.register())["access"]
    created = await api.post("/api/chargers/", {"id": "CP-OLD", "label": "bay 1"}, token=token)
    assert created.status == 201
    ws, snapshot = await authed_socket(server, token)
    async with ws:
        listed = await api.get("/api/chargers/", token=token)
        assert snapshot["chargers"] == listed.body  # the same shape as GET /api/chargers/
        async with library_charger("CP-LIVE") as cp:
            await cp.call(call.BootNotification(charge_point_vendor="Acme",
                                                charge_point_model="X1"))
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                  status="Charging"))
            event = await next_event(ws, lambda e: e["type"] == "connector.status")
        # No info, no timestamp sent: empty text and null (tests/test_rehearsal_api.py has more).
        assert event == {"type": "connector.status", "charger_id": "CP-LIVE", "connector_id": 1,
                         "status": "Charging", "error_code": "NoError", "info": "",
                         "timestamp": None}
        await next_event(ws, lambda e: e["type"] == "charger.disconnected")


async def test_socket_takes_a_new_token_and_closes_when_the_login_ends(start_server):
    server = await start_server(dashboard_recheck_interval=0.2)
    api = server.api
    session = await api.register()
    ws, _ = await authed_socket(server, session["access"])
    async with ws:
        fresh = await api.post("/api/auth/refresh/", {"refresh": session["refresh"]})
        await ws.send(json.dumps({"type": "auth", "token": fresh.body["access"]}))
        await ws.send(json.dumps({"type": "ping"}))  # ignored once authenticated
        server.services.events.publish("charger.firmware", charger_id="MARKER", status="Idle")
        await next_event(ws, lambda e: e.get("charger_id") == "MARKER")
        assert (await api.post("/api/auth/logout/", {}, token=fresh.body["access"])).status == 200
        assert await close_code(ws) == 4401  # at the next check of the token
    assert server.services.events.subscriber_count == 0


async def test_socket_closes_4401_for_a_bad_token_later(server, api):
    ws, _ = await authed_socket(server, (await api.register())["access"])
    async with ws:
        await ws.send(json.dumps({"type": "auth", "token": "forged"}))
        assert await close_code(ws) == 4401


async def test_a_slow_browser_is_dropped_and_the_others_keep_up(start_server):
    server = await start_server(dashboard_max_pending_bytes=256 * 1024)
    api = server.api
    token = (await api.register())["access"]
    # Tornado's client stops reading while its one-message queue is full: a stalled tab.
    slow = await tornado.websocket.websocket_connect(socket_url(server))
    await slow.write_message(json.dumps({"type": "auth", "token": token}))
    assert json.loads(await slow.read_message())["type"] == "snapshot"
    fast, _ = await authed_socket(server, token)
    events = server.services.events
    payload = "x" * 200_000
    try:
        for n in range(300):  # ~60 MB at most; the kernel buffers a few MB of it
            events.publish("charger.diagnostics", charger_id=f"CP-{n}", status=payload)
            events.flush()
            frame = json.loads(await asyncio.wait_for(fast.recv(), 5))
            # The fast one gets every frame, in order.
            assert frame["events"][0]["charger_id"] == f"CP-{n}"
            if events.subscriber_count == 1:
                break
        assert events.subscriber_count == 1, "the stalled socket was never dropped"
    finally:
        slow.close()
        await fast.close()


# --- simulated chargers ------------------------------------------------------------------------

@pytest.fixture
async def fleet(server) -> commissioning.SimulatorFleet:
    # The tests serve on an unused port, not on config.port.
    server.services.simulators.url = server.ocpp_url
    return server.services.simulators


async def test_simulator_endpoints_need_an_operator(api, fleet, tokens):
    viewer = tokens["viewer"]
    for path in ("/ui/run-simulator/", "/ui/stop-simulator/"):
        assert (await api.post(path, {"charger_id": "SIM-1"})).status == 401
        refused = await api.post(path, {"charger_id": "SIM-1"}, token=viewer)
        assert refused.status == 403 and "operator" in refused.body["error"]
    assert (await api.get("/api/simulators/")).status == 401
    assert (await api.get("/api/simulators/", token=viewer)).body == {"items": [], "limit": 50}
    assert fleet.running() == []


@pytest.mark.parametrize("body, field", [
    ({}, "charger_id"),
    ({"charger_id": ""}, "charger_id"),
    ({"charger_id": 7}, "charger_id"),
    ({"charger_id": "a/b"}, "charger_id"),
    ({"charger_id": "x" * 65}, "charger_id"),
    ({"charger_id": "SIM-1", "connectors": 0}, "connectors"),
    ({"charger_id": "SIM-1", "connectors": 1.5}, "connectors"),
    ({"charger_id": "SIM-1", "power_w": "fast"}, "power_w"),
    ({"charger_id": "SIM-1", "meter_interval": True}, "meter_interval"),
    ({"charger_id": "SIM-1", "password": "short"}, "password"),
    ({"charger_id": "SIM-1", "speed": 3}, "speed"),
])
async def test_run_simulator_names_the_bad_field(api, fleet, tokens, body, field):
    refused = await api.post("/ui/run-simulator/", body, token=tokens["operator"])
    assert refused.status == 400 and refused.body["field"] == field, refused.body
    assert fleet.running() == []


async def test_a_started_simulator_connects_and_stops(server, api, fleet, tokens):
    answers = Answers((await api.get("/api/openapi.json")).body)
    ws, _ = await authed_socket(server, tokens["operator"])
    async with ws:
        started = answers.check("POST", "/ui/run-simulator/", await api.post(
            "/ui/run-simulator/", {"charger_id": "SIM-T1", "connectors": 2, "power_w": 7400},
            token=tokens["operator"]))
        assert started["charger_id"] == "SIM-T1" and started["connectors"] == 2
        again = await api.post("/ui/run-simulator/", {"charger_id": "SIM-T1"},
                               token=tokens["operator"])
        answers.check("POST", "/ui/run-simulator/", again)
        assert again.status == 409 and again.body["field"] == "charger_id"
        # Registered like a real charger: boot, then a StatusNotification per connector.
        await next_event(ws, lambda e: e["type"] == "connector.status"
                         and e["charger_id"] == "SIM-T1" and e["connector_id"] == 2)
        [charger] = (await api.get("/api/chargers/", token=tokens["operator"])).body
        assert charger["id"] == "SIM-T1" and charger["online"]
        assert charger["vendor"] == "evedge" and charger["registration_status"] == "Accepted"
        assert [c["status"] for c in charger["connectors"]][-2:] == ["Available", "Available"]
        listed = answers.check("GET", "/api/simulators/", await api.get(
            "/api/simulators/", token=tokens["operator"]))
        assert [s["charger_id"] for s in listed["items"]] == ["SIM-T1"]
        assert listed["items"][0]["connected"] is True

        stopped = answers.check("POST", "/ui/stop-simulator/", await api.post(
            "/ui/stop-simulator/", {"charger_id": "SIM-T1"}, token=tokens["operator"]))
        assert stopped["charger_id"] == "SIM-T1" and stopped["connected"] is False
        await next_event(ws, lambda e: e["type"] == "charger.disconnected")
    assert not (await api.get("/api/chargers/", token=tokens["operator"])).body[0]["online"]
    again = await api.post("/ui/stop-simulator/", {"charger_id": "SIM-T1"},
                           token=tokens["operator"])
    answers.check("POST", "/ui/stop-simulator/", again)
    assert again.status == 409 and again.body["field"] == "charger_id"
    assert (await api.post("/ui/stop-simulator/", {"charger_id": None},
                           token=tokens["operator"])).body["field"] == "charger_id"
    assert fleet.running() == []


async def test_the_fleet_is_capped_and_never_takes_over_a_real_charger(
        api, fleet, tokens, library_charger):
    fleet.limit = 1
    assert (await api.post("/ui/run-simulator/", {"charger_id": "SIM-A"},
                           token=tokens["operator"])).status == 200
    full = await api.post("/ui/run-simulator/", {"charger_id": "SIM-B"}, token=tokens["operator"])
    assert full.status == 409 and "at most 1" in full.body["error"]
    fleet.limit = 5
    async with library_charger("CP-REAL"):
        taken = await api.post("/ui/run-simulator/", {"charger_id": "CP-REAL"},
                               token=tokens["operator"])
    assert taken.status == 409 and taken.body["field"] == "charger_id"
    # Offline, a registered real charger's id is still its own.
    squat = await api.post("/ui/run-simulator/", {"charger_id": "CP-REAL"},
                           token=tokens["operator"])
    assert squat.status == 409 and "registered charger" in squat.body["error"]
    assert [s["charger_id"] for s in fleet.running()] == ["SIM-A"]
    # A simulator's own id may be used again by a simulator.
    await fleet.stop("SIM-A")
    assert (await api.post("/ui/run-simulator/", {"charger_id": "SIM-A"},
                           token=tokens["operator"])).status == 200


async def test_closing_the_services_stops_the_simulators(server, api, fleet, tokens):
    await api.post("/ui/run-simulator/", {"charger_id": "SIM-C"}, token=tokens["operator"])
    task: Any = fleet._running["SIM-C"].task
    await fleet.close()
    assert task.done() and fleet.running() == []


def test_the_simulators_use_this_servers_own_endpoint(tmp_path):
    from conftest import make_config
    assert commissioning.own_ocpp_url(make_config(tmp_path, port=8123)) == \
        "ws://127.0.0.1:8123/ocpp"
    assert commissioning.own_ocpp_url(make_config(tmp_path, host="10.0.0.5")) == \
        "ws://10.0.0.5:8000/ocpp"
    assert commissioning.own_ocpp_url(make_config(tmp_path, host="fe80::1")) == \
        "ws://[fe80::1]:8000/ocpp"


async def test_simulators_connect_over_wss_when_tls_is_set_up(tmp_path, start_server):
    """With TLS, the fleet uses wss:// and trusts exactly the server's own certificate
    (a CA-issued leaf here: the leaf alone is the trust anchor)."""
    import trustme

    cert = trustme.CA().issue_cert("box.example")  # a name the loopback URL does not match
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    running = await start_server(tls_cert=str(tmp_path / "cert.pem"),
                                 tls_key=str(tmp_path / "key.pem"))
    services = running.services
    fleet = services.simulators
    assert fleet.url == "wss://127.0.0.1:8000/ocpp"
    fleet.url = f"wss://127.0.0.1:{running.port}/ocpp"
    online = asyncio.get_running_loop().create_future()

    def watch(frame: str) -> None:
        if '"connector.status"' in frame and "SIM-TLS" in frame and not online.done():
            online.set_result(True)

    services.events.subscribe(watch)
    fleet.start("SIM-TLS")
    assert await asyncio.wait_for(online, 10)
    assert services.chargers.is_online("SIM-TLS")
    await fleet.close()  # what Services.close does first
    assert fleet.running() == []


def test_the_csp_names_the_live_socket_of_the_host_asked_for():
    from evedge.web.pages import content_security_policy
    assert "connect-src 'self' ws://box:8000 wss://box:8000;" in content_security_policy("box:8000")
    assert "ws://[::1]:8000 " in content_security_policy("[::1]:8000")
    assert "connect-src 'self';" in content_security_policy("evil; script-src *")
