"""What recording repairs per charger costs a quirky charger's messages (docs/decisions.md D22).

    python bench/repair_cost.py [--messages 2000] [--rounds 3]

An in-process server (the objects production builds, a real SQLite file with
``synchronous=FULL``) and one charger on a real WebSocket that sends MeterValues one after
the other, each answered before the next: valid ones, then ones the tolerant pass repairs
(an unlisted unit in two samples and an unknown property: two repair kinds per message).
Prints the messages per second of each, and how many statements wrote to charger_repair
(counted with SQLite's trace callback on the loop's connection) against the messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's evedge

import tornado.testing  # noqa: E402
import websockets  # noqa: E402

from evedge.config import Config  # noqa: E402
from evedge.server import http_server  # noqa: E402
from evedge.services import build_services  # noqa: E402
from evedge.storage.models import database  # noqa: E402

T0 = "2026-11-20T10:00:00Z"


def meter_values(n: int, quirky: bool) -> str:
    unit = "mA" if quirky else "A"
    payload = {"connectorId": 1, "meterValue": [{"timestamp": T0, "sampledValue": [
        {"value": "1", "unit": unit, "measurand": "Current.Import"},
        {"value": "2", "unit": unit, "measurand": "Current.Import", "phase": "L2"}]}]}
    if quirky:
        payload["vendorExtra"] = {"fw": "1.2"}
    return json.dumps([2, str(n), "MeterValues", payload])


async def rate(ws, count: int, quirky: bool) -> float:
    started = time.perf_counter()
    for n in range(count):
        await ws.send(meter_values(n, quirky))
        assert json.loads(await ws.recv())[0] == 3
    return count / (time.perf_counter() - started)


async def main(messages: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        # One charger at full speed: its per-charger read rate is lifted for the measurement.
        config = Config(data_dir=Path(data_dir), jwt_secret="x" * 48, log_level="warning",
                        charger_message_rate=1e6, charger_message_burst=1e6)
        services = await build_services(config)
        sock, port = tornado.testing.bind_unused_port()
        server = http_server(config, services)
        server.add_sockets([sock])
        writes = []
        database.connection().set_trace_callback(
            lambda sql: writes.append(sql) if "charger_repair" in sql
            and not sql.lstrip().upper().startswith("SELECT") else None)
        try:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-BENCH",
                                          subprotocols=["ocpp1.6"]) as ws:
                await rate(ws, 50, True)   # warm-up, and the kinds become known
                writes.clear()
                valid, quirky = [], []
                for _ in range(rounds):
                    valid.append(await rate(ws, messages, False))
                    quirky.append(await rate(ws, messages, True))
            print(f"valid MeterValues:    {statistics.median(valid):8.0f} messages/s "
                  f"(median of {rounds} x {messages})")
            print(f"repaired MeterValues: {statistics.median(quirky):8.0f} messages/s")
            print(f"statements writing charger_repair during {rounds * messages} repaired "
                  f"messages: {len(writes)} (flushed with housekeeping, every 30 s)")
            services.housekeeping.flush_repairs()
            services.committer.flush()
            print(f"after one housekeeping flush: {len(writes)}")
        finally:
            server.stop()
            await services.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.messages, options.rounds))
