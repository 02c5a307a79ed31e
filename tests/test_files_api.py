"""Firmware and diagnostics files over real HTTP, plus the storage rules underneath.

Layer 1: ``domain/files.py`` and ``domain/multipart.py`` directly (names, atomic publish,
sidecars, form parsing at every chunk split). Layer 2: the real server on a loopback
port; limits are lowered through the settings (``start_server(firmware_max_bytes=...)``).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.testing

from evedge import errors
from evedge.domain import files, multipart
from evedge.services import build_services
from evedge.storage.models import Charger
from evedge.web.app import make_app

from conftest import Api, fetch, make_config

BOUNDARY = "----evedge-test-7MA4YWxkTrZu0gW"


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def form(*parts: tuple[str, str | None, bytes], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body of (field, filename or None, content) parts."""
    body = b""
    for field, filename, content in parts:
        disposition = f'form-data; name="{field}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n").encode() + content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


FORM_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


async def put(api, path: str, body: bytes, token: str | None = None, **headers: str):
    return await api.request("PUT", path, raw=body, token=token,
                             headers={"Content-Type": "application/octet-stream", **headers})


async def post_form(api, path: str, body: bytes, token: str | None = None):
    return await api.request("POST", path, raw=body, token=token,
                             headers={"Content-Type": FORM_TYPE})


async def raw_http(port: int, request: bytes) -> bytes:
    """Send bytes exactly as given (no client-side path normalisation); read to EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


# --- Layer 1: domain/files.py, domain/multipart.py ----------------------------------------


@pytest.mark.parametrize("name", ["", "../x", "a/b", "a\\b", ".hidden", "..", "a..b", "x\x00y",
                                  "tab\there", "a b", "ü.bin", "x" * 129])
def test_unsafe_names_are_rejected_naming_the_field(name):
    with pytest.raises(errors.BadRequest) as caught:
        files.check_name(name)
    assert caught.value.field == "name"


@pytest.mark.parametrize("name", ["fw-1.2.3+build_7.bin", "A", "x" * 128])
def test_safe_names_pass(name):
    assert files.check_name(name) == name


@pytest.mark.parametrize("raw, expected", [
    ("diag 2026-01-31T10:00:00.zip", "diag_2026-01-31T10_00_00.zip"),
    ("C:\\logs\\diag.tar.gz", "diag.tar.gz"),
    ("../../etc/passwd", "passwd"),
    ("..", "fallback"),
    (None, "fallback"),
    (".profile", "profile"),
])
def test_names_from_chargers_are_made_safe_not_refused(raw, expected):
    assert files.name_from_charger(raw, "fallback") == expected


def test_an_upload_is_invisible_until_committed_and_the_sidecar_tracks_the_file(tmp_path):
    target = files.FileStore(tmp_path / "fw", 10_000)
    upload = target.begin("a.bin")
    upload.write(b"x" * 5000)
    assert not (tmp_path / "fw" / "a.bin").exists() and target.list() == []
    stored, created = upload.commit()
    assert created and stored.size == 5000
    assert stored.sha256 == hashlib.sha256(b"x" * 5000).hexdigest()
    assert files_under(tmp_path / "fw") == {"a.bin", ".a.bin.sha256"}
    with target.open("a.bin") as fh:
        assert fh.read() == b"x" * 5000
    (tmp_path / "fw" / "a.bin").write_bytes(b"changed by hand")  # sidecar is now stale
    assert target.info("a.bin").sha256 == hashlib.sha256(b"changed by hand").hexdigest()


def test_uploads_racing_for_one_name_cannot_replace_each_other(tmp_path):
    target = files.FileStore(tmp_path, 10_000)
    first, second = target.begin("a.bin"), target.begin("a.bin")
    first.write(b"first")
    second.write(b"second")
    first.commit()
    with pytest.raises(errors.Conflict):
        second.commit()
    assert (tmp_path / "a.bin").read_bytes() == b"first"
    assert files_under(tmp_path) == {"a.bin", ".a.bin.sha256"}  # no temporary file left


def test_the_size_limit_stops_the_write(tmp_path):
    upload = files.FileStore(tmp_path, 100).begin("a.bin")
    upload.write(b"x" * 100)
    with pytest.raises(errors.PayloadTooLarge):
        upload.write(b"x")
    upload.discard()
    assert files_under(tmp_path) == set()


def test_charger_ids_that_are_not_safe_names_get_an_encoded_directory(tmp_path):
    diagnostics = files.DiagnosticsStore(tmp_path, 1000)
    for charger_id in ("..", "CP 1/x"):
        upload = diagnostics.for_charger(charger_id).begin("d.log")
        upload.write(b"log")
        upload.commit()
    assert {d.charger_id for d in diagnostics.list()} == {"..", "CP 1/x"}
    assert all(p.parent.parent == tmp_path for p in tmp_path.rglob("d.log"))


def parse_in_chunks(body: bytes, sizes, tmp_path) -> tuple[str, bytes]:
    target = files.FileStore(tmp_path, 10**6)
    reader = multipart.FilePartReader(BOUNDARY, lambda filename: target.begin(filename or "none"))
    position = 0
    for size in sizes:
        reader.feed(body[position:position + size])
        position += size
    reader.feed(body[position:])
    stored, _ = reader.close().commit()
    return stored.name, (tmp_path / stored.name).read_bytes()


def test_the_multipart_parser_finds_boundaries_split_across_any_chunks(tmp_path):
    content = payload(3000) + f"\r\n--{BOUNDARY[:-1]}".encode() + b"\r\n--"  # near-delimiters
    body = (b"preamble\r\n" + form(("note", None, b"skipped"), ("file", "a.bin", content),
                                   ("other", "b.bin", b"not the first file")))
    assert parse_in_chunks(body, [1] * len(body), tmp_path / "bytes") == ("a.bin", content)
    rng = random.Random(7)
    for attempt in range(20):
        sizes = [rng.randint(1, 200) for _ in range(40)]
        assert parse_in_chunks(body, sizes, tmp_path / str(attempt)) == ("a.bin", content)


def test_the_multipart_parser_refuses_truncated_or_fileless_forms(tmp_path):
    target = files.FileStore(tmp_path, 10**6)
    truncated = multipart.FilePartReader(BOUNDARY, lambda f: target.begin(f))
    truncated.feed(form(("file", "a.bin", b"data"))[:-10])
    with pytest.raises(errors.BadRequest):
        truncated.close()
    fileless = multipart.FilePartReader(BOUNDARY, lambda f: target.begin(f))
    fileless.feed(form(("note", None, b"text")))
    with pytest.raises(errors.BadRequest) as caught:
        fileless.close()
    assert caught.value.field == "file"


# --- Layer 2: firmware over HTTP ----------------------------------------------------------


async def test_firmware_put_is_listed_and_served_to_chargers_without_auth(server, api, tokens):
    image = payload(3 * 1024 * 1024 + 17)
    created = await put(api, "/api/firmware/fw-1.2.bin", image, tokens["admin"])
    assert created.status == 201, created.body
    expected = {"name": "fw-1.2.bin", "size": len(image),
                "sha256": hashlib.sha256(image).hexdigest(),
                "url": f"{server.http_url}/firmware/fw-1.2.bin"}
    assert {k: created.body[k] for k in expected} == expected
    assert created.body["modified_at"].endswith("Z")

    listed = await api.get("/api/firmware/", token=tokens["viewer"])
    assert listed.status == 200 and listed.body["items"] == [created.body]

    download = await fetch(created.body["url"])
    assert download.code == 200 and download.body == image
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert int(download.headers["Content-Length"]) == len(image)
    assert download.headers["ETag"]


async def test_chargers_can_resume_with_range_and_probe_with_head(server, api, tokens):
    image = payload(10_000)
    await put(api, "/api/firmware/fw.bin", image, tokens["admin"])
    url = f"{server.http_url}/firmware/fw.bin"

    part = await fetch(url, headers={"Range": "bytes=1000-1999"})
    assert part.code == 206 and part.body == image[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(image)}"
    tail = await fetch(url, headers={"Range": "bytes=9990-"})
    assert tail.code == 206 and tail.body == image[9990:]

    head = await fetch(url, method="HEAD")
    assert head.code == 200 and head.body == b""
    assert int(head.headers["Content-Length"]) == len(image)
    etag = head.headers["ETag"]
    assert (await fetch(url, headers={"If-None-Match": etag})).code == 304
    same = await fetch(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert same.code == 206 and same.body == image[:10]


async def test_existing_firmware_is_replaced_only_with_overwrite(server, api, tokens):
    url = f"{server.http_url}/firmware/fw.bin"
    await put(api, "/api/firmware/fw.bin", b"old image", tokens["admin"])
    old_etag = (await fetch(url)).headers["ETag"]

    refused = await put(api, "/api/firmware/fw.bin", b"new image", tokens["admin"])
    assert refused.status == 409 and refused.body["field"] == "name"
    assert (await fetch(url)).body == b"old image"

    replaced = await put(api, "/api/firmware/fw.bin?overwrite=1", b"new image", tokens["admin"])
    assert replaced.status == 200 and replaced.body["size"] == len(b"new image")
    fresh = await fetch(url)
    assert fresh.body == b"new image" and fresh.headers["ETag"] != old_etag
    # A charger resuming with the old validator gets the whole new file, never a splice.
    resumed = await fetch(url, headers={"Range": "bytes=4-", "If-Range": old_etag})
    assert resumed.code == 200 and resumed.body == b"new image"


@pytest.mark.parametrize("quoted", ["..%2Fx", "a%2Fb", ".hidden", "%2E%2E", "a%00b", "a%20b",
                                    "x" * 129])
async def test_bad_firmware_names_are_400_naming_the_field(server, api, tokens, quoted):
    response = await put(api, f"/api/firmware/{quoted}", b"data", tokens["admin"])
    assert response.status == 400 and response.body["field"] == "name", response.body
    firmware_dir = server.config.data_dir / "firmware"
    assert not firmware_dir.exists() or files_under(firmware_dir) == set()


async def test_a_form_upload_with_an_empty_file_name_is_400(api, tokens):
    response = await post_form(api, "/api/firmware/", form(("file", "", b"data")),
                               tokens["admin"])
    assert response.status == 400 and response.body["field"] == "name"


async def test_dashboard_form_upload_is_stored_and_served(server, api, tokens):
    image = payload(200_000, seed=3)
    body = form(("comment", None, b"v2"), ("file", "fw-2.bin", image))
    created = await post_form(api, "/api/firmware/", body, tokens["admin"])
    assert created.status == 201, created.body
    assert created.body["sha256"] == hashlib.sha256(image).hexdigest()
    assert (await fetch(f"{server.http_url}/firmware/fw-2.bin")).body == image
    renamed = await post_form(api, "/api/firmware/?name=fw-renamed.bin", body, tokens["admin"])
    assert renamed.status == 201 and renamed.body["name"] == "fw-renamed.bin"
    not_a_form = await put(api, "/api/firmware/", b"raw", tokens["admin"])
    assert not_a_form.status == 405
    raw_post = await api.request("POST", "/api/firmware/", raw=b"raw", token=tokens["admin"],
                                 headers={"Content-Type": "application/octet-stream"})
    assert raw_post.status == 400 and raw_post.body["field"] == "file"


async def test_firmware_roles(server, api, tokens):
    assert (await put(api, "/api/firmware/fw.bin", b"x", tokens["operator"])).status == 403
    assert (await put(api, "/api/firmware/fw.bin", b"x")).status == 401
    assert (await post_form(api, "/api/firmware/", form(("file", "fw.bin", b"x")),
                            tokens["operator"])).status == 403
    assert (await api.get("/api/firmware/")).status == 401
    assert (await api.get("/api/firmware/", token=tokens["viewer"])).status == 200
    assert not (server.config.data_dir / "firmware" / "fw.bin").exists()

    await put(api, "/api/firmware/fw.bin", b"x", tokens["admin"])
    info = await api.get("/api/firmware/fw.bin", token=tokens["viewer"])
    assert info.status == 200 and info.body["size"] == 1
    assert (await api.request("DELETE", "/api/firmware/fw.bin",
                              token=tokens["operator"])).status == 403
    assert (await api.request("DELETE", "/api/firmware/fw.bin",
                              token=tokens["admin"])).status == 204
    assert (await fetch(f"{server.http_url}/firmware/fw.bin")).code == 404
    assert (await api.request("DELETE", "/api/firmware/fw.bin",
                              token=tokens["admin"])).status == 404


async def test_firmware_over_the_limit_is_413_and_leaves_nothing(start_server):
    server = await start_server(firmware_max_bytes=1000)
    api = server.api
    tokens = {"admin": (await api.register())["access"]}
    announced = await put(api, "/api/firmware/big.bin", b"x" * 4000, tokens["admin"])
    assert announced.status == 413 and announced.body["limit_bytes"] == 1000

    # A client waiting for 100-continue never has to send the body at all.
    early = await fetch(f"{server.http_url}/api/firmware/big.bin", method="PUT",
                        body=b"x" * 4000, expect_100_continue=True,
                        headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert early.code == 413

    # Chunked, size unknown in advance: stopped while streaming.
    chunk = b"258\r\n" + b"x" * 600 + b"\r\n"
    answer = await raw_http(server.port, (
        "PUT /api/firmware/big.bin HTTP/1.1\r\nHost: box\r\n"
        f"Authorization: Bearer {tokens['admin']}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode() + chunk + chunk)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"limit_bytes": 1000' in answer

    form_body = form(("file", "big.bin", b"x" * 4000))
    assert (await post_form(api, "/api/firmware/", form_body, tokens["admin"])).status == 413
    assert files_under(server.config.data_dir / "firmware") == set()


@pytest.mark.sqlite_only
async def test_firmware_download_refuses_path_traversal(server, api, tokens):
    secret = (server.config.data_dir / "evedge.db").read_bytes()[:16]
    await put(api, "/api/firmware/fw.bin", b"firmware", tokens["admin"])
    for path in ("/firmware/..%2f..%2fetc%2fpasswd", "/firmware/..%2Fevedge.db",
                 "/firmware/%2e%2e%2fevedge.db", "/firmware/.fw.bin.sha256",
                 "/firmware/..%5cevedge.db"):
        response = await fetch(server.http_url + path)
        assert 400 <= response.code < 500, path
        assert b"root:" not in response.body and secret not in response.body
    for path in ("/firmware/../evedge.db", "/firmware/./../evedge.db"):
        answer = await raw_http(server.port, f"GET {path} HTTP/1.1\r\nHost: box\r\n"
                                             "Connection: close\r\n\r\n".encode())
        assert answer[9:10] == b"4", (path, answer[:100])
        assert secret not in answer


async def test_upload_is_streamed_past_the_servers_buffer_limit(tmp_path):
    """With the server's in-memory limit at 1 MiB, 3 MiB still arrive by PUT and by form."""
    services = await build_services(make_config(tmp_path))
    sock, port = tornado.testing.bind_unused_port()
    http = tornado.httpserver.HTTPServer(make_app(services), max_buffer_size=1024 * 1024)
    http.add_sockets([sock])
    try:
        api = Api(f"http://127.0.0.1:{port}", lambda: services.accounts.setup_code)
        admin = (await api.register())["access"]
        image = payload(3 * 1024 * 1024)
        streamed = await fetch(f"{api.base}/api/firmware/big.bin", method="PUT", body=image,
                               expect_100_continue=True,  # as curl sends large files
                               headers={"Authorization": f"Bearer {admin}"})
        assert streamed.code == 201, streamed.body
        body = form(("file", "big2.bin", image))
        assert (await post_form(api, "/api/firmware/", body, admin)).status == 201
        for name in ("big.bin", "big2.bin"):
            assert (tmp_path / "firmware" / name).read_bytes() == image
    finally:
        http.stop()
        await services.close()
        await asyncio.wait_for(http.close_all_connections(), 5)


# --- Layer 2: diagnostics over HTTP ---------------------------------------------------------


async def location(server, tokens, charger_id: str) -> str:
    """A GetDiagnostics location for the charger: its path on the box, with its token."""
    answer = await server.api.get(f"/api/diagnostics/location/{quote(charger_id, safe='')}/",
                                  token=tokens["operator"])
    assert answer.status == 200, answer.body
    return answer.body["location"].removeprefix(server.http_url)


async def test_diagnostics_need_a_location_the_box_handed_out(server, api, tokens):
    Charger.create(id="CP-G")
    for path in ("/diagnostics/CP-G/diag.log", "/diagnostics/CP-G/",
                 "/diagnostics/CP-G/not-a-token/", "/diagnostics/CP-G/not-a-token/diag.log"):
        refused = await put(api, path, b"log")
        assert refused.status == 403 and "GetDiagnostics" in refused.body["error"], path
    granted = await location(server, tokens, "CP-G")
    assert (await put(api, granted + "diag.log", b"log")).status == 201
    # Single-use: the same location cannot bring a second file.
    assert (await put(api, granted + "again.log", b"log")).status == 403
    # A grant is bound to its charger.
    Charger.create(id="CP-H")
    other = await location(server, tokens, "CP-H")
    assert (await put(api, other.replace("CP-H", "CP-G") + "x.log", b"log")).status == 403
    assert [f.name for f in server.services.diagnostics.for_charger("CP-G").list()] == \
        ["diag.log"]


async def test_diagnostics_from_unknown_chargers_are_404(server, api, tokens):
    assert (await put(api, "/diagnostics/CP-NOPE/token/diag.log", b"log")).status == 404
    assert (await api.get("/api/diagnostics/location/CP-NOPE/",
                          token=tokens["operator"])).status == 404
    assert not (server.config.data_dir / "diagnostics").exists()


async def test_diagnostics_upload_list_download_and_delete(server, api, tokens):
    Charger.create(id="CP-DIAG")
    log_bytes, zipped = payload(2 * 1024 * 1024, seed=5), payload(5000, seed=6)
    by_put = await put(api, await location(server, tokens, "CP-DIAG") + "diag1.log", log_bytes)
    assert by_put.status == 201, by_put.body
    assert by_put.body["name"] == "diag1.log" and by_put.body["size"] == len(log_bytes)
    assert by_put.body["sha256"] == hashlib.sha256(log_bytes).hexdigest()
    by_form = await post_form(api, await location(server, tokens, "CP-DIAG"),
                              form(("file", "diag 2026-01-31T10:00:00.zip", zipped)))
    assert by_form.status == 201 and by_form.body["name"] == "diag_2026-01-31T10_00_00.zip"

    listed = await api.get("/api/diagnostics/?charger=CP-DIAG", token=tokens["viewer"])
    assert listed.status == 200
    assert {(i["charger_id"], i["name"], i["size"]) for i in listed.body["items"]} == {
        ("CP-DIAG", "diag1.log", len(log_bytes)), ("CP-DIAG", by_form.body["name"], 5000)}
    assert all(i["received_at"].endswith("Z") for i in listed.body["items"])
    assert (await api.get("/api/diagnostics/?charger=CP-OTHER",
                          token=tokens["viewer"])).body["items"] == []

    url = f"{server.http_url}/api/diagnostics/CP-DIAG/diag1.log"
    assert (await fetch(url)).code == 401
    assert (await fetch(url, method="HEAD")).code == 401
    download = await fetch(url, headers={"Authorization": f"Bearer {tokens['viewer']}"})
    assert download.code == 200 and download.body == log_bytes
    assert "attachment" in download.headers["Content-Disposition"]

    delete = f"/api/diagnostics/CP-DIAG/{by_form.body['name']}"
    assert (await api.request("DELETE", delete, token=tokens["operator"])).status == 403
    assert (await api.request("DELETE", delete, token=tokens["admin"])).status == 204
    remaining = await api.get("/api/diagnostics/", token=tokens["viewer"])
    assert [i["name"] for i in remaining.body["items"]] == ["diag1.log"]


async def test_diagnostics_firmware_quirks_raw_post_and_put_without_a_name(server, api, tokens):
    Charger.create(id="CP-Q")
    raw_post = await api.request("POST", await location(server, tokens, "CP-Q"), raw=b"raw log",
                                 headers={"Content-Type": "application/octet-stream"})
    assert raw_post.status == 201 and raw_post.body["name"].startswith("diagnostics-")
    nameless_part = await post_form(api, await location(server, tokens, "CP-Q"),
                                    form(("file", None, b"log")))
    assert nameless_part.status == 201
    # A second file of the same name never replaces the first.
    first = await put(api, await location(server, tokens, "CP-Q") + "same.log", b"second try")
    again = await put(api, await location(server, tokens, "CP-Q") + "same.log", b"third try")
    assert first.status == again.status == 201
    assert (first.body["name"], again.body["name"]) == ("same.log", "same-2.log")
    store = server.services.diagnostics.for_charger("CP-Q")
    assert store.open("same.log").read() == b"second try"
    listed = await api.get("/api/diagnostics/?charger=CP-Q", token=tokens["viewer"])
    assert len(listed.body["items"]) == 4


@pytest.mark.sqlite_only
async def test_diagnostics_uploads_stay_inside_the_charger_directory(server, api, tokens):
    Charger.create(id="CP-T")
    Charger.create(id="..")
    data_dir = server.config.data_dir
    before = files_under(data_dir)
    escaped = await put(api, await location(server, tokens, "CP-T") + "..%2F..%2Fevedge.db",
                        b"not a database")
    assert escaped.status == 201 and escaped.body["name"] == "evedge.db"
    dotted = await put(api, await location(server, tokens, "..") + "x.log", b"log")
    assert dotted.status == 201
    added = files_under(data_dir) - before
    assert {p for p in added if not Path(p).name.startswith(".")} == {
        "diagnostics/CP-T/evedge.db", "diagnostics/%2e2e/x.log"}
    assert (data_dir / "evedge.db").read_bytes()[:15] == b"SQLite format 3"


async def test_diagnostics_over_the_limit_is_413(start_server):
    server = await start_server(diagnostics_max_bytes=1000)
    api = server.api
    tokens = {"operator": (await api.register())["access"]}
    Charger.create(id="CP-BIG")
    assert (await put(api, await location(server, tokens, "CP-BIG") + "big.log",
                      b"x" * 4000)).status == 413
    assert (await post_form(api, await location(server, tokens, "CP-BIG"),
                            form(("file", "big.log", b"x" * 4000)))).status == 413
    assert files_under(server.config.data_dir / "diagnostics") == set()


async def test_diagnostics_quotas_per_charger_and_in_all(start_server):
    server = await start_server(diagnostics_quota_per_charger=6000, diagnostics_quota_total=9000)
    api = server.api
    tokens = {"operator": (await api.register())["access"]}
    for charger_id in ("CP-A", "CP-B"):
        Charger.create(id=charger_id)
    assert (await put(api, await location(server, tokens, "CP-A") + "1.log",
                      b"a" * 5000)).status == 201
    full = await put(api, await location(server, tokens, "CP-A") + "2.log", b"a" * 2000)
    assert full.status == 507 and "CP-A" in full.body["error"]
    assert (await put(api, await location(server, tokens, "CP-B") + "1.log",
                      b"b" * 3000)).status == 201
    box_full = await put(api, await location(server, tokens, "CP-B") + "2.log", b"b" * 2000)
    assert box_full.status == 507 and "of the box" in box_full.body["error"]


async def test_concurrent_uploads_hold_the_free_space_floor_exactly(start_server, tmp_path):
    """Many uploads at once, each of unknown size (chunked): together they may not take the
    volume's free space below min_free_bytes, however they interleave."""
    room = 3 * 1024 * 1024  # what the floor leaves for uploads, beyond the database's growth
    server = await start_server(min_free_bytes=shutil.disk_usage(tmp_path).free - room)
    tokens = {"operator": (await server.api.register())["access"]}
    Charger.create(id="CP-F")
    chunk = b"f" * (256 * 1024)

    async def produce(write):  # a body producer: sent chunked, of unknown size
        for _ in range(8):
            await write(chunk)

    async def upload(n: int) -> int:
        path = await location(server, tokens, "CP-F")
        answer = await fetch(f"{server.http_url}{path}{n}.log", method="PUT",
                             body_producer=produce,
                             headers={"Content-Type": "application/octet-stream"})
        return answer.code

    codes = await asyncio.gather(*(upload(n) for n in range(6)))  # 12 MiB asked for
    assert set(codes) <= {201, 507, 599} and 507 in codes  # 599: closed while sending
    stored = sum(f.size for f in server.services.diagnostics.for_charger("CP-F").list())
    assert stored <= room


async def test_diagnostics_location_for_get_diagnostics(server, api, tokens):
    Charger.create(id="CP 7")
    answer = await api.get("/api/diagnostics/location/CP%207/", token=tokens["operator"])
    assert answer.status == 200
    assert answer.body["location"].startswith(f"{server.http_url}/diagnostics/CP%207/")
    assert answer.body["location"].endswith("/") and answer.body["expires_at"].endswith("Z")
    assert (await api.get("/api/diagnostics/location/CP%207/",
                          token=tokens["viewer"])).status == 403
    assert (await api.get("/api/diagnostics/location/CP-NOPE/",
                          token=tokens["operator"])).status == 404
    uploaded = await post_form(api, answer.body["location"].removeprefix(server.http_url),
                               form(("file", "d.log", b"log")))
    assert uploaded.status == 201 and uploaded.body["charger_id"] == "CP 7"
