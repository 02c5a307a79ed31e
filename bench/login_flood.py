"""Login flood: how many password guesses a second one address gets out of evedge, and what
an honest login and a charger's BootNotification cost meanwhile.

    python bench/login_flood.py [--evedge-root .] [--duration 15] [--concurrency 50]

For each phase a fresh server (``python -m evedge serve``, production settings: bcrypt cost
12) is started from ``--evedge-root`` with two accounts made by ``evedge createuser``
(``admin``, the flood's target, and ``tech``, the honest user). Phases:

* ``quiet``: no flood; the honest probes alone (the baseline).
* ``one-username``: ``--concurrency`` connections from 127.0.0.1 send wrong passwords for
  ``admin`` as fast as the server answers (an attacker ignores Retry-After).
* ``many-usernames``: the same, with a new user name every request.

Meanwhile, once a second, from another address (127.0.0.2): an honest login of ``tech``
(new connection, like a browser) and a charger that connects and sends BootNotification
(connect to answer). A "guess" is an answered password check (401); 429 and 503 are
refusals that cost no bcrypt. The server is pinned to ``--server-cpu`` and this script to
``--client-cpu`` (the benchmark's convention, see bench/README.md; -1 disables).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
ATTACKER, HONEST = "127.0.0.1", "127.0.0.2"
ACCOUNTS = {"admin": "admin-password-1", "tech": "tech-password-1"}
BOOT = json.dumps([2, "1", "BootNotification", {"chargePointVendor": "Bench",
                                                "chargePointModel": "Flood"}])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A fresh evedge process with the two accounts."""

    def __init__(self, opts: argparse.Namespace):
        self.opts = opts
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix="evedge-flood-")
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", EVEDGE_LOG_LEVEL="warning",
                        PYTHONPATH=str(opts.evedge_root))
        self.log = open(Path(self.data) / "server.log", "wb")
        self.proc: subprocess.Popen | None = None

    def evedge(self, *args: str) -> list[str]:
        return [self.opts.python, "-m", "evedge", *args, "--data-dir", self.data]

    def __enter__(self) -> "Server":
        for name, password in ACCOUNTS.items():
            subprocess.run(self.evedge("createuser", "--username", name, "--password", password,
                                       "--role", "admin" if name == "admin" else "viewer"),
                           cwd=self.opts.evedge_root, env=self.env, check=True,
                           stdout=subprocess.DEVNULL)
        cpu = self.opts.server_cpu
        self.proc = subprocess.Popen(
            self.evedge("serve", "--host", "127.0.0.1", "--port", str(self.port)),
            cwd=self.opts.evedge_root, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu >= 0 else None)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("evedge did not start; see " + self.log.name)

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)


class Http:
    """A keep-alive HTTP/1.1 client from one source address, JSON bodies, nothing more."""

    def __init__(self, port: int, source: str):
        self.port, self.source = port, source
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: dict) -> int:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port,
                                                         local_addr=(self.source, 0))
        reader, writer = self.streams
        data = json.dumps(body).encode()
        writer.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json"
                     b"\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), self.port, len(data),
                                                            data))
        try:
            status_line = await reader.readline()
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            await reader.readexactly(int(headers.get("content-length", 0)))
            status = int(status_line.split()[1])
        except (asyncio.IncompleteReadError, IndexError, ValueError, ConnectionError):
            self.close()
            return 0
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def flood(port: int, usernames: str, until: float, counts: collections.Counter) -> None:
    client = Http(port, ATTACKER)
    while time.monotonic() < until:
        name = "admin" if usernames == "one" else f"user-{random.getrandbits(40):x}"
        counts[await client.post("/api/auth/login/", {"username": name,
                                                      "password": f"guess-{random.random()}"})] += 1
    client.close()


async def honest_login(port: int) -> tuple[float, int]:
    client = Http(port, HONEST)
    start = time.monotonic()
    status = await client.post("/api/auth/login/", {"username": "tech",
                                                    "password": ACCOUNTS["tech"]})
    client.close()
    return time.monotonic() - start, status


async def charger_boot(port: int, n: int) -> tuple[float, int]:
    start = time.monotonic()
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/FLOOD-{n}",
                                      subprotocols=["ocpp1.6"], local_addr=(HONEST, 0),
                                      open_timeout=30) as ws:
            await ws.send(BOOT)
            reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
    except (OSError, asyncio.TimeoutError, websockets.WebSocketException):
        return time.monotonic() - start, 0
    return time.monotonic() - start, 200 if reply[0] == 3 else 0


async def probes(port: int, until: float, logins: list, boots: list) -> None:
    n = 0
    while time.monotonic() < until:
        tick = time.monotonic()
        n += 1
        login, boot = await asyncio.gather(honest_login(port), charger_boot(port, n))
        logins.append(login)
        boots.append(boot)
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))


def summary(samples: list[tuple[float, int]]) -> dict:
    times = sorted(t for t, _ in samples)
    return {"n": len(samples), "statuses": dict(collections.Counter(s for _, s in samples)),
            "median_ms": round(1000 * statistics.median(times)) if times else None,
            "max_ms": round(1000 * times[-1]) if times else None}


async def phase(opts: argparse.Namespace, name: str) -> dict:
    with Server(opts) as server:
        await asyncio.sleep(1)  # let start-up work settle
        counts: collections.Counter = collections.Counter()
        logins: list = []
        boots: list = []
        duration = opts.quiet if name == "quiet" else opts.duration
        start = time.monotonic()
        until = start + duration
        attackers = [] if name == "quiet" else [
            flood(server.port, name.split("-")[0], until, counts) for _ in range(opts.concurrency)]
        await asyncio.gather(probes(server.port, until, logins, boots), *attackers)
        elapsed = time.monotonic() - start
    return {"phase": name, "seconds": round(elapsed, 1),
            "guesses_per_s": round(counts[401] / elapsed, 2),
            "flood_statuses": dict(counts), "honest_login": summary(logins),
            "boot_notification": summary(boots)}


def parser_for(doc: str, duration: float, phases: str) -> argparse.ArgumentParser:
    """The options every phase script of this kind has (hostile_network.py too)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--evedge-root", type=Path, default=ROOT)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--duration", type=float, default=duration, help="seconds per attack")
    parser.add_argument("--quiet", type=float, default=5.0, help="seconds of the baseline")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--phases", default=phases)
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    return parser


def run_phases(opts: argparse.Namespace, phase_of, **extra) -> None:
    """Each phase on a fresh server, one JSON line each; ``--out`` gets them all."""
    opts.evedge_root = opts.evedge_root.resolve()
    if opts.client_cpu >= 0:
        os.sched_setaffinity(0, {opts.client_cpu})
    results = [asyncio.run(phase_of(opts, name)) for name in opts.phases.split(",")]
    for result in results:
        print(json.dumps(result))
    if opts.out:
        opts.out.write_text(json.dumps({"evedge_root": str(opts.evedge_root), **extra,
                                        "results": results}, indent=1) + "\n")


def main() -> None:
    parser = parser_for(__doc__, 15.0, "quiet,one-username,many-usernames")
    parser.add_argument("--concurrency", type=int, default=50)
    opts = parser.parse_args()
    run_phases(opts, phase, concurrency=opts.concurrency)


if __name__ == "__main__":
    main()
