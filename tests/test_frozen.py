"""The one-file PyInstaller binary: it starts, migrates, serves OCPP, the API and the dashboard.

Packaging is where a server that passes every other test still fails on the box
(the ocpp schemas, templates, static files or migrations left out of the bundle).
Runs when ``EVEDGE_FROZEN_BINARY`` names a built binary (``.ci/run`` builds one with
``make build``); skipped otherwise, with the reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import signal
import subprocess

import pytest
import tornado.httpclient
import websockets

from conftest import free_port

BINARY = os.environ.get("EVEDGE_FROZEN_BINARY", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not BINARY, reason="set EVEDGE_FROZEN_BINARY=dist/evedge (make build)"),
]


async def listening(proc: asyncio.subprocess.Process, timeout: float) -> None:
    """Until the binary says it listens; it exiting first fails the test."""
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        assert line, "the binary exited before listening"
        if b"listening on" in line:
            return


async def boot(port: int, charger_id: str) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/{charger_id}",
                                  subprotocols=["ocpp1.6"]) as ws:
        await ws.send(json.dumps([2, "1", "BootNotification",
                                  {"chargePointVendor": "V", "chargePointModel": "M"}]))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply[0] == 3 and reply[2]["status"] == "Accepted"


def test_selftest_passes():
    result = subprocess.run([BINARY, "selftest"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selftest ok" in result.stdout


async def test_frozen_server_serves_ocpp_api_and_dashboard(tmp_path):
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        BINARY, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir",
        str(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await listening(proc, 60)
        await boot(port, "CP-FROZEN")
        client = tornado.httpclient.AsyncHTTPClient()
        base = f"http://127.0.0.1:{port}"
        page = await client.fetch(base + "/ui/")
        assert b"<form" in page.body
        css = await client.fetch(base + "/static/css/evedge.css")
        assert css.code == 200
        spec = json.loads((await client.fetch(base + "/api/openapi.json")).body)
        assert "/api/chargers/" in spec["paths"]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_frozen_server_serves_firmware_and_receives_diagnostics_by_ftp(tmp_path):
    """pyftpdlib (and the stdlib asynchat/asyncore it runs on) made it into the bundle."""
    import ftplib
    import io
    from urllib.parse import urlsplit

    port, ftp_port = free_port(), free_port()
    common = ["--data-dir", str(tmp_path)]
    created = subprocess.run([BINARY, "createuser", *common, "--username", "admin",
                              "--password", "admin-pass-1"], capture_output=True, timeout=60)
    assert created.returncode == 0, created.stderr
    proc = await asyncio.create_subprocess_exec(
        BINARY, "serve", "--host", "127.0.0.1", "--port", str(port), "--ftp-port",
        str(ftp_port), *common, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    client = tornado.httpclient.AsyncHTTPClient()
    base = f"http://127.0.0.1:{port}"

    async def call(method, path, token=None, body=None, raw=None):
        response = await client.fetch(
            base + path, method=method, raise_error=False,
            body=raw if raw is not None else (json.dumps(body) if body is not None else None),
            headers={"Content-Type": "application/octet-stream" if raw else "application/json",
                     **({"Authorization": f"Bearer {token}"} if token else {})})
        assert response.code < 300, (path, response.code, response.body)
        return json.loads(response.body) if response.body else None

    def by_ftp(firmware: str, diagnostics: str) -> tuple[bytes, str]:
        fetched = io.BytesIO()
        for location, transfer in ((firmware, lambda f: f.retrbinary("RETR fw.bin",
                                                                     fetched.write)),
                                   (diagnostics, lambda f: f.storbinary(
                                       "STOR frozen.log", io.BytesIO(b"frozen")))):
            parts = urlsplit(location)
            with ftplib.FTP(timeout=5) as ftp:
                ftp.connect(parts.hostname, parts.port)
                ftp.login(parts.username, parts.password)
                answer = transfer(ftp)
        return fetched.getvalue(), answer

    try:
        await listening(proc, 60)
        token = (await call("POST", "/api/auth/login/", body={
            "username": "admin", "password": "admin-pass-1"}))["access"]
        await call("POST", "/api/chargers/", token, {"id": "CP-FROZEN"})
        await call("PUT", "/api/firmware/fw.bin", token, raw=b"F" * 100_000)
        firmware = await call("GET", "/api/firmware/fw.bin/location/CP-FROZEN/?protocol=ftp",
                              token)
        diagnostics = await call("GET", "/api/diagnostics/location/CP-FROZEN/?protocol=ftp",
                                 token)
        fetched, stored = await asyncio.to_thread(by_ftp, firmware["location"],
                                                  diagnostics["location"])
        assert fetched == b"F" * 100_000 and stored.endswith("frozen.log.")
        listed = await call("GET", "/api/diagnostics/?charger=CP-FROZEN", token)
        assert [item["name"] for item in listed["items"]] == ["frozen.log"]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.skipif(not list(pathlib.Path("/usr/lib/postgresql").glob("*/bin/initdb")),
                    reason="PostgreSQL's server binaries are not installed")
async def test_frozen_server_runs_on_postgresql(tmp_path):
    """The one file also serves PostgreSQL (psycopg2 is in the bundle): a throwaway server
    from tests/with_postgres.sh, the binary migrates it, makes an account and serves."""
    port = free_port()
    script = (f'"{BINARY}" createuser --database-url "$EVEDGE_TEST_POSTGRES" '
              f'--data-dir "{tmp_path}" --username admin --password correct-horse-9 && '
              f'exec "{BINARY}" serve --host 127.0.0.1 --port {port} --data-dir "{tmp_path}" '
              '--database-url "$EVEDGE_TEST_POSTGRES"')
    wrapper = str(pathlib.Path(__file__).with_name("with_postgres.sh"))
    proc = await asyncio.create_subprocess_exec(
        wrapper, shutil.which("sh"), "-c", script,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await listening(proc, 90)
        await boot(port, "CP-FROZEN-PG")
        client = tornado.httpclient.AsyncHTTPClient()
        base = f"http://127.0.0.1:{port}"
        login = await client.fetch(base + "/api/auth/login/", method="POST",
                                   headers={"Content-Type": "application/json"},
                                   body=json.dumps({"username": "admin",
                                                    "password": "correct-horse-9"}))
        token = json.loads(login.body)["access"]
        rows = json.loads((await client.fetch(
            base + "/api/chargers/", headers={"Authorization": f"Bearer {token}"})).body)
        assert [row["id"] for row in rows] == ["CP-FROZEN-PG"]
        assert not list(tmp_path.glob("*.db")), "it used SQLite, not the database_url"
    finally:
        # The binary is the wrapper's child: SIGTERM reaches it through sh's exec, and the
        # wrapper then stops PostgreSQL.
        for child in _children(proc.pid):
            os.kill(child, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(text) for text in found.stdout.split()]
