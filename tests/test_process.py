"""evedge as a real process: `python -m evedge serve`, SIGTERM, and kill -9 durability."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import sqlite3
import sys
from contextlib import asynccontextmanager

import pytest
import websockets

from conftest import free_port

pytestmark = pytest.mark.timeout(90)


@asynccontextmanager
async def evedge_process(data_dir, *extra: str, open_files: int | None = None):
    port = free_port()
    env = {**os.environ, "EVEDGE_LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1"}

    def limit_open_files() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evedge", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data_dir), *extra, env=env, preexec_fn=limit_open_files,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    lines: list[str] = []

    async def until(fragment: str) -> None:
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise AssertionError("evedge exited:\n" + "".join(lines))
            lines.append(line)
            if fragment in line:
                return

    try:
        await asyncio.wait_for(until("listening on"), 30)
        proc.until = until  # type: ignore[attr-defined]
        proc.lines = lines  # type: ignore[attr-defined]
        yield proc, port
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def call(ws, frame) -> list:
    await ws.send(json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def test_sigterm_closes_chargers_with_1001_and_exits_0(tmp_path):
    async with evedge_process(tmp_path) as (proc, port):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-P",
                                      subprotocols=["ocpp1.6"]) as ws:
            assert (await call(ws, [2, "1", "Heartbeat", {}]))[0] == 3
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd.code == 1001
        assert await asyncio.wait_for(proc.wait(), 15) == 0


async def test_acknowledged_messages_survive_kill_9(tmp_path):
    acknowledged = []
    async with evedge_process(tmp_path) as (proc, port):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-CRASH",
                                      subprotocols=["ocpp1.6"]) as ws:
            start = await call(ws, [2, "s", "StartTransaction", {
                "connectorId": 1, "idTag": "T", "meterStart": 0,
                "timestamp": "2026-11-20T10:00:00Z"}])
            tx = start[2]["transactionId"]
            for n in range(50):
                reply = await call(ws, [2, f"m{n}", "MeterValues", {
                    "connectorId": 1, "transactionId": tx, "meterValue": [{
                        "timestamp": "2026-11-20T10:00:00Z",
                        "sampledValue": [{"value": str(n)}]}]}])
                assert reply[0] == 3
                acknowledged.append(n)
            proc.kill()  # SIGKILL: no shutdown code runs
            await proc.wait()
    with sqlite3.connect(tmp_path / "evedge.db") as db:
        stored = {int(v) for (v,) in db.execute(
            "SELECT value FROM meter_sample WHERE transaction_id = ?", (tx,))}
        assert db.execute('SELECT charger_id FROM "transaction" WHERE id = ?',
                          (tx,)).fetchone() == ("CP-CRASH",)
    assert set(acknowledged) <= stored


async def test_restart_marks_chargers_offline_and_keeps_data(tmp_path):
    async with evedge_process(tmp_path) as (proc, port):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-R",
                                      subprotocols=["ocpp1.6"]) as ws:
            await call(ws, [2, "b", "BootNotification",
                            {"chargePointVendor": "V", "chargePointModel": "M"}])
            proc.kill()
            await proc.wait()
    async with evedge_process(tmp_path) as (proc, port):
        with sqlite3.connect(tmp_path / "evedge.db") as db:
            connected, disconnected = db.execute(
                "SELECT connected_at, disconnected_at FROM charger WHERE id = 'CP-R'").fetchone()
        assert disconnected is not None and disconnected >= connected[:19]


async def test_out_of_file_descriptors_pauses_accepting_then_recovers(tmp_path):
    """More connections than the open-files limit (a storm on a box with a low LimitNOFILE):
    one warning instead of a traceback per loop turn, and chargers are served again once
    sockets are freed."""
    async with evedge_process(tmp_path, open_files=96) as (proc, port):
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(150)]
        try:
            await asyncio.wait_for(proc.until("cannot accept connections"), 20)
        finally:
            for sock in held:
                sock.close()
        await asyncio.wait_for(proc.until("accepting connections again"), 30)
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-FD",
                                      subprotocols=["ocpp1.6"]) as ws:
            reply = await call(ws, [2, "b", "BootNotification",
                                    {"chargePointVendor": "V", "chargePointModel": "M"}])
            assert reply[2]["status"] == "Accepted"
        log = "".join(proc.lines)
        assert log.count("cannot accept connections") == 1
        assert "Traceback" not in log
