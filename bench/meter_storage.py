"""What meter samples cost on disk, and what the retention sweep costs the event loop.

``size``: C chargers metering every INTERVAL seconds for a day, each MeterValues with
the nine sampled values of a typical 3-phase AC charger (energy register, active power,
current per phase, voltage per phase, SoC), every one with the context, location and
unit firmwares send, all inside a transaction (a connector charging all day: the worst
case). The rows are made by evedge's own ``meter_readings.sample_rows`` and inserted
into a database made by evedge's own ``open_database`` (schema, indexes and pragmas of
production). Reports the bytes per charger per day from the file size after a
checkpoint, and per table and index from SQLite's ``dbstat``.

``sweep``: a backlog of N old samples (plus a day of recent ones that must stay), then
``MeterRetention.sweep`` on a real event loop with the group commit of production
(2 ms window, synchronous=FULL), while a probe measures how late a 1 ms timer fires
(the loop's stalls) and a Heartbeat-like callback measures its turnaround. Reports the
delete rate, the worst and the 99th-percentile stall. WAL checkpoints run in their own
thread as in the server (``--checkpoints commit``: in the commits, SQLite's default).

    python bench/meter_storage.py size --chargers 20
    python bench/meter_storage.py sweep --rows 2000000 [--checkpoints commit]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evedge.config import Config  # noqa: E402
from evedge.domain.meter_readings import sample_rows  # noqa: E402
from evedge.retention import MeterRetention  # noqa: E402
from evedge.storage import sql  # noqa: E402
from evedge.storage.checkpoints import Checkpointer  # noqa: E402
from evedge.storage.database import close_database, open_database  # noqa: E402
from evedge.storage.group_commit import GroupCommit  # noqa: E402
from evedge.storage.models import database  # noqa: E402

T0 = dt.datetime(2026, 1, 1)
PHASES = ("L1", "L2", "L3")


def meter_value(minute: int, taken: dt.datetime) -> list[dict]:
    """One MeterValues.meterValue as a 3-phase 11 kW charger sends it (snake case, as the
    dispatcher hands it to the session)."""
    common = {"context": "Sample.Periodic", "location": "Outlet", "format": "Raw"}
    samples = [{"value": str(1_000_000 + minute * 183), "measurand":
                "Energy.Active.Import.Register", "unit": "Wh", **common},
               {"value": f"{11000 - minute % 7 * 13.5:.1f}", "measurand":
                "Power.Active.Import", "unit": "W", **common}]
    samples += [{"value": f"{15.9 + i * 0.1:.1f}", "measurand": "Current.Import", "phase": p,
                 "unit": "A", **common} for i, p in enumerate(PHASES)]
    samples += [{"value": f"{229.5 + i:.1f}", "measurand": "Voltage", "phase": f"{p}-N",
                 "unit": "V", **common} for i, p in enumerate(PHASES)]
    samples.append({"value": str(min(100, 20 + minute // 20)), "measurand": "SoC",
                    "unit": "Percent", "context": "Sample.Periodic", "location": "EV"})
    return [{"timestamp": taken.isoformat() + "Z", "sampled_value": samples}]


def open_fixture(data_dir: Path, fast: bool = False):
    """evedge's database; ``fast`` (synchronous=OFF) for building a fixture, not for data."""
    db = open_database(Config(data_dir=data_dir, jwt_secret="x" * 32))
    if fast:
        db.execute_sql("PRAGMA synchronous = OFF")
    return db


def fill(chargers: int, minutes: int, start: dt.datetime, interval: int = 60) -> int:
    """Rows in arrival order, all chargers interleaved; one open transaction each."""
    now = start
    transactions = []
    with database.atomic():
        for n in range(chargers):
            sql.insert_charger(f"CP-{n:04d}", "Accepted", now)
            transactions.append(sql.insert_transaction(f"CP-{n:04d}", 1, "TAG-1", "Accepted",
                                                       None, 0, now, now))
    inserted = 0
    for minute in range(0, minutes, max(1, interval // 60)):
        taken = start + dt.timedelta(seconds=minute * 60)
        rows = []
        for n, transaction_id in enumerate(transactions):
            rows += sample_rows(f"CP-{n:04d}", 1, transaction_id, meter_value(minute, taken),
                                taken + dt.timedelta(milliseconds=150))
        with database.atomic():
            sql.insert_meter_samples(rows)
        inserted += len(rows)
    return inserted


def file_bytes(path: Path) -> int:
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def size(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_fixture(Path(tmp), fast=True)
        path = Path(tmp) / "evedge.db"
        empty = file_bytes(path)
        rows = fill(args.chargers, 24 * 60, T0, args.interval)
        total = file_bytes(path) - empty
        stats = list(db.execute_sql(
            "SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE '%sample%' GROUP BY name "
            "ORDER BY 2 DESC"))
        close_database()
    per_charger_day = total / args.chargers
    print(f"{args.chargers} chargers x 1 day, a MeterValues every {args.interval} s with 9 "
          f"sampled values: {rows:,} rows, {total:,} bytes")
    print(f"  {total / rows:.0f} bytes per sample, {per_charger_day / 1e6:.2f} MB per charger "
          "per day (metering all day)")
    for name, pages in stats:
        print(f"  {name}: {pages / rows:.0f} bytes per sample")
    for card_gb, share in ((32, 0.5), (32, 0.25)):
        days = card_gb * 1e9 * share / (200 * per_charger_day)
        print(f"  {share:.0%} of a {card_gb} GB card holds {days:.0f} days of 200 chargers "
              "metering all day")


async def probe_loop(stop: asyncio.Event, lateness: list[float]) -> None:
    """How late a 1 ms sleep wakes up: the time the loop was held by something else."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        began = loop.time()
        await asyncio.sleep(0.001)
        lateness.append(loop.time() - began - 0.001)


async def run_sweep(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_fixture(Path(tmp), fast=True)
        chargers = 200
        minutes = max(1, args.rows // (chargers * 9))
        began = time.perf_counter()
        old = fill(chargers, minutes, T0)
        fill(chargers, 30, T0 + dt.timedelta(days=400))
        print(f"backlog: {old:,} old samples (+ recent ones) in {time.perf_counter() - began:.0f}"
              " s", file=sys.stderr)
        close_database()
        db = open_fixture(Path(tmp))  # synchronous=FULL, as the server runs
        checkpointer = None
        if args.checkpoints == "thread":  # as the server runs
            checkpointer = Checkpointer(Path(tmp) / "evedge.db").start()
        else:  # SQLite's default: the commit that takes the WAL past 1,000 pages
            db.execute_sql("PRAGMA wal_autocheckpoint = 1000")
        committer = GroupCommit(db, window=0.002)
        retention = MeterRetention(committer, days=30)
        stop, lateness = asyncio.Event(), []
        probe = asyncio.create_task(probe_loop(stop, lateness))
        began = time.perf_counter()
        deleted = await retention.sweep(T0 + dt.timedelta(days=370))
        took = time.perf_counter() - began
        stop.set()
        await probe
        left = db.execute_sql('SELECT COUNT(*) FROM "meter_sample"').fetchone()[0]
        if checkpointer is not None:
            checkpointer.close()
        close_database()
    lateness.sort()
    print(f"deleted {deleted:,} of {old:,} old samples in {took:.1f} s: "
          f"{deleted / took:,.0f} samples/s; {left:,} recent ones kept")
    print(f"loop stalls (1 ms timer lateness, {len(lateness):,} samples): worst "
          f"{lateness[-1] * 1000:.1f} ms, p99 {lateness[int(len(lateness) * 0.99)] * 1000:.1f} ms,"
          f" median {statistics.median(lateness) * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    measure = commands.add_parser("size", help="bytes per charger per day")
    measure.add_argument("--chargers", type=int, default=20)
    measure.add_argument("--interval", type=int, default=60, help="seconds between MeterValues")
    sweep = commands.add_parser("sweep", help="retention delete rate and loop stalls")
    sweep.add_argument("--rows", type=int, default=2_000_000)
    sweep.add_argument("--checkpoints", choices=("thread", "commit"), default="thread",
                       help="WAL checkpoints in their own thread (the server's way) or in the "
                            "commit that fills the WAL (SQLite's default, evedge before)")
    args = parser.parse_args()
    if args.command == "size":
        size(args)
    else:
        asyncio.run(run_sweep(args))


if __name__ == "__main__":
    main()
