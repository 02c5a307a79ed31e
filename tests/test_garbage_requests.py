"""What the fuzzing campaign found on the REST side (issue 10): each answered 500.

Times pushed out of years 1..9999 by their zone, charger ids too long for a directory
name, a CSV field over the csv module's limit, and NUL characters or lone surrogates
(which PostgreSQL and the database drivers cannot store) in bodies and paths now get
a 4xx naming the field; ids and times at the edge of the valid ones still work.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

import pytest

LONG_ID = "C" * 5000
PLUG_ID = "\U0001f50c" * 64    # a valid charger id (64 characters), 256 bytes in UTF-8


def assert_refused(response, field: str, *fragments: str, status: int = 400) -> None:
    assert response.status == status, (response.status, response.body)
    assert response.body["field"] == field, response.body
    for fragment in fragments:
        assert fragment in response.body["error"], response.body


@pytest.mark.parametrize("path", ["/api/transactions/", "/api/reports/energy/"])
@pytest.mark.parametrize("name", ["since", "until"])
async def test_times_outside_years_1_to_9999_in_utc_are_refused_naming_why(
        api, token, path, name):
    for value in ("0001-01-01T00:00:00%2B05:00", "9999-12-31T23:00:00-05:00"):
        response = await api.get(f"{path}?{name}={value}", token=token)
        assert_refused(response, name, "outside years 1..9999")
    for value in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"):   # the edges: valid
        assert (await api.get(f"{path}?{name}={value}", token=token)).status == 200


async def test_an_id_tag_expiring_out_of_range_is_refused(api, token):
    response = await api.post("/api/id-tags/", {"id_tag": "T-1",
                                                "expiry_date": "0001-01-01T00:00:00+01:00"},
                              token=token)
    assert_refused(response, "expiry_date", "outside years 1..9999")


@pytest.mark.parametrize("method, path, field", [
    ("GET", f"/api/diagnostics/location/{LONG_ID}/", "charger_id"),
    ("GET", f"/api/diagnostics/{LONG_ID}/diag.log", "charger_id"),
    ("HEAD", f"/api/diagnostics/{LONG_ID}/diag.log", None),
    ("DELETE", f"/api/diagnostics/{LONG_ID}/diag.log", "charger_id"),
    ("GET", f"/api/diagnostics/?charger={LONG_ID}", "charger"),
    ("PUT", f"/diagnostics/{LONG_ID}/token/diag.log", "charger_id"),
    ("POST", f"/diagnostics/{LONG_ID}/", "charger_id"),
])
async def test_charger_ids_too_long_for_a_directory_name_are_refused(
        api, tokens, method, path, field):
    raw = b"log" if method in ("PUT", "POST") else None
    response = await api.request(method, path, raw=raw, token=tokens["admin"],
                                 headers={"Content-Type": "application/octet-stream"})
    if field is None:   # HEAD: no body, the status says it
        assert response.status == 400
        return
    assert_refused(response, field, "1-64 printable characters")


async def test_a_valid_charger_id_whose_directory_name_would_be_too_long(api, token):
    created = await api.post("/api/chargers/", {"id": PLUG_ID}, token=token)
    assert created.status == 201, created.body
    encoded = quote(PLUG_ID, safe="")
    for path, field in ((f"/api/diagnostics/?charger={encoded}", "charger"),
                        (f"/api/diagnostics/{encoded}/diag.log", "charger_id")):
        assert_refused(await api.get(path, token=token), field, "too long to keep diagnostics")
    assert (await api.get("/api/diagnostics/", token=token)).status == 200


async def test_a_csv_field_over_128_kib_is_refused_naming_its_line(api, token):
    # text/csv only: as JSON ({"csv": ...}) the body is over max_json_body_bytes first (413).
    text = "id_tag,note\nTAG-1,fine\nTAG-2," + "x" * 140_000 + "\n"
    response = await api.request("POST", "/api/id-tags/import/", raw=text.encode(), token=token,
                                 headers={"Content-Type": "text/csv"})
    assert_refused(response, "csv", "line 3", "field larger than field limit")
    assert response.body["line"] == 3
    assert (await api.get("/api/id-tags/TAG-1/", token=token)).status == 404   # nothing


async def test_a_csv_with_nul_is_refused_naming_its_line(api, token):
    response = await api.request("POST", "/api/id-tags/import/",
                                 raw=b"id_tag,note\nTAG-1,a\x00b\n", token=token,
                                 headers={"Content-Type": "text/csv"})
    assert_refused(response, "csv", "line 2", "NUL")


@pytest.mark.parametrize("method, path, body, field", [
    ("POST", "/api/chargers/", {"id": "CP-1", "label": "bay\u00001"}, "label"),
    ("POST", "/api/chargers/", {"id": "CP-1", "location": "\ud800"}, "location"),
    ("POST", "/api/id-tags/", {"id_tag": "T-1", "note": "x\u0000"}, "note"),
    ("POST", "/api/users/", {"username": "u\u0000", "password": "long-enough"}, "username"),
    ("POST", "/api/auth/login/", {"username": "alice", "password": "p\u0000w"}, "password"),
    ("POST", "/api/chargers/CP-1/send-local-list/",
     {"list_version": 1, "update_type": "Full",
      "local_authorization_list": [{"id_tag": "T\u0000"}]},
     "local_authorization_list[0].id_tag"),
    ("POST", "/api/chargers/CP-1/data-transfer/", {"vendor_id": "v", "\u0000": 1},
     "a key of the body"),
])
async def test_text_the_database_cannot_hold_is_refused_naming_the_field(api, token, method,
                                                                         path, body, field):
    response = await api.request(method, path, body, token=token)
    assert_refused(response, field)
    assert "NUL" in response.body["error"] or "surrogate" in response.body["error"]


@pytest.mark.parametrize("path, field", [
    ("/api/chargers/%00/", "charger_id"),
    ("/api/chargers/%00/status-log/", "charger_id"),
    ("/api/id-tags/T%00/", "id_tag"),
    ("/api/firmware/%00", "name"),
    ("/api/chargers/CP%00/local-list/", "charger_id"),
])
async def test_nul_in_a_path_parameter_is_refused_naming_it(api, token, path, field):
    assert_refused(await api.get(path, token=token), field, "NUL")


@pytest.mark.parametrize("path", ["/api/users/99999999999999999999/",
                                  "/api/transactions/99999999999999999999/",
                                  "/api/transactions/-1/"])
async def test_numbers_no_route_takes_are_a_json_404(api, token, path):
    response = await api.get(path, token=token)
    assert response.status == 404 and "no such endpoint" in response.body["error"]


@pytest.mark.parametrize("query", ["limit=99999999999999999999", "offset=99999999999999999999",
                                   "limit=0", "offset=-1", "limit=1e3"])
async def test_limits_and_offsets_out_of_range_are_refused(api, token, query):
    response = await api.get(f"/api/transactions/?{query}", token=token)
    assert_refused(response, query.split("=")[0])
    assert (await api.get("/api/transactions/?offset=1000000000", token=token)).status == 200


@pytest.mark.parametrize("method, path", [("POST", "/api/chargers/"),
                                          ("PATCH", "/api/chargers/CP-PW/")])
async def test_a_charger_password_over_72_bytes_in_utf8_is_refused(api, token, method, path):
    if method == "PATCH":
        assert (await api.post("/api/chargers/", {"id": "CP-PW"}, token=token)).status == 201
    # 40 characters, within the 8-64 a charger password may have; 80 bytes: bcrypt's limit.
    response = await api.request(method, path, {"id": "CP-PW", "password": "\u00e9" * 40},
                                 token=token)
    assert_refused(response, "password", "72 bytes")


@pytest.mark.parametrize("upgrade", [b"", b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                     b"Sec-WebSocket-Version: 13\r\n"])
async def test_a_charger_id_that_is_no_text_is_a_400_without_a_traceback(server, caplog,
                                                                         upgrade):
    """%ED%A0%80 is a lone surrogate in UTF-8: Tornado refuses to decode the path
    argument, and the socket handler's refusal log line must not assume it has one
    (the REST fuzzer found an error in the exception logger)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /ocpp/%ED%A0%80 HTTP/1.1\r\nHost: 127.0.0.1\r\n" + upgrade
                     + b"\r\n")
        status = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
    assert status.split()[1] == b"400", status
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
