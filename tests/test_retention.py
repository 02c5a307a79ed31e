"""Meter sample retention (evedge/retention.py): old samples go in bounded steps, while
chargers keep being answered; nothing recent, and nothing of a transaction, is lost."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
import websockets

from evedge.config import ConfigError
from evedge.domain.meter_readings import sample_rows
from evedge.retention import MAX_BATCH, MIN_BATCH, MeterRetention
from evedge.storage import sql
from evedge.storage.models import MeterSample, database
from evedge.timeutil import utcnow

from conftest import RawCharger, make_config
from test_metrics import parse, value

pytestmark = pytest.mark.timeout(60)


def add_samples(server, count: int, received: dt.datetime, charger_id: str = "CP-OLD") -> None:
    """``count`` samples received at ``received``, as the OCPP path stores them."""
    committer = server.services.committer
    committer.run(lambda: sql.insert_charger(charger_id, "Accepted", received))
    reading = [{"timestamp": "2026-01-01T00:00:00Z", "sampled_value": [
        {"value": str(n), "measurand": "Current.Import", "phase": "L1", "unit": "A"}
        for n in range(100)]}]
    for _ in range(count // 100):
        committer.add_rows(sql.meter_insert_sql(),
                           sample_rows(charger_id, 1, None, reading, received))


async def test_a_large_backlog_goes_while_heartbeats_stay_prompt(start_server):
    server = await start_server(meter_retention_days=30)
    token = (await server.api.register())["access"]
    now = utcnow()
    backlog = 100_000
    add_samples(server, backlog, now - dt.timedelta(days=400))
    add_samples(server, 1_000, now - dt.timedelta(days=29), "CP-RECENT")
    await server.services.committer.durable()
    gaps: list[float] = []
    async with websockets.connect(f"{server.ocpp_url}/CP-LIVE", subprotocols=["ocpp1.6"],
                                  open_timeout=5) as ws:
        cp = RawCharger(ws)
        began = time.perf_counter()
        sweep = server.services.housekeeping.retention.start(now)
        while not sweep.done():
            sent = time.perf_counter()
            assert (await cp.call([2, f"h{len(gaps)}", "Heartbeat", {}]))[0] == 3
            gaps.append(time.perf_counter() - sent)
        deleted = await sweep
        took = time.perf_counter() - began
    assert deleted == backlog
    assert MeterSample.select().count() == 1_000
    assert not MeterSample.select().where(MeterSample.charger == "CP-OLD").exists()
    print(f"retention: {backlog} samples in {took:.1f} s ({backlog / took:,.0f}/s); "
          f"{len(gaps)} heartbeats meanwhile, worst {max(gaps) * 1000:.1f} ms")
    assert len(gaps) > 10  # the loop served the charger all along, not after the sweep
    assert max(gaps) < 0.5  # generous on a shared VM: one step holds the loop for ms
    samples = parse((await server.api.get("/metrics", token=token)).body)
    assert value(samples, "evedge_meter_samples_deleted_total") == backlog


async def test_retention_off_keeps_every_sample(start_server):
    server = await start_server(meter_retention_days=0)
    add_samples(server, 500, utcnow() - dt.timedelta(days=4000))
    await server.services.committer.durable()
    assert server.services.housekeeping.retention.start(utcnow()) is None
    server.services.housekeeping.run()
    assert MeterSample.select().count() == 500


async def test_one_sweep_at_a_time(start_server):
    server = await start_server(meter_retention_days=30)
    add_samples(server, 5_000, utcnow() - dt.timedelta(days=90))
    add_samples(server, 100, utcnow(), "CP-NEW")
    await server.services.committer.durable()
    retention = server.services.housekeeping.retention
    first = retention.start(utcnow())
    assert first is not None and retention.start(utcnow()) is None
    assert await first == 5_000
    assert await retention.start(utcnow()) == 0  # done: the next round may start one


async def test_the_newest_sample_stays_so_new_ids_keep_growing(start_server):
    """With every sample old, emptying the table would let SQLite hand the next sample id
    1, below the sweep's bound; the newest one is kept instead."""
    server = await start_server(meter_retention_days=30)
    add_samples(server, 300, utcnow() - dt.timedelta(days=90))
    await server.services.committer.durable()
    newest = MeterSample.select().order_by(MeterSample.id.desc()).first().id
    assert await server.services.housekeeping.retention.start(utcnow()) == 299
    assert [s.id for s in MeterSample.select()] == [newest]
    add_samples(server, 100, utcnow(), "CP-NEW")
    await server.services.committer.durable()
    assert min(s.id for s in MeterSample.select().where(MeterSample.charger == "CP-NEW")) \
        > newest


async def test_the_batch_follows_the_time_a_step_takes(start_server):
    server = await start_server()
    add_samples(server, 20_000, utcnow() - dt.timedelta(days=90))
    await server.services.committer.durable()
    cutoff = utcnow() - dt.timedelta(days=30)
    slow = MeterRetention(server.services.committer, 30, step_budget=1e-9, pause=0)
    fast = MeterRetention(server.services.committer, 30, step_budget=60.0, pause=0)
    first_kept = sql.first_sample_since(cutoff)
    for _ in range(5):
        slow._step(first_kept)
        fast._step(first_kept)
    await server.services.committer.durable()
    assert slow.batch == MIN_BATCH and fast.batch == MAX_BATCH


@pytest.mark.sqlite_only
async def test_retention_never_scans_the_sample_table(start_server):
    """Every statement a sweep runs finds its rows through the primary key: a scan of
    the volume table would hold the loop for seconds on a year of samples."""
    server = await start_server(meter_retention_days=30)
    add_samples(server, 2_000, utcnow() - dt.timedelta(days=90))
    add_samples(server, 200, utcnow(), "CP-NEW")
    await server.services.committer.durable()
    statements: list[str] = []
    connection = database.connection()
    connection.set_trace_callback(statements.append)
    try:
        assert await server.services.housekeeping.retention.start(utcnow()) == 2_000
    finally:
        connection.set_trace_callback(None)
    reads = [s for s in statements if "meter_sample" in s]
    assert any(s.startswith("DELETE") for s in reads)
    for statement in reads:
        plan = " ".join(row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + statement))
        assert "SCAN meter_sample" not in plan, (statement, plan)


async def test_closing_the_server_stops_a_sweep_midway(start_server):
    server = await start_server(meter_retention_days=30)
    add_samples(server, 20_000, utcnow() - dt.timedelta(days=90))
    add_samples(server, 100, utcnow(), "CP-NEW")
    await server.services.committer.durable()
    retention = server.services.housekeeping.retention
    sweep = retention.start(utcnow())
    await asyncio.sleep(0)  # the sweep's first step joins the open group commit
    await server.services.committer.durable()  # ... and that commit is done
    await server.services.housekeeping.close()
    assert sweep.cancelled() and 0 < retention.deleted_total < 20_000
    # Stopped between steps: what it deleted is committed, the rest is still there.
    assert MeterSample.select().count() == 20_100 - retention.deleted_total


def test_a_negative_retention_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="meter_retention_days"):
        make_config(tmp_path, meter_retention_days=-1)
    assert make_config(tmp_path).meter_retention_days == 30  # the default: README, Operate
