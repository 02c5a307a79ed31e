"""History a technician can use: effective tag status, transaction filters that match the way
tags do (any case), sorting and totals, and the energy reports (JSON and CSV), over real HTTP
against the real server, and the report rules property-based on a real SQLite file."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.v16 import call

from evedge.domain import reports
from evedge.storage.database import close_database, open_database
from evedge.storage.models import Charger, Transaction
from evedge.timeutil import utcnow

from conftest import make_config

T0 = dt.datetime(2026, 11, 20, 10, 0, 0)


@pytest.fixture
async def token(api):
    return (await api.register("admin", "admin-pass"))["access"]


def add_transaction(charger: str, tag: str, start: dt.datetime, energy: int | None,
                    finished: bool = True, connector: int = 1) -> Transaction:
    Charger.get_or_create(id=charger)
    stop = start + dt.timedelta(hours=1) if finished else None
    return Transaction.create(charger=charger, connector_id=connector, id_tag=tag,
                              auth_status="Accepted", meter_start=0,
                              meter_stop=energy if finished else None, start_time=start,
                              start_received_at=start, stop_time=stop, stop_received_at=stop,
                              energy_wh=energy if finished else None)


# --- id tags: the effective status ---------------------------------------------------------------

async def test_an_expired_tag_shows_and_filters_as_expired(api, token):
    past = (utcnow() - dt.timedelta(days=1)).isoformat() + "Z"
    future = (utcnow() + dt.timedelta(days=30)).isoformat() + "Z"
    for tag, body in (("OLD", {"expiry_date": past}), ("NEW", {"expiry_date": future}),
                      ("PLAIN", {}), ("SET-EXP", {"status": "Expired"}),
                      ("BLK", {"status": "Blocked", "expiry_date": past})):
        assert (await api.post("/api/id-tags/", {"id_tag": tag, **body}, token=token)).status == 201
    old = (await api.get("/api/id-tags/OLD/", token=token)).body
    assert old["status"] == "Accepted" and old["effective_status"] == "Expired"
    by = {}
    for status in ("Accepted", "Expired", "Blocked"):
        page = (await api.get(f"/api/id-tags/?status={status}", token=token)).body
        by[status] = sorted(t["id_tag"] for t in page["items"])
        assert page["total"] == len(by[status])
        assert all(t["effective_status"] == status for t in page["items"])
    assert by == {"Accepted": ["NEW", "PLAIN"], "Expired": ["OLD", "SET-EXP"], "Blocked": ["BLK"]}


# --- transactions: filters in any case, sort, totals --------------------------------------------

async def test_transaction_filters_match_tags_and_chargers_in_any_case(
        api, token, library_charger):
    async with library_charger("Depot-CP1") as cp:
        for n, tag in enumerate(("04ab", "04AB", "card-9")):
            await cp.call(call.StartTransaction(connector_id=n + 1, id_tag=tag, meter_start=0,
                                                timestamp=f"2026-11-2{n}T10:00:00Z"))
    same_card = (await api.get("/api/transactions/?id_tag=04Ab", token=token)).body
    assert sorted(t["id_tag"] for t in same_card["items"]) == ["04AB", "04ab"]
    assert (await api.get("/api/transactions/?id_tag=04a", token=token)).body["total"] == 0
    charger = (await api.get("/api/transactions/?charger=depot-cp1", token=token)).body
    assert charger["total"] == 3
    part = (await api.get("/api/transactions/?q=RD-", token=token)).body
    assert [t["id_tag"] for t in part["items"]] == ["card-9"]
    assert (await api.get("/api/transactions/?q=depot", token=token)).body["total"] == 3


async def test_transactions_sort_by_a_whitelisted_column_and_carry_totals(api, token):
    add_transaction("CP-S", "A", T0, 5000)
    add_transaction("CP-S", "B", T0 + dt.timedelta(hours=2), 1000)
    add_transaction("CP-S", "C", T0 + dt.timedelta(hours=1), None, finished=False)
    by_energy = (await api.get("/api/transactions/?sort=energy_wh", token=token)).body
    # Empty values last whichever way: the running session has no energy yet.
    assert [t["id_tag"] for t in by_energy["items"]] == ["B", "A", "C"]
    down = (await api.get("/api/transactions/?sort=-energy_wh", token=token)).body
    assert [t["id_tag"] for t in down["items"]] == ["A", "B", "C"]
    by_start = (await api.get("/api/transactions/?sort=start_time&limit=2&offset=1",
                              token=token)).body
    assert [t["id_tag"] for t in by_start["items"]] == ["C", "B"]
    assert down["totals"] == {"count": 3, "energy_wh": 6000, "running": 1}
    assert down["total"] == 3
    finished = (await api.get("/api/transactions/?active=false&id_tag=a", token=token)).body
    assert finished["totals"] == {"count": 1, "energy_wh": 5000, "running": 0}
    for bad in ("password", "--id", "id;drop", "-"):
        answer = await api.get(f"/api/transactions/?sort={bad}", token=token)
        assert answer.status == 400 and answer.body["field"] == "sort", bad


# --- energy reports --------------------------------------------------------------------------

async def test_energy_per_utc_day_charger_and_tag(api, token):
    # 23:30 at UTC+01:00 is 22:30 UTC on the 20th; 00:30+02:00 on the 21st is the 20th too.
    add_transaction("CP-1", "Tag-A", dt.datetime(2026, 11, 20, 22, 30), 1000)
    add_transaction("CP-1", "tag-a", dt.datetime(2026, 11, 20, 22, 45), 500)
    add_transaction("CP-2", "TAG-B", dt.datetime(2026, 11, 21, 8, 0), 4000)
    add_transaction("CP-2", "TAG-B", dt.datetime(2026, 11, 21, 9, 0), None)  # inferred, no meter
    add_transaction("CP-2", "TAG-B", dt.datetime(2026, 11, 21, 10, 0), None, finished=False)
    day = (await api.get("/api/reports/energy/?group=day", token=token)).body
    assert day == {"group": "day", "total_energy_wh": 5500, "running_sessions": 1, "items": [
        {"key": "2026-11-20", "energy_wh": 1500, "sessions": 2},
        {"key": "2026-11-21", "energy_wh": 4000, "sessions": 2}]}
    charger = (await api.get("/api/reports/energy/?group=charger", token=token)).body
    assert [(i["key"], i["energy_wh"]) for i in charger["items"]] == [("CP-2", 4000),
                                                                      ("CP-1", 1500)]
    tag = (await api.get("/api/reports/energy/?group=id_tag", token=token)).body
    assert [(i["key"].lower(), i["energy_wh"], i["sessions"]) for i in tag["items"]] == [
        ("tag-b", 4000, 2), ("tag-a", 1500, 2)]
    window = (await api.get("/api/reports/energy/?group=day&since=2026-11-21T00:00:00Z"
                            "&until=2026-11-22T00:00:00Z&charger=cp-2", token=token)).body
    assert window["items"] == [{"key": "2026-11-21", "energy_wh": 4000, "sessions": 2}]
    assert window["running_sessions"] == 1
    only_a = (await api.get("/api/reports/energy/?group=charger&id_tag=TAG-A", token=token)).body
    assert only_a["items"] == [{"key": "CP-1", "energy_wh": 1500, "sessions": 2}]


async def test_energy_report_as_csv_neutralises_formulas(api, token):
    add_transaction("=cmd|' /C calc'!A0", "@SUM(1)", T0, 2000)
    add_transaction("CP-OK", "+1", T0, 1000)
    answer = await api.get("/api/reports/energy/?group=charger&format=csv", token=token)
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "energy-by-charger.csv" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.body)))
    assert rows == [["charger_id", "energy_wh", "sessions"],
                    ["'=cmd|' /C calc'!A0", "2000", "1"], ["CP-OK", "1000", "1"]]
    tags = await api.get("/api/reports/energy/?group=id_tag&format=csv", token=token)
    assert [row[0] for row in csv.reader(io.StringIO(tags.body))][1:] == ["'@SUM(1)", "'+1"]


@pytest.mark.parametrize("query, field", [
    ("group=week", "group"), ("format=xml", "format"), ("since=yesterday", "since"),
    ("since=2026-11-21T00:00:00Z&until=2026-11-20T00:00:00Z", "until"),
])
async def test_energy_report_names_the_bad_parameter(api, token, query, field):
    answer = await api.get(f"/api/reports/energy/?{query}", token=token)
    assert answer.status == 400 and answer.body["field"] == field


async def test_energy_report_needs_a_login(api, token):
    assert (await api.get("/api/reports/energy/")).status == 401
    assert (await api.post("/api/users/", {"username": "vic", "password": "viewer-pass"},
                           token=token)).status == 201
    viewer = (await api.post("/api/auth/login/", {"username": "vic",
                                                  "password": "viewer-pass"})).body["access"]
    assert (await api.get("/api/reports/energy/", token=viewer)).status == 200


# --- the report rules, property-based on a real SQLite file -------------------------------------

@pytest.fixture
def database(tmp_path):
    open_database(make_config(tmp_path))
    yield
    close_database()


sessions = st.lists(st.tuples(
    st.sampled_from(["CP-1", "cp-2", "=CP3"]), st.sampled_from(["ab", "AB", "Cd", "-x"]),
    st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 1, 10)),
    st.one_of(st.none(), st.integers(min_value=0, max_value=10**7)), st.booleans()),
    max_size=25)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sessions)
def test_every_group_adds_up_to_the_finished_sessions(database, rows):
    Transaction.delete().execute()
    for charger, tag, start, energy, finished in rows:
        add_transaction(charger, tag, start, energy, finished)
    done = [r for r in rows if r[4]]
    expected = sum(r[3] or 0 for r in done)
    for group in reports.GROUPS:
        report = reports.energy_report(group)
        assert report["total_energy_wh"] == expected
        assert sum(i["energy_wh"] for i in report["items"]) == expected
        assert sum(i["sessions"] for i in report["items"]) == len(done)
        assert report["running_sessions"] == len(rows) - len(done)
    days = reports.energy_report("day")["items"]
    assert [i["key"] for i in days] == sorted({r[2].date().isoformat() for r in done})
    tags = reports.energy_report("id_tag")["items"]
    assert sorted(i["key"].lower() for i in tags) == sorted({r[1].lower() for r in done})
