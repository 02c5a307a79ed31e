"""The web side on an untrusted network, over real sockets: Host checks (DNS rebinding)
on every route and in the URLs the box hands out, body types (no cross-site form
reaches a handler), JSON size and nesting limits, CSV cells that cannot run as
formulas, and dashboard sockets that close the moment their login ends."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import socket
import time

import pytest
import websockets

from evedge.storage.models import Charger

from conftest import ROLE_USERS
from test_pages import authed_socket, close_code, socket_url

pytestmark = pytest.mark.timeout(60)


async def raw(port: int, request: bytes, timeout: float = 10) -> tuple[int, dict, bytes]:
    """One raw HTTP exchange (the server closes after it, or we read what came)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)}
    length = int(headers.get("content-length", 0))
    body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
    writer.close()
    return int(lines[0].split()[1]), headers, body


def get(path: str, host: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode()


UPGRADE = ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: ocpp1.6\r\n")


# --- Host ----------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "box.evil.example",
                                  "127.0.0.1.evil.example", "[evil]", ""])
async def test_another_host_name_is_400_on_every_kind_of_route(server, host):
    status, headers, body = await raw(server.port, get("/api/chargers/", host))
    assert status == 400 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["field"] == "Host" and "allowed_hosts" in json.loads(body)["error"]
    for path in ("/ui/", "/static/css/evedge.css", "/firmware/x.bin", "/healthz"):
        status, headers, body = await raw(server.port, get(path, host))
        assert status == 400, path
        if not path.startswith("/healthz"):
            assert headers["content-type"].startswith("text/plain"), path
    # Both WebSockets refuse before the upgrade, and no charger is registered.
    for path in ("/ocpp/CP-REBIND", "/ws/dashboard"):
        status, _, _ = await raw(server.port, get(path, host, UPGRADE))
        assert status == 400, path
    assert Charger.get_or_none(Charger.id == "CP-REBIND") is None


async def test_ip_addresses_localhost_and_the_boxs_own_names_are_answered(server):
    hostname = socket.gethostname()
    hosts = ["127.0.0.1", f"127.0.0.1:{server.port}", "10.20.30.40:8000", "[::1]",
             f"[fe80::1]:{server.port}", "localhost", "LOCALHOST:8000", "localhost.",
             hostname, f"{hostname}:8000", f"{hostname.split('.')[0]}.local", "box",
             "BOX:8000"]
    for host in hosts:
        status, _, _ = await raw(server.port, get("/healthz", host))
        assert status == 200, host


async def test_allowed_hosts_names_and_domains(start_server):
    running = await start_server(allowed_hosts="evedge.site.example, .depot.example")
    port = running.port
    for host, allowed in [("evedge.site.example", True), ("EVEDGE.SITE.EXAMPLE.:80", True),
                          ("site.example", False), ("depot.example", True),
                          ("bay-3.depot.example", True), ("evildepot.example", False),
                          ("box", False)]:
        status, _, _ = await raw(port, get("/healthz", host))
        assert (status == 200) == allowed, host


async def test_urls_the_box_hands_out_use_the_checked_host(server, api, token, library_charger):
    async with library_charger("CP-URL"):
        pass
    uploaded = await api.request("PUT", "/api/firmware/fw.bin", raw=b"fw", token=token,
                                 headers={"Content-Type": "application/octet-stream"})
    assert uploaded.status == 201
    auth = f"Authorization: Bearer {token}\r\n"
    status, _, body = await raw(server.port, get("/api/firmware/", "box:8000", auth))
    assert status == 200
    assert json.loads(body)["items"][0]["url"] == "http://box:8000/firmware/fw.bin"
    status, _, body = await raw(server.port, get("/api/diagnostics/location/CP-URL/", "box",
                                                 auth))
    assert json.loads(body)["location"].startswith("http://box/diagnostics/CP-URL/")
    status, headers, _ = await raw(server.port, get("/ui/", "box:1234"))
    assert "ws://box:1234" in headers["content-security-policy"]
    for path in ("/api/firmware/", "/api/diagnostics/location/CP-URL/", "/ui/"):
        status, headers, body = await raw(server.port, get(path, "evil.example:8000", auth))
        assert status == 400 and b"evil.example:8000/" not in body, path
        assert "evil" not in headers.get("content-security-policy", ""), path


# --- body types ----------------------------------------------------------------------------

CREDS = json.dumps({"username": "alice", "password": "correct-horse"})


@pytest.mark.parametrize("media", ["text/plain", "text/plain;charset=UTF-8",
                                   "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", None])
async def test_a_cross_site_form_cannot_register_or_log_in(api, media, token):
    headers = {"Content-Type": media} if media else {}
    for path in ("/api/auth/login/", "/api/auth/register/"):
        response = await api.request("POST", path, raw=CREDS.encode(), headers=headers) \
            if media else await api.request("POST", path, raw=CREDS.encode(),
                                            headers={"Content-Type": ""})
        assert response.status == 415, (path, response.body)
        assert response.body["field"] == "Content-Type"
        assert "application/json" in response.body["error"]


async def test_json_types_requests_without_a_body_and_declared_upload_types_pass(api, tokens):
    ok = await api.request("POST", "/api/auth/login/", raw=CREDS.encode(),
                           headers={"Content-Type": "application/json; charset=utf-8"})
    assert ok.status == 200
    # Logout without a refresh token: no body, no type.
    bare = await api.request("POST", "/api/auth/logout/", raw=b"", token=ok.body["access"],
                             headers={"Content-Type": ""})
    assert bare.status == 200
    operator = tokens["operator"]
    deleted = await api.request("DELETE", "/api/id-tags/NONE/", token=operator,
                                headers={"Content-Type": ""})
    assert deleted.status == 404
    as_csv = await api.request("POST", "/api/id-tags/import/", raw=b"id_tag\nCARD-1\n",
                               token=operator, headers={"Content-Type": "text/csv"})
    assert as_csv.status == 200
    as_text = await api.request("POST", "/api/id-tags/import/", raw=b"id_tag\nCARD-2\n",
                                token=operator, headers={"Content-Type": "text/plain"})
    assert as_text.status == 415 and "text/csv" in as_text.body["error"]
    firmware = await api.request("PUT", "/api/firmware/any-type.bin", raw=b"\x00" * 8,
                                 token=tokens["admin"],
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert firmware.status == 201  # a raw upload's bytes are the file, whatever the type
    simulator = await api.request("POST", "/ui/run-simulator/", raw=b'{"charger_id": "S"}',
                                  token=operator, headers={"Content-Type": "text/plain"})
    assert simulator.status == 415


# --- size and nesting ----------------------------------------------------------------------

async def test_an_announced_large_json_body_is_refused_before_it_is_sent(server):
    request = ("POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n").encode()
    start = time.monotonic()
    status, headers, body = await raw(server.port, request, timeout=5)  # no body sent at all
    assert status == 413 and time.monotonic() - start < 2
    assert json.loads(body)["limit_bytes"] == 65536
    assert "max_json_body_bytes" in json.loads(body)["error"]


async def test_the_limit_is_the_setting_and_counts_chunked_bodies_too(start_server):
    running = await start_server(max_json_body_bytes=2048)
    api = running.api
    at_limit = json.dumps({"username": "u", "password": "p" * 2000})
    assert len(at_limit) <= 2048
    assert (await api.request("POST", "/api/auth/login/", raw=at_limit.encode())).status == 401
    over = json.dumps({"username": "u", "password": "p" * 2100}).encode()
    refused = await api.request("POST", "/api/auth/login/", raw=over)
    assert refused.status == 413 and refused.body["limit_bytes"] == 2048
    chunk = b"%x\r\n%s\r\n" % (len(over), over)
    status, _, body = await raw(running.port, (
        b"POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
        b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunk + b"0\r\n\r\n"))
    assert status == 413 and json.loads(body)["limit_bytes"] == 2048


@pytest.mark.parametrize("deep", ["[" * 10_000, '{"a":' * 10_000, "[" * 10_000 + "]" * 10_000])
async def test_deeply_nested_json_is_400_not_500(api, tokens, deep):
    for path, token in (("/api/auth/login/", None), ("/api/auth/register/", None),
                        ("/api/id-tags/", tokens["operator"])):
        response = await api.request("POST", path, raw=deep.encode(), token=token)
        assert response.status == 400, (path, response.status)
        assert "not valid JSON" in response.body["error"]
    patched = await api.request("PATCH", "/api/users/1/", raw=deep.encode(),
                                token=tokens["admin"])
    assert patched.status == 400


async def test_deeply_nested_json_on_the_dashboard_socket_is_refused_cleanly(server, token):
    async with websockets.connect(socket_url(server), open_timeout=5) as ws:
        await ws.send("[" * 10_000)
        assert await close_code(ws) == 4401
    ws, _ = await authed_socket(server, token)
    async with ws:
        await ws.send("[" * 10_000)  # ignored once authenticated, like any other message
        await ws.send(json.dumps({"type": "auth", "token": "forged"}))
        assert await close_code(ws) == 4401


# --- CSV cells -----------------------------------------------------------------------------

FORMULAS = {"CARD-EQ": "=HYPERLINK(\"http://evil\",\"x\")", "CARD-PLUS": "+1+1",
            "CARD-MINUS": "-2+3", "CARD-AT": "@SUM(A1:A9)", "CARD-TAB": "\tx",
            "CARD-CR": "\r=1", "CARD-QUOTED": "'=already quoted", "CARD-PLAIN": "plain"}


async def test_csv_export_neutralises_formulas_and_the_import_restores_them(start_server):
    first = await start_server()
    token = (await first.api.register())["access"]
    for id_tag, note in FORMULAS.items():
        created = await first.api.post("/api/id-tags/", {"id_tag": id_tag, "note": note},
                                       token=token)
        assert created.status == 201, created.body
    assert (await first.api.post("/api/id-tags/", {"id_tag": "-LEADING"}, token=token)
            ).status == 201
    exported = (await first.api.get("/api/id-tags/export.csv", token=token)).body
    rows = list(csv.reader(io.StringIO(exported, newline="")))
    for row in rows[1:]:
        for cell in row:
            assert cell == "" or cell[0] not in "=+-@\t\r", row
    notes = {row[0]: row[-1] for row in rows[1:]}
    assert notes["CARD-EQ"].startswith("'=") and notes["CARD-QUOTED"] == "''=already quoted"
    assert notes["'-LEADING"] == ""

    # The exported file, imported by another box, gives back exactly what was exported.
    second = await start_server(data_dir=first.config.data_dir / "second")
    token2 = (await second.api.register())["access"]
    imported = await second.api.request("POST", "/api/id-tags/import/", raw=exported.encode(),
                                        token=token2, headers={"Content-Type": "text/csv"})
    assert imported.status == 200 and imported.body == {"created": 9, "updated": 0}
    for id_tag, note in FORMULAS.items():
        tag = (await second.api.get(f"/api/id-tags/{id_tag}/", token=token2)).body
        assert tag["note"] == note, id_tag
    assert (await second.api.get("/api/id-tags/-LEADING/", token=token2)).status == 200


# --- the dashboard socket closes when its login ends ---------------------------------------

async def test_the_socket_closes_within_a_second_of_logout_disable_or_demotion(
        server, api, tokens):
    assert server.config.dashboard_recheck_interval == 60  # the default: no polling helps
    admin = tokens["admin"]
    users = {u["username"]: u["id"]
             for u in (await api.get("/api/users/", token=admin)).body["items"]}
    changes = [("logout", None), ("demote", {"role": "viewer"}), ("disable", {"is_active": False})]
    for what, change in changes:
        username, password = ROLE_USERS["operator"]
        fresh = await api.login(username, password)
        ws, _ = await authed_socket(server, fresh)
        bystander, _ = await authed_socket(server, tokens["viewer"])
        start = time.monotonic()
        if change is None:
            assert (await api.post("/api/auth/logout/", {}, token=fresh)).status == 200
        else:
            assert (await api.request("PATCH", f"/api/users/{users[username]}/", change,
                                      token=admin)).status == 200
        assert await close_code(ws, timeout=1) == 4401, what
        assert time.monotonic() - start < 1, what
        assert bystander.close_code is None, what  # another user's socket stays open
        await bystander.close()
        await api.request("PATCH", f"/api/users/{users[username]}/",
                          {"role": "operator", "is_active": True}, token=admin)


async def test_the_socket_closes_when_its_token_expires(start_server):
    running = await start_server(access_token_ttl=1)  # + the decoder's 5 s leeway
    token = (await running.api.register())["access"]
    ws, _ = await authed_socket(running, token)
    start = time.monotonic()
    async with ws:
        assert await close_code(ws, timeout=10) == 4401
    assert 4 < time.monotonic() - start < 8
