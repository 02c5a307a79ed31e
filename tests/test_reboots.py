"""Which BootNotification is a reboot, and the orphan rules for a charger that meters every 15
minutes (MeterValueSampleInterval 900; docs/decisions.md D24), over real sockets; the
interval rules themselves property-based."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from hypothesis import given, strategies as st
from ocpp.v16 import call

from evedge.domain import meter_readings
from evedge.storage.models import Charger, IdTag, Transaction
from evedge.timeutil import utcnow

from obliging import BOOT, Obliging

T0 = dt.datetime(2026, 11, 20, 10, 0)
QUARTER = dt.timedelta(minutes=15)


def stamp(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def reading(tx: int, at: dt.datetime, wh: int) -> call.MeterValues:
    return call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
        "timestamp": stamp(at), "sampled_value": [{"value": str(wh)}]}])


@pytest.fixture
async def admin(api) -> str:
    IdTag.create(id_tag="T1")
    return (await api.register())["access"]


async def live_session(cp, api, admin, interval_from: str = "configuration") -> int:
    """Boot, a 15-minute metering interval (configured through evedge, or only seen in the
    readings' timestamps), a session charging on connector 1; returns its transaction id."""
    await cp.call(BOOT)
    if interval_from == "configuration":
        changed = await api.post(f"/api/chargers/{cp.id}/change-configuration/", {
            "key": "MeterValueSampleInterval", "value": "900"}, token=admin)
        assert changed.body == {"status": "Accepted"}
    started = await cp.call(call.StartTransaction(connector_id=1, id_tag="T1", meter_start=0,
                                                  timestamp=stamp(T0)))
    tx = started.transaction_id
    await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                          status="Charging"))
    await cp.call(reading(tx, T0 + QUARTER, 1000))
    if interval_from == "readings":
        await cp.call(reading(tx, T0 + 2 * QUARTER, 2000))
    return tx


def is_open(tx: int) -> bool:
    return Transaction.get_by_id(tx).stop_received_at is None


async def upkeep_at(server, when: dt.datetime) -> None:
    server.services.housekeeping.run(when)
    await server.services.committer.durable()


async def test_a_boot_evedge_asked_for_is_no_reboot(server, api, admin, library_charger):
    async with library_charger("CP-Q", cls=Obliging) as cp:
        tx = await live_session(cp, api, admin)
        booted = Charger.get_by_id("CP-Q").last_boot_at
        asked = await api.post("/api/chargers/CP-Q/trigger-message/", {
            "requested_message": "BootNotification"}, token=admin)
        assert asked.body == {"status": "Accepted"}
        answer = await asyncio.wait_for(cp.triggered_boots.get(), 5)
        assert answer.status == "Accepted"
        charger = Charger.get_by_id("CP-Q")
        assert charger.last_boot_at == booted and charger.vendor == "Acme"
        # Hours later, with no reading since the Boot: the session is still charging.
        await upkeep_at(server, utcnow() + dt.timedelta(hours=3))
        assert is_open(tx)


async def test_a_refused_trigger_leaves_the_next_first_boot_a_reboot(server, api, admin,
                                                                     library_charger):
    async with library_charger("CP-Q", cls=Obliging) as cp:
        cp.answers["TriggerMessage"] = "Rejected"
        await cp.call(BOOT)
        first = Charger.get_by_id("CP-Q").last_boot_at
        asked = await api.post("/api/chargers/CP-Q/trigger-message/", {
            "requested_message": "BootNotification"}, token=admin)
        assert asked.body == {"status": "Rejected"}
        await cp.call(BOOT)   # a second Boot on the connection, unasked: no reboot either
        assert Charger.get_by_id("CP-Q").last_boot_at == first
    async with library_charger("CP-Q", cls=Obliging) as cp:
        await cp.call(BOOT)   # a new connection's first Boot is the reboot
        assert Charger.get_by_id("CP-Q").last_boot_at > first


@pytest.mark.parametrize("interval_from", ["configuration", "readings"])
async def test_a_real_reboot_gives_a_15_minute_meter_two_intervals(
        server, api, admin, library_charger, interval_from):
    async with library_charger("CP-Q", cls=Obliging) as cp:
        tx = await live_session(cp, api, admin, interval_from)
    async with library_charger("CP-Q", cls=Obliging) as cp:   # rebooted: new connection, Boot
        await cp.call(BOOT)
        booted = Charger.get_by_id("CP-Q").last_boot_at
        # Past reboot_grace (600 s) but within two 15-minute intervals: it may yet meter.
        await upkeep_at(server, booted + dt.timedelta(seconds=700))
        assert is_open(tx)
        await upkeep_at(server, booted + dt.timedelta(seconds=1700))
        assert is_open(tx)
        await upkeep_at(server, booted + dt.timedelta(seconds=1900))
        closed = Transaction.get_by_id(tx)
        assert closed.stop_inferred and "rebooted" in closed.note


async def test_a_session_resumed_after_a_reboot_stays_open(server, api, admin, library_charger):
    async with library_charger("CP-Q", cls=Obliging) as cp:
        tx = await live_session(cp, api, admin)
    async with library_charger("CP-Q", cls=Obliging) as cp:
        await cp.call(BOOT)
        booted = Charger.get_by_id("CP-Q").last_boot_at
        await cp.call(reading(tx, T0 + 3 * QUARTER, 3000))   # the next quarter's reading
        await upkeep_at(server, booted + dt.timedelta(hours=3))
        assert is_open(tx)
        await cp.call(call.StopTransaction(meter_stop=3500, timestamp=stamp(T0 + 4 * QUARTER),
                                           transaction_id=tx))
    assert Transaction.get_by_id(tx).energy_wh == 3500


async def test_a_silent_charger_keeps_its_session_until_offline_past_the_orphan_timeout(
        server, api, admin, library_charger):
    async with library_charger("CP-Q", cls=Obliging) as cp:
        tx = await live_session(cp, api, admin)
        # Connected but saying nothing for hours (a meter off, an EV parked): not closed.
        await upkeep_at(server, utcnow() + dt.timedelta(hours=6))
        assert is_open(tx)
    gone = Charger.get_by_id("CP-Q").disconnected_at
    timeout = dt.timedelta(seconds=server.config.orphan_timeout)
    await upkeep_at(server, gone + timeout - dt.timedelta(minutes=1))
    assert is_open(tx)   # a 15-minute meter offline for hours replays its queue later
    await upkeep_at(server, gone + timeout + dt.timedelta(minutes=1))
    closed = Transaction.get_by_id(tx)
    assert closed.stop_inferred and "offline since" in closed.note
    assert closed.meter_stop == 1000   # the last reading it sent


# --- the interval rules --------------------------------------------------------------------------

seconds = st.floats(min_value=1, max_value=10 ** 6, allow_nan=False)
maybe_seconds = st.none() | st.floats(allow_nan=True, allow_infinity=True)


@given(seconds, st.none() | seconds)
def test_the_silence_after_a_reboot_is_the_grace_or_two_intervals(grace, interval):
    silence = meter_readings.reboot_silence(grace, interval)
    assert silence >= grace
    if interval is not None:
        assert silence >= 2 * interval and silence in (grace, 2 * interval)
    else:
        assert silence == grace


def configuration(**values) -> str:
    return json.dumps({key: {"value": value, "readonly": False} for key, value in values.items()})


@given(st.one_of(st.integers(-5, 10 ** 5).map(str), st.text(max_size=8)),
       st.one_of(st.integers(-5, 10 ** 5).map(str), st.text(max_size=8)), maybe_seconds)
def test_the_metering_interval_is_positive_bounded_and_never_shorter_than_seen(
        sampled, aligned, observed):
    text = configuration(MeterValueSampleInterval=sampled, ClockAlignedDataInterval=aligned)
    interval = meter_readings.metering_interval(text, observed)
    if interval is None:
        return
    assert 0 < interval <= meter_readings.MAX_METERING_INTERVAL
    if observed is not None and 0 < observed < float("inf"):
        assert interval >= min(observed, meter_readings.MAX_METERING_INTERVAL)


def test_the_shortest_enabled_configured_interval_counts():
    assert meter_readings.configured_interval(configuration(
        MeterValueSampleInterval="900", ClockAlignedDataInterval="0")) == 900
    assert meter_readings.configured_interval(configuration(
        MeterValueSampleInterval="0", ClockAlignedDataInterval="3600")) == 3600
    assert meter_readings.configured_interval(configuration(
        MeterValueSampleInterval="300", ClockAlignedDataInterval="900")) == 300
    assert meter_readings.configured_interval(configuration(MeterValueSampleInterval="x")) \
        is None
    assert meter_readings.configured_interval("") is None
    assert meter_readings.configured_interval("not json") is None
    assert meter_readings.metering_interval("", 86400.0) == meter_readings.MAX_METERING_INTERVAL
