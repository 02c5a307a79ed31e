"""Every firmware deviation evedge repaired, stored per charger (docs/decisions.md D22):
over real sockets and the REST API, and the ledger's counting rules on a real SQLite file."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
import websockets
from hypothesis import HealthCheck, given, settings, strategies as st

from evedge.chargers.tolerance import Repair
from evedge.domain import repairs
from evedge.storage import database as evedge_db
from evedge.storage.group_commit import GroupCommit
from evedge.storage.models import Anomaly, Charger, ChargerRepair

from conftest import RawCharger, Servers, make_config

T0 = "2026-11-20T10:00:00Z"
UNIT_FIELD = "meterValue[].sampledValue[].unit"


def quirky_meter_values(n: int) -> list:
    """A MeterValues with two samples in an unlisted unit and an unknown property."""
    return [2, f"m{n}", "MeterValues", {
        "connectorId": 1, "vendorExtra": {"fw": "1.2"}, "meterValue": [{
            "timestamp": T0, "sampledValue": [{"value": "1", "unit": "mA"},
                                              {"value": "2", "unit": "mA"}]}]}]


def by_what(listed: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(r["action"], r["field"], r["kind"]): r for r in listed}


async def test_every_repair_is_counted_per_charger_without_a_write_per_message(
        server, api, raw_charger):
    admin = (await api.register())["access"]
    async with raw_charger("CP-QUIRKS") as cp:
        for n in range(5):
            assert (await cp.call(quirky_meter_values(n)))[0] == 3
        start = await cp.call([2, "s", "StartTransaction", {
            "connectorId": 1, "idTag": "T", "meterStart": 10.4, "timestamp": T0}])
        assert start[0] == 3
    async with raw_charger("CP-QUIRKS") as cp:   # a new connection: the same charger's counts
        for n in range(5, 8):
            assert (await cp.call(quirky_meter_values(n)))[0] == 3

    detail = (await api.get("/api/chargers/CP-QUIRKS/", token=admin)).body
    found = by_what(detail["repairs"])
    unit = found[("MeterValues", UNIT_FIELD, "enum_raw")]
    # Counted per message: two samples with the unit are one repaired message.
    assert unit["count"] == 8 and unit["example"] == "mA"
    assert unit["repair"] == "unlisted value, kept as sent"
    assert unit["first_seen_at"] <= unit["last_seen_at"]
    assert found[("MeterValues", "vendorExtra", "unknown_property")]["count"] == 8
    assert found[("MeterValues", "vendorExtra", "unknown_property")]["example"] == '{"fw":"1.2"}'
    rounded = found[("StartTransaction", "meterStart", "fraction_rounded")]
    assert rounded["count"] == 1 and rounded["example"] == "10.4"
    assert detail["repairs"][0]["action"] == "MeterValues"   # the most recently seen first

    # Written when a kind was new for the charger (the StartTransaction's took the five
    # MeterValues' counts along); the three repeats since wait in memory.
    stored = {(r.action, r.field, r.kind): r.count
              for r in ChargerRepair.select().where(ChargerRepair.charger == "CP-QUIRKS")}
    assert stored == {("MeterValues", UNIT_FIELD, "enum_raw"): 5,
                      ("MeterValues", "vendorExtra", "unknown_property"): 5,
                      ("StartTransaction", "meterStart", "fraction_rounded"): 1}
    server.services.housekeeping.flush_repairs()
    await server.services.committer.durable()
    stored = {(r.action, r.field, r.kind): r.count for r in ChargerRepair.select()}
    assert stored == {key: r["count"] for key, r in found.items()}
    # The API reads the same after the flush: nothing counted twice.
    again = (await api.get("/api/chargers/CP-QUIRKS/", token=admin)).body["repairs"]
    assert {key: r["count"] for key, r in by_what(again).items()} == stored
    # The anomaly log still gets one line per new kind, action and field per connection.
    assert Anomaly.select().where(Anomaly.kind == "firmware_quirk").count() == 3 + 2


async def test_counts_not_yet_stored_are_written_at_shutdown(tmp_path):
    servers = Servers(tmp_path)
    running = await servers.start()
    async with websockets.connect(f"{running.ocpp_url}/CP-LATE", subprotocols=["ocpp1.6"]) as ws:
        cp = RawCharger(ws)
        for n in range(3):
            assert (await cp.call(quirky_meter_values(n)))[0] == 3
    await servers.close()   # what the server does on SIGTERM
    evedge_db.open_database(running.config)
    try:
        row = ChargerRepair.get(ChargerRepair.kind == "enum_raw")
        assert row.count == 3
    finally:
        evedge_db.close_database()


async def test_repairs_go_with_their_charger(server, raw_charger):
    async with raw_charger("CP-GONE") as cp:
        for n in range(2):
            assert (await cp.call(quirky_meter_values(n)))[0] == 3
    assert ChargerRepair.select().count() == 2
    Charger.delete().where(Charger.id == "CP-GONE").execute()   # cascade
    assert ChargerRepair.select().count() == 0
    # Counts still in memory for it are skipped, not a failing batch.
    server.services.housekeeping.flush_repairs()
    await server.services.committer.durable()
    assert ChargerRepair.select().count() == 0
    # Whoever deletes a charger tells the ledger; the same id coming back starts afresh,
    # its kinds stored at once again.
    server.services.repairs.forget("CP-GONE")
    async with raw_charger("CP-GONE") as cp:
        assert (await cp.call(quirky_meter_values(9)))[0] == 3
    assert sorted(r.count for r in ChargerRepair.select()) == [1, 1]


async def test_a_property_name_with_nul_is_stored_with_the_replacement_character(
        server, api, raw_charger):
    """PostgreSQL cannot hold U+0000 in text: the repair's field keeps the name as sent,
    NUL shown as U+FFFD, and the message is answered (found by the frame fuzzer)."""
    admin = (await api.register())["access"]
    async with raw_charger("CP-NUL") as cp:
        answer = await cp.call([2, "h1", "Heartbeat", {"a\u0000b": {"c": 1}}])
        assert answer[0] == 3 and "currentTime" in answer[2]
        assert (await cp.call([2, "h2", "Heartbeat", {}]))[0] == 3   # still usable
    found = by_what((await api.get("/api/chargers/CP-NUL/", token=admin)).body["repairs"])
    assert found[("Heartbeat", "a\ufffdb", "unknown_property")]["count"] == 1
    assert ChargerRepair.get(ChargerRepair.charger == "CP-NUL").field == "a\ufffdb"


# --- the ledger on a real database file ----------------------------------------------------------

@pytest.fixture
def opened(tmp_path):
    handle = evedge_db.open_database(make_config(tmp_path))
    yield handle
    evedge_db.close_database()


NOW = dt.datetime(2026, 11, 24, 12, 0)
KINDS = ["unknown_property", "enum_raw", "null_optional"]
messages = st.lists(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "e"]),
                                       st.sampled_from(KINDS)), max_size=4),
                    min_size=1, max_size=12)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages, st.integers(min_value=1, max_value=6), st.data())
def test_counts_add_up_and_the_kinds_per_charger_stay_bounded(opened, sent, bound, data):
    """Whatever a charger sends and whenever the ledger is flushed, stored plus pending is
    the number of messages each key was repaired in, and no charger has more than its
    bound of keys (plus one per action and kind for the rest)."""
    asyncio.run(_count_and_flush(opened, sent, bound, data))


async def _count_and_flush(opened, sent, bound, data) -> None:
    charger_id = f"CP-{uuid.uuid4().hex[:8]}"
    Charger.create(id=charger_id)
    ledger = repairs.RepairLedger(max_kinds=bound)
    committer = GroupCommit(opened)
    expected: dict[str, int] = {}
    for index, message in enumerate(sent):
        found = [Repair(kind, field, f"{field}-{index}") for field, kind in message]
        if ledger.count(charger_id, "MeterValues", found, NOW + dt.timedelta(seconds=index)):
            repairs.flush(ledger, committer, charger_id)
        for kind in {kind for _, kind in message}:
            fields = {field for field, k in message if k == kind}
            expected[kind] = expected.get(kind, 0) + len(fields)
        if data.draw(st.booleans(), label="housekeeping flush"):
            repairs.flush(ledger, committer)
        await committer.durable()
    listed = repairs.listed(charger_id, ledger)
    assert len(listed) <= bound + len(KINDS)
    per_kind: dict[str, int] = {}
    for row in listed:
        per_kind[row["kind"]] = per_kind.get(row["kind"], 0) + row["count"]
    # Per kind, folding into "(other fields)" may merge fields of one message: at most.
    for kind, count in expected.items():
        assert 1 <= per_kind[kind] <= count
    if len({key for message in sent for key in message}) <= bound:
        assert per_kind == expected   # nothing folded: exact
    for row in listed:
        assert row["first_seen_at"] <= row["last_seen_at"]


@pytest.mark.sqlite_only
async def test_a_failed_commit_puts_the_counts_back(opened):
    Charger.create(id="CP-1")
    ledger = repairs.RepairLedger()
    committer = GroupCommit(opened)
    found = [Repair("enum_raw", "meterValue[0].sampledValue[0].unit", "mA")]
    ledger.count("CP-1", "MeterValues", found, NOW)
    ledger.count("CP-1", "MeterValues", found, NOW)
    repairs.flush(ledger, committer)
    opened.execute_sql("PRAGMA defer_foreign_keys = ON")
    committer.run(lambda: opened.execute_sql(  # a dangling reference fails the COMMIT itself
        "INSERT INTO connector (charger_id, connector_id, status, error_code, info, vendor_id, "
        "vendor_error_code, updated_at) VALUES ('CP-NONE', 1, '', '', '', '', '', '')"))
    committer.flush()
    assert ChargerRepair.select().count() == 0
    assert [r["count"] for r in repairs.listed("CP-1", ledger)] == [2]
    repairs.flush(ledger, committer)
    await committer.durable()
    assert ChargerRepair.get().count == 2
