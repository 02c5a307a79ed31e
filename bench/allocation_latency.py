"""Load management's allocation latency against a running evedge (run.py scenario
``allocation``; also usable alone).

N chargers connect and boot, a site model puts them all (16 A at most each) on one
circuit whose limit is 16 A x (N - 1), and N - 1 of them start a session (each then
gets 16 A). Each round one
more StartTransaction arrives on the spare charger: every session's share falls below
16 A, so every charger gets a new TxProfile and ChargePointMaxProfile, and the new
session its own. Measured from the moment the StartTransaction's answer arrives to the
first and to the last SetChargingProfile a charger receives (all of them, decreases and
the new session's increase; the server runs with load_reaction_time = 0 and
load_increase_interval = 0, so nothing waits for a car). Then the session stops and the
site settles before the next round.

    python bench/allocation_latency.py --port 8000 --user bench --password ... --n 200
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time
import urllib.request

import websockets

T0 = "2026-12-01T10:00:00Z"
QUIET_S = 1.5       # no profile for this long: the site has settled
ROUND_TIMEOUT_S = 300.0


class Charger:
    """A minimal OCPP-J client: answers SetChargingProfile Accepted and notes when."""

    ids = itertools.count(1)

    def __init__(self, charger_id: str, log: list):
        self.id, self.log = charger_id, log
        self.latest: dict[str, float] = {}  # purpose -> the last limit received
        self.ws = None
        self.waiting: dict[str, asyncio.Future] = {}

    async def open(self, url: str) -> None:
        self.ws = await websockets.connect(f"{url}/{self.id}", subprotocols=["ocpp1.6"],
                                           open_timeout=60, ping_interval=None)
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame[0] == 2:
                if frame[2] == "SetChargingProfile":
                    self.log.append((time.monotonic(), self.id, frame[3]))
                    profile = frame[3]["csChargingProfiles"]
                    self.latest[profile["chargingProfilePurpose"]] = \
                        profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
                await self.ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
            elif frame[1] in self.waiting:  # the time it was read, not when the caller wakes
                self.waiting.pop(frame[1]).set_result((time.monotonic(), frame))

    async def call(self, action: str, payload: dict) -> dict:
        return (await self.timed_call(action, payload))[1]

    async def timed_call(self, action: str, payload: dict) -> tuple[float, dict]:
        """(when the answer was read, the answer)."""
        unique = f"m{next(self.ids)}"
        future = asyncio.get_running_loop().create_future()
        self.waiting[unique] = future
        await self.ws.send(json.dumps([2, unique, action, payload]))
        read_at, frame = await asyncio.wait_for(future, 60)
        if frame[0] != 3:
            raise RuntimeError(f"{self.id}: {action} answered {frame}")
        return read_at, frame[2]

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


def api(base: str, method: str, path: str, body=None, token=None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


async def settle(chargers: list, share: float, busy: int) -> None:
    """Until the first ``busy`` chargers hold ``share`` A (TxProfile and maximum), and the
    others a maximum of 0 A: what the allocation must come to."""
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(c.latest.get("TxProfile") == share and c.latest.get("ChargePointMaxProfile")
               == share for c in chargers[:busy]) and all(
                c.latest.get("ChargePointMaxProfile") == 0 for c in chargers[busy:]):
            await asyncio.sleep(QUIET_S)  # and nothing else follows
            return
        await asyncio.sleep(0.02)
    raise RuntimeError(f"the site did not settle at {share} A for {busy} sessions")


def share(limit: float, sessions: int) -> float:
    """The equal share, rounded down to 0.1 A as the allocator does."""
    return min(32.0, (int(limit * 10) // sessions) / 10)


async def measure(host: str, port: int, user: str, password: str, n: int,
                  rounds: int = 3) -> dict:
    base = f"http://{host}:{port}"
    token = api(base, "POST", "/api/auth/login/", {"username": user, "password": password})[
        "access"]
    names = [f"LM{i:05d}" for i in range(n)]
    api(base, "PUT", "/api/site/", {
        "circuits": [{"id": "main", "max_current_a": 16.0 * (n - 1)}],
        # at most 16 A each: while the N - 1 sessions start, the circuit does not bind and
        # each start changes only its own profiles (no churn before the measurement)
        "chargers": [{"charger_id": name, "circuit": "main", "max_current_a": 16}
                     for name in names]}, token)
    log: list = []
    chargers = [Charger(name, log) for name in names]
    started = time.monotonic()
    for batch in range(0, n, 100):
        await asyncio.gather(*(c.open(f"ws://{host}:{port}/ocpp")
                               for c in chargers[batch:batch + 100]))
    await asyncio.gather(*(c.call("BootNotification", {"chargePointVendor": "bench",
                                                       "chargePointModel": "lm"})
                           for c in chargers))
    connect_s = time.monotonic() - started
    await asyncio.gather(*(start(c, 1) for c in chargers[:-1]))
    limit = 16.0 * (n - 1)
    await settle(chargers, share(limit, n - 1), n - 1)
    results = []
    spare = chargers[-1]
    for _ in range(rounds):
        before = len(log)
        answered, tx = await start(spare, 1, timed=True)
        await settle(chargers, share(limit, n), n)
        times = [entry[0] for entry in log[before:]]
        results.append({"first_ms": (min(times) - answered) * 1000,
                        "last_ms": (max(times) - answered) * 1000,
                        "profiles": len(times)})
        await spare.call("StopTransaction", {"transactionId": tx, "meterStop": 10,
                                             "timestamp": T0})
        spare.latest.pop("TxProfile", None)
        await settle(chargers, share(limit, n - 1), n - 1)
    await asyncio.gather(*(c.close() for c in chargers), return_exceptions=True)
    return {"sessions": n, "rounds": results, "connect_s": round(connect_s, 2),
            "first_ms": statistics.median(r["first_ms"] for r in results),
            "last_ms": statistics.median(r["last_ms"] for r in results),
            "last_ms_max": max(r["last_ms"] for r in results),
            "profiles": statistics.median(r["profiles"] for r in results)}


METER = itertools.count(0, 100)


async def start(charger: Charger, connector: int, timed: bool = False):
    # A new meterStart each time: an identical StartTransaction is a retry and gets the same
    # transactionId back (docs/decisions.md D8), which starts nothing.
    read_at, answer = await charger.timed_call("StartTransaction", {
        "connectorId": connector, "idTag": "BENCH", "meterStart": next(METER), "timestamp": T0})
    return (read_at, answer["transactionId"]) if timed else answer["transactionId"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.host, args.port, args.user, args.password,
                                         args.n, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
