"""Hostile site network: what a technician and the chargers get from evedge while one host
on the network attacks it, and what the attacks cost the box.

    python bench/hostile_network.py [--evedge-root .] [--duration 20] [--out F.json]

For each phase a fresh server (``python -m evedge serve``, default settings) is started from
``--evedge-root`` with one viewer account (login_flood.Server). Meanwhile, from another
address (127.0.0.2), the honest side measures:

* ``rest``: ``GET /api/chargers/`` with a bearer token on a new connection (like a browser
  after a pause), twice a second;
* ``heartbeat``: a Heartbeat round trip of a connected charger, twice a second;
* ``boot``: a new charger connecting and sending BootNotification, once a second.

A probe that gets no answer in 15 s counts as status 0. The attacks, from 127.0.0.1:

* ``quiet``: none (the baseline);
* ``slowloris``: ``--sockets`` connections that send a request line and then one header
  line a second, never finishing; one closed by the server is opened again at once;
* ``charger-flood``: one charger that connects without a password and sends MeterValues as
  fast as the server answers (200 in flight); reports frames answered a second and how much
  the database grew;
* ``slow-bodies``: 100 connections that POST /api/auth/login/ announcing a 16 MiB JSON
  body and send 64 KiB every half second; reports the server's RSS above its baseline.

The server is pinned to ``--server-cpu`` and this script to ``--client-cpu``
(bench/README.md; -1 disables).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import statistics
import time
from pathlib import Path

import websockets

from login_flood import ACCOUNTS, ATTACKER, BOOT, HONEST, Server, parser_for, run_phases

TIMEOUT = 15.0
METER_VALUES = {"connectorId": 1, "meterValue": [{
    "timestamp": "2026-12-07T10:00:00Z",
    "sampledValue": [{"value": "1234", "measurand": "Energy.Active.Import.Register",
                      "unit": "Wh"}, {"value": "16.0", "measurand": "Current.Import",
                                      "unit": "A", "phase": "L1"}]}]}


# --- the honest side -------------------------------------------------------------------------

async def http(port: int, request: bytes) -> tuple[int, bytes]:
    """One request on a new connection from the honest address: (status, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(HONEST, 0))
    try:
        writer.write(request)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, await reader.readexactly(length)
    finally:
        writer.close()


async def token(port: int) -> str:
    body = json.dumps({"username": "tech", "password": ACCOUNTS["tech"]}).encode()
    status, answer = await http(port, b"POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                % (len(body), body))
    assert status == 200, (status, answer)
    return json.loads(answer)["access"]


async def timed(work) -> tuple[float, int]:
    start = time.monotonic()
    try:
        status = await asyncio.wait_for(work, TIMEOUT)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError,
            websockets.WebSocketException):
        status = 0
    return time.monotonic() - start, status


async def rest_probe(port: int, bearer: str) -> int:
    status, _ = await http(port, b"GET /api/chargers/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Authorization: Bearer %s\r\n\r\n" % bearer.encode())
    return status


async def boot_probe(port: int, n: int) -> int:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/HONEST-{n}",
                                  subprotocols=["ocpp1.6"], local_addr=(HONEST, 0),
                                  open_timeout=TIMEOUT) as ws:
        await ws.send(BOOT)
        return 200 if json.loads(await ws.recv())[0] == 3 else 0


async def every(period: float, until: float, probe, samples: list) -> None:
    n = 0
    while time.monotonic() < until:
        tick = time.monotonic()
        n += 1
        samples.append(await timed(probe(n)))
        await asyncio.sleep(max(0.0, period - (time.monotonic() - tick)))


async def heartbeats(port: int, until: float, samples: list) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/HONEST-HB",
                                  subprotocols=["ocpp1.6"], local_addr=(HONEST, 0)) as ws:
        await ws.send(BOOT)
        await ws.recv()

        async def beat(n: int) -> int:
            await ws.send(json.dumps([2, f"hb{n}", "Heartbeat", {}]))
            return 200 if json.loads(await ws.recv())[0] == 3 else 0
        await every(0.5, until, beat, samples)


# --- the attacks -----------------------------------------------------------------------------

async def slowloris(port: int, sockets: int, until: float, counts: collections.Counter) -> None:
    async def one() -> None:
        while time.monotonic() < until:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                               local_addr=(ATTACKER, 0))
                counts["opened"] += 1
                writer.write(b"GET /api/chargers/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                while time.monotonic() < until:
                    await asyncio.sleep(1)
                    writer.write(b"X-Slow: a\r\n")
                    await writer.drain()
                    if reader.at_eof():
                        break
                writer.close()
            except OSError:
                counts["refused"] += 1
                await asyncio.sleep(0.1)
    await asyncio.gather(*(one() for _ in range(sockets)))


async def charger_flood(port: int, until: float, counts: collections.Counter) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/FLOODER", subprotocols=["ocpp1.6"],
                                  local_addr=(ATTACKER, 0), max_queue=None) as ws:
        await ws.send(BOOT)
        await ws.recv()
        window = asyncio.Semaphore(200)

        async def reader() -> None:
            async for raw in ws:
                counts["answered" if json.loads(raw)[0] == 3 else "errors"] += 1
                window.release()
        task = asyncio.ensure_future(reader())
        n = 0
        while time.monotonic() < until:
            try:   # the server reads a flooding charger more slowly: the window fills
                await asyncio.wait_for(window.acquire(), max(0.01, until - time.monotonic()))
            except asyncio.TimeoutError:
                break
            n += 1
            await ws.send(json.dumps([2, f"m{n}", "MeterValues", METER_VALUES]))
        counts["sent"] = n
        task.cancel()


async def slow_bodies(port: int, until: float, counts: collections.Counter) -> None:
    chunk = b" " * 65536

    async def one() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                           local_addr=(ATTACKER, 0))
            writer.write(b"POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                         b"application/json\r\nContent-Length: 16777216\r\n\r\n")
            counts["opened"] += 1
            while time.monotonic() < until:
                writer.write(chunk)
                await writer.drain()
                counts["sent_kib"] += 64
                await asyncio.sleep(0.5)
                if reader.at_eof():
                    counts["closed_by_server"] += 1
                    break
            writer.close()
        except OSError:
            counts["closed_by_server"] += 1
    await asyncio.gather(*(one() for _ in range(100)))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def watch_rss(pid: int, until: float, peak: list) -> None:
    while time.monotonic() < until:
        peak[0] = max(peak[0], rss_kib(pid))
        await asyncio.sleep(0.2)


def database_bytes(data: str) -> int:
    return sum(p.stat().st_size for p in Path(data).glob("*.db*"))


# --- one phase -------------------------------------------------------------------------------

def summary(samples: list[tuple[float, int]]) -> dict:
    times = sorted(t for t, _ in samples)
    return {"n": len(samples), "statuses": dict(collections.Counter(s for _, s in samples)),
            "median_ms": round(1000 * statistics.median(times), 1) if times else None,
            "p95_ms": round(1000 * times[math.ceil(0.95 * len(times)) - 1], 1) if times else None,
            "max_ms": round(1000 * times[-1], 1) if times else None}


async def phase(opts: argparse.Namespace, name: str) -> dict:
    with Server(opts) as server:
        port = server.port
        bearer = await token(port)
        await asyncio.sleep(1)
        baseline_rss, db_before = rss_kib(server.proc.pid), database_bytes(server.data)
        duration = opts.quiet if name == "quiet" else opts.duration
        start = time.monotonic()
        until = start + duration
        counts: collections.Counter = collections.Counter()
        peak = [baseline_rss]
        attack = {"quiet": lambda: asyncio.sleep(0),
                  "slowloris": lambda: slowloris(port, opts.sockets, until, counts),
                  "charger-flood": lambda: charger_flood(port, until, counts),
                  "slow-bodies": lambda: slow_bodies(port, until, counts)}[name]
        rest: list = []
        beats: list = []
        boots: list = []
        await asyncio.gather(attack(), watch_rss(server.proc.pid, until, peak),
                             every(0.5, until, lambda n: rest_probe(port, bearer), rest),
                             heartbeats(port, until, beats),
                             every(1.0, until, lambda n: boot_probe(port, n), boots))
        elapsed = time.monotonic() - start
        result = {"phase": name, "seconds": round(elapsed, 1), "attack": dict(counts),
                  "rest": summary(rest), "heartbeat": summary(beats), "boot": summary(boots),
                  "rss_baseline_mib": round(baseline_rss / 1024, 1),
                  "rss_peak_above_baseline_mib": round((peak[0] - baseline_rss) / 1024, 1)}
        if name == "charger-flood":
            # Over the attack's own time: closing the flooder's socket afterwards may wait
            # for the server to read what is still queued.
            result["flood_answered_per_s"] = round(counts["answered"] / duration, 1)
            result["database_growth_mib"] = round(
                (database_bytes(server.data) - db_before) / 2**20, 1)
        return result


def main() -> None:
    parser = parser_for(__doc__, 20.0, "quiet,slowloris,charger-flood,slow-bodies")
    parser.add_argument("--sockets", type=int, default=256, help="slowloris connections")
    run_phases(parser.parse_args(), phase)


if __name__ == "__main__":
    main()
