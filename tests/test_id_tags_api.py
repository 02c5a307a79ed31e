"""The id tags API over real HTTP, its effect on Authorize over a real OCPP socket,
and the local authorization list sync against a charger that keeps its own list."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from evedge.storage.models import IdTag

pytestmark = pytest.mark.timeout(30)

T0 = "2026-11-20T10:00:00Z"
CSV_HEADERS = {"Content-Type": "text/csv"}


async def post(api, path: str, body, token: str):
    return await api.request("POST", path, body, token=token)


async def patch(api, path: str, body, token: str):
    return await api.request("PATCH", path, body, token=token)


async def delete(api, path: str, token: str):
    return await api.request("DELETE", path, token=token)


async def import_csv(api, text: str, token: str):
    return await api.request("POST", "/api/id-tags/import/", raw=text.encode(), token=token,
                             headers=CSV_HEADERS)


async def create(api, token: str, id_tag: str, **fields):
    response = await post(api, "/api/id-tags/", {"id_tag": id_tag, **fields}, token)
    assert response.status == 201, response.body
    return response.body


# --- CRUD, validation, roles --------------------------------------------------------------------

async def test_create_read_list_update_delete(api, token):
    created = await create(api, token, "CARD-1", expiry_date="2030-01-31T12:00:00+01:00",
                           note="van 3", max_active_transactions=2)
    assert created == {"id_tag": "CARD-1", "status": "Accepted", "effective_status": "Accepted",
                       "expiry_date": "2030-01-31T11:00:00.000Z", "parent_id_tag": None,
                       "max_active_transactions": 2, "note": "van 3",
                       "created_at": created["created_at"], "updated_at": created["updated_at"]}
    assert created["created_at"].endswith("Z")
    await create(api, token, "CARD-2", status="Blocked", parent_id_tag="CARD-1")
    await create(api, token, "FLEET", note="Van pool")

    one = await api.get("/api/id-tags/CARD-1/", token=token)
    assert one.status == 200 and one.body == created
    everything = await api.get("/api/id-tags/", token=token)
    assert [t["id_tag"] for t in everything.body["items"]] == ["CARD-1", "CARD-2", "FLEET"]
    assert everything.body["total"] == 3
    assert everything.body["limit"] == 50 and everything.body["offset"] == 0
    vans = await api.get("/api/id-tags/?q=VAN", token=token)  # id or note, any case
    assert [t["id_tag"] for t in vans.body["items"]] == ["CARD-1", "FLEET"]
    blocked = await api.get("/api/id-tags/?status=Blocked", token=token)
    assert [t["id_tag"] for t in blocked.body["items"]] == ["CARD-2"]
    page = await api.get("/api/id-tags/?limit=1&offset=1", token=token)
    assert [t["id_tag"] for t in page.body["items"]] == ["CARD-2"]
    assert page.body["total"] == 3 and page.body["limit"] == 1 and page.body["offset"] == 1
    assert (await api.get("/api/id-tags/?q=10%25", token=token)).body["total"] == 0

    changed = await patch(api, "/api/id-tags/CARD-1/", {"status": "Blocked", "expiry_date": None},
                          token)
    assert changed.status == 200
    assert changed.body["status"] == "Blocked" and changed.body["expiry_date"] is None
    assert changed.body["note"] == "van 3" and changed.body["max_active_transactions"] == 2
    assert (await patch(api, "/api/id-tags/CARD-2/", {"parent_id_tag": None}, token)).status == 200

    gone = await delete(api, "/api/id-tags/CARD-1/", token)
    assert gone.status == 200 and gone.body == {"deleted": "CARD-1"}
    assert (await api.get("/api/id-tags/CARD-1/", token=token)).status == 404
    assert (await delete(api, "/api/id-tags/CARD-1/", token)).status == 404
    assert (await patch(api, "/api/id-tags/CARD-1/", {"note": "x"}, token)).status == 404


async def test_creating_an_existing_tag_is_409(api, token):
    await create(api, token, "CARD-1")
    again = await post(api, "/api/id-tags/", {"id_tag": "CARD-1", "status": "Blocked"}, token)
    assert again.status == 409 and again.body["field"] == "id_tag"
    assert IdTag.get_by_id("CARD-1").status == "Accepted"


async def test_odd_tag_names_are_reachable(api, token):
    for name in ("import", "export.csv", "A+B %1"):
        await create(api, token, name)
    for path in ("import", "export.csv", "A%2BB%20%251"):
        response = await api.get(f"/api/id-tags/{path}/", token=token)
        assert response.status == 200, path
    assert (await patch(api, "/api/id-tags/import/", {"note": "n"}, token)).body["note"] == "n"
    assert (await delete(api, "/api/id-tags/import/", token)).status == 200


@pytest.mark.parametrize("body, field", [
    ({}, "id_tag"),
    ({"id_tag": ""}, "id_tag"),
    ({"id_tag": "X" * 21}, "id_tag"),
    ({"id_tag": 12345}, "id_tag"),
    ({"id_tag": " PADDED"}, "id_tag"),
    ({"id_tag": "LINE\nBREAK"}, "id_tag"),
    ({"id_tag": "A", "status": "Invalid"}, "status"),
    ({"id_tag": "A", "status": None}, "status"),
    ({"id_tag": "A", "expiry_date": "tomorrow"}, "expiry_date"),
    ({"id_tag": "A", "expiry_date": 1735689600}, "expiry_date"),
    ({"id_tag": "A", "parent_id_tag": "NOBODY"}, "parent_id_tag"),
    ({"id_tag": "A", "parent_id_tag": "A"}, "parent_id_tag"),
    ({"id_tag": "A", "parent_id_tag": "Y" * 21}, "parent_id_tag"),
    ({"id_tag": "A", "max_active_transactions": 0}, "max_active_transactions"),
    ({"id_tag": "A", "max_active_transactions": "2"}, "max_active_transactions"),
    ({"id_tag": "A", "max_active_transactions": 1.5}, "max_active_transactions"),
    ({"id_tag": "A", "max_active_transactions": True}, "max_active_transactions"),
    # beyond a 64-bit integer column (the REST fuzzer's 500)
    ({"id_tag": "A", "max_active_transactions": 94805458455007985664},
     "max_active_transactions"),
    ({"id_tag": "A", "max_active_transactions": 100_001}, "max_active_transactions"),
    ({"id_tag": "A", "note": "n" * 201}, "note"),
    ({"id_tag": "A", "note": 5}, "note"),
    ({"id_tag": "A", "expiry": "2030-01-01T00:00:00Z"}, "expiry"),
])
async def test_bad_tag_is_400_naming_the_field(api, token, body, field):
    response = await post(api, "/api/id-tags/", body, token)
    assert response.status == 400, response.body
    assert response.body["field"] == field and response.body["error"]
    assert IdTag.select().count() == 0


@pytest.mark.parametrize("body, field", [
    ({"id_tag": "OTHER"}, "id_tag"),
    ({"status": "Gone"}, "status"),
    ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ({"max_active_transactions": -1}, "max_active_transactions"),
])
async def test_bad_patch_is_400_and_changes_nothing(api, token, body, field):
    before = await create(api, token, "CARD-1", note="kept")
    response = await patch(api, "/api/id-tags/CARD-1/", body, token)
    assert response.status == 400 and response.body["field"] == field
    assert (await api.get("/api/id-tags/CARD-1/", token=token)).body == before


async def test_bad_list_arguments_are_400(api, token):
    bad = await api.get("/api/id-tags/?status=Bogus", token=token)
    assert bad.status == 400 and bad.body["field"] == "status"
    bad = await api.get("/api/id-tags/?limit=0", token=token)
    assert bad.status == 400 and bad.body["field"] == "limit"


async def test_viewers_read_but_cannot_write(start_server):
    running = await start_server(registration="open", registration_role="viewer")
    api = running.api
    admin = (await api.register("root", "admin-pass"))["access"]
    viewer_account = await api.register("vera", "viewer-pass")
    assert viewer_account["role"] == "viewer"
    viewer = viewer_account["access"]
    await create(api, admin, "CARD-1")
    for path in ("/api/id-tags/", "/api/id-tags/CARD-1/", "/api/id-tags/export.csv"):
        assert (await api.get(path, token=viewer)).status == 200, path
        assert (await api.get(path)).status == 401, path
    writes = [
        post(api, "/api/id-tags/", {"id_tag": "NEW"}, viewer),
        patch(api, "/api/id-tags/CARD-1/", {"status": "Blocked"}, viewer),
        delete(api, "/api/id-tags/CARD-1/", viewer),
        import_csv(api, "id_tag\nNEW\n", viewer),
        post(api, "/api/chargers/CP-1/local-list/sync/", {}, viewer),
    ]
    for response in await asyncio.gather(*writes):
        assert response.status == 403 and "operator" in response.body["error"]
    assert [t.id_tag for t in IdTag.select()] == ["CARD-1"]
    assert IdTag.get_by_id("CARD-1").status == "Accepted"


async def test_parent_cycles_are_refused_and_parents_cannot_be_deleted(api, token):
    await create(api, token, "A")
    await create(api, token, "B", parent_id_tag="A")
    await create(api, token, "C", parent_id_tag="B")
    for parent in ("C", "B", "A"):
        loop = await patch(api, "/api/id-tags/A/", {"parent_id_tag": parent}, token)
        assert loop.status == 400 and loop.body["field"] == "parent_id_tag", parent
    assert IdTag.get_by_id("A").parent_id_tag is None
    assert (await patch(api, "/api/id-tags/C/", {"parent_id_tag": "A"}, token)).status == 200

    in_use = await delete(api, "/api/id-tags/A/", token)
    assert in_use.status == 409 and in_use.body["children"] == ["B", "C"]
    assert (await delete(api, "/api/id-tags/B/", token)).status == 200
    assert (await delete(api, "/api/id-tags/C/", token)).status == 200
    assert (await delete(api, "/api/id-tags/A/", token)).status == 200


# --- CSV ------------------------------------------------------------------------------------------

async def test_csv_round_trip_into_a_fresh_server(start_server, tmp_path):
    first = await start_server(data_dir=tmp_path / "first")
    token = (await first.api.register())["access"]
    await create(first.api, token, "GROUP", status="Blocked", note='fleet "north", depot 2')
    await create(first.api, token, "CARD-1", parent_id_tag="GROUP",
                 expiry_date="2030-06-01T08:30:00.123456Z", max_active_transactions=1)
    await create(first.api, token, "CARD-2", status="Expired", note="Zoë\nsecond line")
    exported = await first.api.get("/api/id-tags/export.csv", token=token)
    assert exported.status == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.body, newline="")))
    assert rows[0] == ["id_tag", "status", "expiry_date", "parent_id_tag",
                       "max_active_transactions", "note"]
    assert rows[1] == ["CARD-1", "Accepted", "2030-06-01T08:30:00.123Z", "GROUP", "1", ""]

    # A second server on its own data directory; the models follow the newest database.
    fresh = await start_server(data_dir=tmp_path / "fresh")
    token = (await fresh.api.register())["access"]
    assert IdTag.select().count() == 0
    imported = await import_csv(fresh.api, exported.body, token)
    assert imported.status == 200 and imported.body == {"created": 3, "updated": 0}
    again = await fresh.api.get("/api/id-tags/export.csv", token=token)
    assert again.body == exported.body
    assert (await import_csv(fresh.api, exported.body, token)).body == {"created": 0, "updated": 3}


async def test_import_is_all_or_nothing_and_names_the_failing_line(api, token):
    await create(api, token, "KEEP", note="as it was")
    text = ("id_tag,status,note\r\n"
            "KEEP,Blocked,changed\r\n"
            "NEW-1,Accepted,\r\n"
            "NEW-2,Bogus,\r\n"
            "NEW-3,Accepted,fine\r\n")
    response = await import_csv(api, text, token)
    assert response.status == 400
    assert response.body["line"] == 4 and response.body["field"] == "status"
    assert response.body["error"] and response.body["errors"][0]["line"] == 4
    assert [t.id_tag for t in IdTag.select()] == ["KEEP"]
    assert IdTag.get_by_id("KEEP").note == "as it was"


@pytest.mark.parametrize("text, line, field", [
    ("id_tag,colour\nA,red\n", 1, "colour"),
    ("status\nAccepted\n", 1, "id_tag"),
    ("", 1, "csv"),
    ("id_tag,status\nA,Accepted\nB\n", 3, "csv"),
    ("id_tag,status\nA,Accepted\nA,Blocked\n", 3, "id_tag"),
    ("id_tag,status\nA,\n", 2, "status"),
    ("id_tag,expiry_date\nA,next week\n", 2, "expiry_date"),
    ("id_tag,max_active_transactions\nA,many\n", 2, "max_active_transactions"),
    ("id_tag,parent_id_tag\nA,NOBODY\n", 2, "parent_id_tag"),
    ('id_tag,note\nA,"multi\nline"\nB,' + "n" * 201 + "\n", 4, "note"),
    ("id_tag,parent_id_tag\n\nA,B\nB,C\nC,A\n", 3, "parent_id_tag"),
    ("id_tag\n" + "X" * 21 + "\n", 2, "id_tag"),
])
async def test_bad_csv_is_refused_naming_line_and_field(api, token, text, line, field):
    response = await import_csv(api, text, token)
    assert response.status == 400, response.body
    assert (response.body["line"], response.body["field"]) == (line, field), response.body
    assert IdTag.select().count() == 0


async def test_import_updates_only_the_columns_given_and_reads_json_too(api, token):
    await create(api, token, "OLD", status="Blocked", note="keep me", max_active_transactions=3)
    # A parent may come later in the same file.
    text = "id_tag,status,parent_id_tag\nOLD,Accepted,NEWPARENT\nNEWPARENT,Accepted,\n"
    response = await post(api, "/api/id-tags/import/", {"csv": text}, token)
    assert response.status == 200 and response.body == {"created": 1, "updated": 1}
    old = (await api.get("/api/id-tags/OLD/", token=token)).body
    assert old["status"] == "Accepted" and old["parent_id_tag"] == "NEWPARENT"
    assert old["note"] == "keep me" and old["max_active_transactions"] == 3
    missing = await post(api, "/api/id-tags/import/", {"text": text}, token)
    assert missing.status == 400 and missing.body["field"] == "csv"


# --- effect on Authorize over OCPP ----------------------------------------------------------------

async def authorize(cp, tag: str) -> str:
    result = await asyncio.wait_for(cp.call(call.Authorize(id_tag=tag)), 5)
    return result.id_tag_info["status"]


async def test_authorize_follows_a_patch_at_once(api, token, library_charger):
    await create(api, token, "CARD-1")
    async with library_charger("CP-AUTH") as cp:
        assert await authorize(cp, "CARD-1") == "Accepted"
        await patch(api, "/api/id-tags/CARD-1/", {"status": "Blocked"}, token)
        assert await authorize(cp, "CARD-1") == "Blocked"
        await patch(api, "/api/id-tags/CARD-1/", {"status": "Accepted",
                                                  "expiry_date": "2020-01-01T00:00:00Z"}, token)
        assert await authorize(cp, "CARD-1") == "Expired"
        await patch(api, "/api/id-tags/CARD-1/", {"expiry_date": None}, token)
        assert await authorize(cp, "CARD-1") == "Accepted"
        await delete(api, "/api/id-tags/CARD-1/", token)
        assert await authorize(cp, "CARD-1") == "Invalid"


async def test_blocking_a_parent_blocks_its_children(api, token, library_charger):
    await create(api, token, "FLEET")
    await create(api, token, "DRIVER", parent_id_tag="FLEET")
    async with library_charger("CP-GROUP") as cp:
        result = await asyncio.wait_for(cp.call(call.Authorize(id_tag="DRIVER")), 5)
        assert result.id_tag_info == {"status": "Accepted", "parent_id_tag": "FLEET"}
        await patch(api, "/api/id-tags/FLEET/", {"status": "Blocked"}, token)
        assert await authorize(cp, "DRIVER") == "Blocked"
        await patch(api, "/api/id-tags/FLEET/", {"status": "Accepted"}, token)
        assert await authorize(cp, "DRIVER") == "Accepted"


async def test_max_active_transactions_gives_concurrent_tx(api, token, library_charger):
    await create(api, token, "ONCE", max_active_transactions=1)
    async with library_charger("CP-CTX") as cp:
        start = await asyncio.wait_for(cp.call(call.StartTransaction(
            connector_id=1, id_tag="ONCE", meter_start=0, timestamp=T0)), 5)
        assert start.id_tag_info["status"] == "Accepted"
        assert await authorize(cp, "ONCE") == "ConcurrentTx"
        await patch(api, "/api/id-tags/ONCE/", {"max_active_transactions": 2}, token)
        assert await authorize(cp, "ONCE") == "Accepted"
        await patch(api, "/api/id-tags/ONCE/", {"max_active_transactions": 1}, token)
        assert await authorize(cp, "ONCE") == "ConcurrentTx"
        await asyncio.wait_for(cp.call(call.StopTransaction(
            meter_stop=10, timestamp="2026-11-20T11:00:00Z",
            transaction_id=start.transaction_id)), 5)
        assert await authorize(cp, "ONCE") == "Accepted"


# --- local authorization list --------------------------------------------------------------------

class ListKeepingCharger(ChargePoint):
    """Keeps a local authorization list as OCPP 1.6 §5.15 describes it.

    ``answer`` forces a status (Failed, NotSupported) without touching the list.
    """

    answer: str | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = 0
        self.entries: dict[str, dict] = {}
        self.requests: asyncio.Queue = asyncio.Queue()

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version, update_type, local_authorization_list=(),
                           **kwargs):
        request = {"list_version": list_version, "update_type": update_type,
                   "entries": list(local_authorization_list)}
        self.requests.put_nowait(request)
        status = self.answer or self._apply(request)
        return call_result.SendLocalList(status=status)

    def _apply(self, request: dict) -> str:
        if request["update_type"] == "Full":
            self.entries = {e["id_tag"]: e["id_tag_info"] for e in request["entries"]}
        elif request["list_version"] <= self.version:
            return "VersionMismatch"
        else:
            for entry in request["entries"]:
                if "id_tag_info" in entry:
                    self.entries[entry["id_tag"]] = entry["id_tag_info"]
                else:
                    self.entries.pop(entry["id_tag"], None)
        self.version = request["list_version"]
        return "Accepted"


async def sync(api, token: str, charger_id: str, mode: str | None = None):
    body = {} if mode is None else {"mode": mode}
    return await post(api, f"/api/chargers/{charger_id}/local-list/sync/", body, token)


async def next_request(cp) -> dict:
    return await asyncio.wait_for(cp.requests.get(), 5)


async def believed(api, token: str, charger_id: str) -> dict:
    response = await api.get(f"/api/chargers/{charger_id}/local-list/", token=token)
    assert response.status == 200
    return response.body


def as_charger_holds(body: dict) -> dict:
    """The believed entries in the shape the charger keeps them."""
    held = {}
    for entry in body["entries"]:
        info = {"status": entry["status"]}
        if entry["expiry_date"]:
            info["expiry_date"] = entry["expiry_date"]
        if entry["parent_id_tag"]:
            info["parent_id_tag"] = entry["parent_id_tag"]
        held[entry["id_tag"]] = info
    return held


async def test_local_list_full_then_differential(api, token, library_charger):
    await create(api, token, "A", expiry_date="2030-01-01T00:00:00Z")
    await create(api, token, "GROUP", status="Blocked")
    await create(api, token, "CHILD", parent_id_tag="GROUP")
    await create(api, token, "GONE")
    async with library_charger("CP-LIST", cls=ListKeepingCharger) as cp:
        never = await believed(api, token, "CP-LIST")
        assert never["list_version"] is None and never["entries"] == []

        full = await sync(api, token, "CP-LIST", "full")
        assert full.status == 200, full.body
        assert full.body == {"charger_id": "CP-LIST", "status": "Accepted", "applied": True,
                             "list_version": 1, "update_type": "full", "entries": 4,
                             "fallback_from": None}
        sent = await next_request(cp)
        assert sent["update_type"] == "Full" and sent["list_version"] == 1
        assert cp.entries == {
            "A": {"status": "Accepted", "expiry_date": "2030-01-01T00:00:00.000Z"},
            "CHILD": {"status": "Blocked", "parent_id_tag": "GROUP"},
            "GONE": {"status": "Accepted"},
            "GROUP": {"status": "Blocked"},
        }
        after_full = await believed(api, token, "CP-LIST")
        assert after_full["list_version"] == 1 and as_charger_holds(after_full) == cp.entries

        await create(api, token, "NEW", status="Expired")
        await delete(api, "/api/id-tags/GONE/", token)
        await patch(api, "/api/id-tags/GROUP/", {"status": "Accepted"}, token)
        diff = await sync(api, token, "CP-LIST")
        assert diff.status == 200 and diff.body["update_type"] == "differential"
        assert diff.body["list_version"] == 2 and diff.body["status"] == "Accepted"
        sent = await next_request(cp)
        assert sent["update_type"] == "Differential"
        assert sorted(sent["entries"], key=lambda e: e["id_tag"]) == [
            {"id_tag": "CHILD", "id_tag_info": {"status": "Accepted", "parent_id_tag": "GROUP"}},
            {"id_tag": "GONE"},
            {"id_tag": "GROUP", "id_tag_info": {"status": "Accepted"}},
            {"id_tag": "NEW", "id_tag_info": {"status": "Expired"}},
        ]
        assert set(cp.entries) == {"A", "CHILD", "GROUP", "NEW"} and cp.version == 2
        after_diff = await believed(api, token, "CP-LIST")
        assert after_diff["list_version"] == 2 and as_charger_holds(after_diff) == cp.entries

        unchanged = await sync(api, token, "CP-LIST", "differential")
        assert unchanged.body["entries"] == 0 and unchanged.body["list_version"] == 3
        assert (await next_request(cp))["entries"] == []


async def test_version_mismatch_falls_back_to_one_full_update(api, token, library_charger):
    await create(api, token, "A")
    async with library_charger("CP-MISMATCH", cls=ListKeepingCharger) as cp:
        # The charger holds a list another system sent, with a higher version.
        cp.version, cp.entries = 7, {"STRANGER": {"status": "Accepted"}}
        response = await sync(api, token, "CP-MISMATCH")
        assert response.status == 200, response.body
        assert response.body["status"] == "Accepted" and response.body["applied"] is True
        assert response.body["update_type"] == "full" and response.body["list_version"] == 1
        assert response.body["fallback_from"] == {"update_type": "differential",
                                                  "list_version": 1, "status": "VersionMismatch"}
        first, second = await next_request(cp), await next_request(cp)
        assert (first["update_type"], second["update_type"]) == ("Differential", "Full")
        assert cp.entries == {"A": {"status": "Accepted"}} and cp.version == 1
        assert (await believed(api, token, "CP-MISMATCH"))["list_version"] == 1


@pytest.mark.parametrize("answer", ["Failed", "NotSupported"])
async def test_a_refused_update_is_reported_and_not_recorded(api, token, library_charger, answer):
    await create(api, token, "A")

    class Refusing(ListKeepingCharger):
        pass

    Refusing.answer = answer
    async with library_charger("CP-NO", cls=Refusing) as cp:
        response = await sync(api, token, "CP-NO", "full")
        assert response.status == 200
        assert response.body["status"] == answer and response.body["applied"] is False
        assert response.body["fallback_from"] is None
        await next_request(cp)
    assert await believed(api, token, "CP-NO") == {"charger_id": "CP-NO", "list_version": None,
                                                   "entries": [], "total": 0}


async def test_sync_errors_unknown_offline_and_bad_mode(api, token, library_charger):
    assert (await sync(api, token, "NOPE")).status == 404
    assert (await api.get("/api/chargers/NOPE/local-list/", token=token)).status == 404
    async with library_charger("CP-AWAY", cls=ListKeepingCharger):
        bad = await sync(api, token, "CP-AWAY", "partial")
        assert bad.status == 400 and bad.body["field"] == "mode"
    offline = await sync(api, token, "CP-AWAY")
    assert offline.status == 503, offline.body
    assert (await believed(api, token, "CP-AWAY"))["list_version"] is None


async def test_id_tags_are_case_insensitive(api, server, library_charger):
    """IdToken is a CiString20Type (OCPP 1.6 §7.28): a card read as "04ab" is "04AB"."""
    from ocpp.v16 import call as ocpp_call
    token = (await api.register())["access"]
    assert (await api.post("/api/id-tags/", {"id_tag": "04AB99", "status": "Blocked"},
                           token=token)).status == 201
    twin = await api.post("/api/id-tags/", {"id_tag": "04ab99"}, token=token)
    assert twin.status == 409 and twin.body["field"] == "id_tag"
    assert (await api.get("/api/id-tags/04ab99/", token=token)).body["id_tag"] == "04AB99"
    async with library_charger("CP-CASE") as cp:
        answer = await cp.call(ocpp_call.Authorize(id_tag="04ab99"))
    assert answer.id_tag_info["status"] == "Blocked"
