"""Firmware and diagnostics over FTP: the real server, Python's ftplib as the charger.

Layer 1: the protocol choice (domain/transfer_protocols.py), directly and property-based.
Layer 2: the FTP server of a real evedge (``ftp_port``) on loopback, logged into with the
locations the REST API hands out; ftplib blocks, so every client runs in a thread while
the event loop goes on serving (the FTP thread asks it for grants and commits).
Layer 3: GetDiagnostics and UpdateFirmware end to end through the simulator, by FTP.
"""

from __future__ import annotations

import asyncio
import ftplib
import hashlib
import io
import os
import random
import shutil
import socket
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

import simulator
from evedge import errors
from evedge.config import Config, ConfigError
from evedge.domain import transfer_protocols as tp
from evedge.storage.models import Charger, UploadGrant

from conftest import free_port

CLIENT_TIMEOUT = 5  # seconds for every ftplib socket operation


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


# --- Layer 1: which protocol -------------------------------------------------------------------

def test_nothing_known_means_http():
    choice = tp.choose(None)
    assert choice.protocol == "http" and "not reported" in choice.reason
    assert tp.choose("  ").protocol == "http"


@pytest.mark.parametrize("reported, expected", [
    ("FTP", "ftp"), ("FTPS", "ftp"), ("FTP,FTPS", "ftp"), ("ftp ; ftps", "ftp"),
    ("HTTP", "http"), ("FTP,HTTP", "http"), ("HTTPS,HTTP,FTPS,FTP", "http"),
    ("HTTPS", "http"), ("SFTP", "http"), ("gopher", "http"),
])
def test_the_protocol_follows_the_reported_list(reported, expected):
    choice = tp.choose(reported)
    assert choice.protocol == expected
    assert repr(reported) in choice.reason


def test_a_box_with_tls_needs_https_on_the_list():
    assert tp.choose("HTTP,FTP", box_http="HTTPS").protocol == "ftp"
    assert tp.choose("HTTPS,FTP", box_http="HTTPS").protocol == "http"


def test_ftps_only_is_served_plain_ftp_and_the_reason_says_so():
    assert "no FTPS" in tp.choose("FTPS").reason
    assert "no FTPS" not in tp.choose("FTP,FTPS").reason


def test_forcing_and_its_errors_name_the_field():
    assert tp.choose("FTP", "http") == tp.Choice("http", "asked for with protocol=http")
    assert tp.choose(None, " FTP ").protocol == "ftp"
    with pytest.raises(errors.BadRequest) as bad:
        tp.choose(None, "gopher")
    assert bad.value.field == "protocol"
    with pytest.raises(errors.Conflict) as off:
        tp.choose(None, "ftp", ftp_on=False)
    assert off.value.field == "protocol" and "ftp_port" in off.value.message
    with pytest.raises(errors.Conflict) as needed:
        tp.choose("FTP", ftp_on=False)
    assert needed.value.field == "protocol" and "ftp_port" in needed.value.message


PROTOCOL_WORDS = st.sampled_from(["FTP", "FTPS", "HTTP", "HTTPS", "SFTP", "ftp", "Http", ""])
SEPARATORS = st.sampled_from([",", ", ", ";", " ", ",,"])


@given(st.lists(PROTOCOL_WORDS, max_size=6), SEPARATORS, st.sampled_from(["HTTP", "HTTPS"]))
def test_choice_rules_hold_for_any_list(words, separator, box_http):
    reported = separator.join(words)
    listed = {w.upper() for w in words if w}
    choice = tp.choose(reported, box_http=box_http)
    if box_http in listed or not listed & {"FTP", "FTPS"}:
        assert choice.protocol == "http"
    else:
        assert choice.protocol == "ftp"
    # Order, case and separators never change the answer.
    shuffled = list(reversed([w.lower() for w in words]))
    assert tp.choose(",".join(shuffled), box_http=box_http).protocol == choice.protocol


@given(st.text(max_size=40), st.booleans())
def test_any_reported_text_gets_a_choice_or_the_ftp_conflict(reported, ftp_on):
    try:
        choice = tp.choose(reported, ftp_on=ftp_on)
    except errors.Conflict as exc:
        assert not ftp_on and exc.field == "protocol"
        assert tp.parse(reported) & {"FTP", "FTPS"}
    else:
        assert choice.protocol in ("http", "ftp") and choice.reason
        assert ftp_on or choice.protocol == "http"


@given(st.sampled_from(["http", "ftp", "HTTP", " Ftp "]), st.text(max_size=20))
def test_a_forced_protocol_always_wins(forced, reported):
    assert tp.choose(reported, forced).protocol == forced.strip().lower()


def test_ftp_locations_carry_the_login_and_bracket_ipv6():
    url = tp.ftp_url("10.0.0.5", 2121, "firmware", "a-b_c", "fw 1.bin")
    assert url == "ftp://firmware:a-b_c@10.0.0.5:2121/fw%201.bin"
    parts = urlsplit(url)
    assert (parts.username, parts.password, parts.port) == ("firmware", "a-b_c", 2121)
    assert tp.location_host("0.0.0.0", "box.local") == "box.local"
    assert tp.location_host("", "[::1]") == "[::1]"
    assert tp.location_host("10.1.1.1", "box.local") == "10.1.1.1"
    assert tp.location_host("fd00::1", "box.local") == "[fd00::1]"


@pytest.mark.parametrize("ports, field_ok", [("60000-60009", True), ("61000", True),
                                             ("", True), ("x", False), ("100-200", False),
                                             ("60010-60000", False), ("60000-70000", False)])
def test_passive_ports_setting(ports, field_ok, tmp_path):
    if field_ok:
        Config(data_dir=tmp_path, ftp_passive_ports=ports)
        return
    with pytest.raises(ConfigError, match="ftp_passive_ports"):
        Config(data_dir=tmp_path, ftp_passive_ports=ports)


def test_ftp_port_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="ftp_port"):
        Config(data_dir=tmp_path, ftp_port=8000)
    with pytest.raises(ConfigError, match="ftp_port"):
        Config(data_dir=tmp_path, ftp_port=70000)


def test_an_ftp_server_is_named_among_the_insecure_choices(tmp_path):
    from evedge.insecure import config_checks

    def named(config: Config) -> bool:
        return any(held and "ftp_port" in message for held, message in config_checks(config))

    assert named(Config(data_dir=tmp_path, ftp_port=2121))
    assert not named(Config(data_dir=tmp_path))


# --- Layer 2: the server -----------------------------------------------------------------------

async def in_thread(fn, *args):
    """Run blocking ftplib code in a thread, time-bounded, while the loop keeps serving."""
    return await asyncio.wait_for(asyncio.to_thread(fn, *args), 20)


def connect(location: str | None = None, *, port: int | None = None, login: bool = True,
            user: str | None = None, password: str | None = None) -> ftplib.FTP:
    """An ftplib session to the box, logged in with ``location``'s credentials (or the
    given ones)."""
    parts = urlsplit(location) if location else None
    ftp = ftplib.FTP(timeout=CLIENT_TIMEOUT)
    try:
        ftp.connect("127.0.0.1", port or parts.port)
        if login:
            ftp.login(user if user is not None else parts.username,
                      password if password is not None else parts.password)
    except BaseException:
        ftp.close()
        raise
    return ftp


def refusal(fn, *args) -> str:
    """The 4xx/5xx answer ``fn(*args)`` gets (fails if it succeeds)."""
    try:
        answer = fn(*args)
    except (ftplib.error_perm, ftplib.error_temp) as exc:
        return str(exc)
    raise AssertionError(f"expected a refusal, got {answer!r}")


def store_streaming(ftp: ftplib.FTP, name: str, size: int, chunk: int = 64 * 1024) -> str:
    """STOR ``size`` bytes, stopping at the first send the server refuses; returns its final
    answer (226, or the refusal it gave while receiving)."""
    conn = ftp.transfercmd(f"STOR {name}")
    try:
        for offset in range(0, size, chunk):
            conn.sendall(payload(min(chunk, size - offset), seed=offset))
    except OSError:  # the box closed the data connection: its reason is on the control one
        pass
    finally:
        conn.close()
    try:
        return ftp.voidresp()
    except (ftplib.error_perm, ftplib.error_temp) as exc:
        return str(exc)


@pytest.fixture
async def ftp_box(start_server):
    """A server with its FTP server on, the operator's token, and chargers CP-F and CP-D."""
    server = await start_server(ftp_port=free_port(), ftp_login_failure_delay=0.05)
    server.operator = (await server.api.register())["access"]
    Charger.create(id="CP-F")
    Charger.create(id="CP-D")
    return server


async def put_firmware(server, name: str, body: bytes) -> None:
    uploaded = await server.api.request("PUT", f"/api/firmware/{name}", raw=body,
                                        token=server.operator,
                                        headers={"Content-Type": "application/octet-stream"})
    assert uploaded.status == 201, uploaded.body


async def firmware_location(server, name: str, charger_id: str, protocol: str = "ftp") -> dict:
    answer = await server.api.get(f"/api/firmware/{name}/location/{quote(charger_id)}/"
                                  f"?protocol={protocol}", token=server.operator)
    assert answer.status == 200, answer.body
    return answer.body


async def diagnostics_location(server, charger_id: str, protocol: str = "ftp") -> str:
    answer = await server.api.get(f"/api/diagnostics/location/{quote(charger_id)}/"
                                  f"?protocol={protocol}", token=server.operator)
    assert answer.status == 200, answer.body
    assert answer.body["protocol"] == protocol
    return answer.body["location"]


async def test_firmware_is_fetched_with_its_login_and_refused_without(ftp_box):
    image, other = payload(300_000), b"another image"
    await put_firmware(ftp_box, "fw-2.0.bin", image)
    await put_firmware(ftp_box, "other.bin", other)
    granted = await firmware_location(ftp_box, "fw-2.0.bin", "CP-F")
    assert granted["protocol"] == "ftp" and granted["expires_at"].endswith("Z")
    assert granted["location"].startswith("ftp://firmware:")
    assert granted["location"].endswith(f"@127.0.0.1:{ftp_box.config.ftp_port}/fw-2.0.bin")
    port = ftp_box.config.ftp_port

    def fetch_as_charger():
        with connect(granted["location"]) as ftp:
            ftp.voidcmd("TYPE I")
            received = io.BytesIO()
            assert ftp.retrbinary("RETR fw-2.0.bin", received.write).startswith("226")
            assert received.getvalue() == image
            assert ftp.size("fw-2.0.bin") == len(image)
            assert ftp.sendcmd("MDTM fw-2.0.bin").startswith("213 ")
            assert ftp.nlst() == ["fw-2.0.bin"]  # the one file, nothing else of the directory
            tail = io.BytesIO()
            ftp.retrbinary("RETR fw-2.0.bin", tail.write, rest=299_000)  # resumed
            assert tail.getvalue() == image[299_000:]
            for path in ("other.bin", ".fw-2.0.bin.sha256", "../evedge.db", "/etc/passwd"):
                assert refusal(ftp.retrbinary, f"RETR {path}", print).startswith("550")
            assert refusal(ftp.size, "other.bin").startswith("550")
            assert refusal(ftp.storbinary, "STOR new.bin", io.BytesIO(b"x")).startswith("550")
            assert refusal(ftp.delete, "fw-2.0.bin").startswith("502")

    await in_thread(fetch_as_charger)

    def refused_logins():
        with connect(port=port, login=False) as ftp:
            assert refusal(ftp.retrbinary, "RETR fw-2.0.bin", print).startswith("530")
            assert refusal(ftp.login, "anonymous", "guest").startswith("530")
        token = urlsplit(granted["location"]).password
        for user, password in (("firmware", "wrong-token"), ("diagnostics", token),
                               ("firmware", ""), ("root", token)):
            with connect(port=port, login=False) as ftp:
                assert refusal(ftp.login, user, password).startswith("530"), user

    await in_thread(refused_logins)


async def test_a_firmware_login_expires(ftp_box):
    await put_firmware(ftp_box, "fw.bin", b"image")
    granted = await firmware_location(ftp_box, "fw.bin", "CP-F")
    UploadGrant.update(expires_at=UploadGrant.created_at).execute()
    message = await in_thread(lambda: refusal(connect, granted["location"]))
    assert message.startswith("530")


async def test_a_diagnostics_stor_lands_in_the_chargers_directory_once(ftp_box):
    location = await diagnostics_location(ftp_box, "CP-D")
    assert location.startswith("ftp://diagnostics:") and location.endswith("/")
    log_bytes = payload(200_000, seed=2)
    seen = []
    ftp_box.services.events.observe(lambda kind, data: seen.append((kind, data)))

    def upload_twice():
        with connect(location) as ftp:
            answer = ftp.storbinary("STOR diag.log", io.BytesIO(log_bytes))
            second = refusal(ftp.storbinary, "STOR again.log", io.BytesIO(b"again"))
        # The grant is spent: it no longer even logs in.
        return answer, second, refusal(connect, location)

    answer, second, relogin = await in_thread(upload_twice)
    assert answer == "226 Transfer complete; stored as diag.log."
    assert second.startswith("550") and "GetDiagnostics" in second
    assert relogin.startswith("530")
    store = ftp_box.services.diagnostics.for_charger("CP-D")
    assert [f.name for f in store.list()] == ["diag.log"]
    assert store.path("diag.log").read_bytes() == log_bytes
    listed = await ftp_box.api.get("/api/diagnostics/?charger=CP-D", token=ftp_box.operator)
    [item] = listed.body["items"]
    assert (item["name"], item["size"]) == ("diag.log", len(log_bytes))
    assert item["sha256"] == hashlib.sha256(log_bytes).hexdigest()
    assert ("charger.diagnostics_received",
            {"charger_id": "CP-D", "name": "diag.log", "size": len(log_bytes)}) in seen
    [grant] = UploadGrant.select()
    assert grant.used_at is not None and grant.file_name == "diag.log"


@pytest.mark.sqlite_only
async def test_the_upload_is_committed_before_226_and_the_event(ftp_box):
    """Read with a connection of our own, which sees committed data only."""
    location = await diagnostics_location(ftp_box, "CP-D")
    database = ftp_box.config.database_path

    def redeemed() -> bool:
        with sqlite3.connect(database) as own:
            return own.execute("SELECT used_at FROM upload_grant").fetchone()[0] is not None

    at_event = []
    ftp_box.services.events.observe(lambda kind, data: at_event.append(redeemed()))

    def upload():
        with connect(location) as ftp:
            answer = ftp.storbinary("STOR d.log", io.BytesIO(b"log"))
            return answer, redeemed()

    answer, at_226 = await in_thread(upload)
    assert answer.startswith("226") and at_226
    await asyncio.sleep(0)  # publish_when_committed runs right after the commit
    assert at_event == [True]


async def test_a_name_taken_is_never_overwritten(ftp_box):
    first = await diagnostics_location(ftp_box, "CP-D")
    second = await diagnostics_location(ftp_box, "CP-D")
    by_http = await diagnostics_location(ftp_box, "CP-D", protocol="http")
    answer = await ftp_box.api.request(
        "PUT", by_http.removeprefix(ftp_box.http_url) + "same.log", raw=b"over http",
        headers={"Content-Type": "application/octet-stream"})
    assert answer.status == 201 and answer.body["name"] == "same.log"

    def upload(location, body):
        with connect(location) as ftp:
            return ftp.storbinary("STOR same.log", io.BytesIO(body))

    assert await in_thread(upload, first, b"first by ftp") == \
        "226 Transfer complete; stored as same-2.log."
    assert (await in_thread(upload, second, b"second by ftp")).endswith("same-3.log.")
    store = ftp_box.services.diagnostics.for_charger("CP-D")
    assert {f.name: store.path(f.name).read_bytes() for f in store.list()} == {
        "same.log": b"over http", "same-2.log": b"first by ftp", "same-3.log": b"second by ftp"}


async def test_a_quota_or_the_size_limit_refuses_an_upload_while_it_arrives(start_server):
    server = await start_server(ftp_port=free_port(), diagnostics_quota_per_charger=200_000,
                                diagnostics_max_bytes=150_000)
    server.operator = (await server.api.register())["access"]
    Charger.create(id="CP-Q")
    earlier, location = [await diagnostics_location(server, "CP-Q") for _ in range(2)]

    def uploads():
        with connect(earlier) as ftp:
            ftp.storbinary("STOR earlier.log", io.BytesIO(b"e" * 140_000))
        with connect(location) as ftp:
            over_quota = store_streaming(ftp, "big.log", 100_000, chunk=8192)
        # The grant was not spent by the refused upload: it still brings a smaller file.
        with connect(location) as ftp:
            fits = ftp.storbinary("STOR small.log", io.BytesIO(b"s" * 1000))
        return over_quota, fits

    over_quota, fits = await in_thread(uploads)
    assert over_quota.startswith("552") and "quota of charger CP-Q" in over_quota
    assert fits.endswith("small.log.")
    assert {p for p in files_under(server.config.data_dir / "diagnostics")
            if not Path(p).name.startswith(".")} == {"CP-Q/earlier.log", "CP-Q/small.log"}
    Charger.create(id="CP-L")
    too_big = await diagnostics_location(server, "CP-L")

    def over_the_limit():
        with connect(too_big) as ftp:
            return store_streaming(ftp, "huge.log", 400_000)

    refused = await in_thread(over_the_limit)
    assert refused.startswith("552") and "limit of 150000 bytes" in refused
    assert files_under(server.config.data_dir / "diagnostics" / "CP-L") == set()


# The PostgreSQL run shares the disk with a server that writes tens of MiB at moments of its
# own (a database per test, checkpoints): the floor set at start moves under the test.
@pytest.mark.sqlite_only
async def test_the_free_space_floor_refuses_an_upload_while_it_arrives(start_server, tmp_path):
    room = 16 * 1024 * 1024  # what the floor leaves for uploads (other writers share the disk)
    server = await start_server(ftp_port=free_port(), diagnostics_max_bytes=8 * room,
                                min_free_bytes=shutil.disk_usage(tmp_path).free - room)
    server.operator = (await server.api.register())["access"]
    Charger.create(id="CP-S")
    location = await diagnostics_location(server, "CP-S")

    def upload():
        with connect(location) as ftp:
            return store_streaming(ftp, "full.log", 4 * room)

    refused = await in_thread(upload)
    assert refused.startswith("552") and "not enough free space" in refused
    directory = server.config.data_dir / "diagnostics" / "CP-S"
    assert files_under(directory) == set()  # no partial file, no temporary one


async def test_a_diagnostics_login_may_only_store(ftp_box):
    location = await diagnostics_location(ftp_box, "CP-D")
    store = ftp_box.services.diagnostics.for_charger("CP-D")
    upload = store.begin("earlier.log")  # a file already there, from an earlier upload
    upload.write(b"earlier")
    upload.commit()

    def attempts():
        with connect(location) as ftp:
            results = {
                "LIST": refusal(ftp.retrlines, "LIST", print),
                "NLST": refusal(ftp.nlst),
                "MLSD": refusal(ftp.retrlines, "MLSD", print),
                "RETR": refusal(ftp.retrbinary, "RETR earlier.log", print),
                "SIZE": refusal(ftp.size, "earlier.log"),
                "MDTM": refusal(ftp.sendcmd, "MDTM earlier.log"),
                "STAT": refusal(ftp.sendcmd, "STAT earlier.log"),
                "DELE": refusal(ftp.delete, "earlier.log"),
                "MKD": refusal(ftp.mkd, "sub"),
                "RMD": refusal(ftp.rmd, "sub"),
                "RNFR": refusal(ftp.rename, "earlier.log", "x.log"),
                "APPE": refusal(ftp.storbinary, "APPE earlier.log", io.BytesIO(b"x")),
                "STOU": refusal(ftp.sendcmd, "STOU"),
                "SITE": refusal(ftp.sendcmd, "SITE CHMOD 777 earlier.log"),
                "SITE HELP": refusal(ftp.sendcmd, "SITE HELP"),
                "MFMT": refusal(ftp.sendcmd, "MFMT 20200101000000 earlier.log"),
                "REST": refusal(ftp.storbinary, "STOR earlier.log", io.BytesIO(b"x"), 8192,
                                None, 3),
                "CWD": refusal(ftp.cwd, "/etc"),
            }
            assert ftp.pwd() == "/" and ftp.cwd("/").startswith("250")
            return results

    cwd = os.getcwd()
    results = await in_thread(attempts)
    assert os.getcwd() == cwd  # pyftpdlib's own CWD would chdir the whole process
    for command, answer in results.items():
        expected = ("502",) if command in ("DELE", "MKD", "RMD", "RNFR", "APPE", "STOU", "SITE",
                                           "SITE HELP", "MFMT") else ("550", "554")
        assert answer.startswith(expected), (command, answer)
    assert "resumed" in results["REST"]
    assert [f.name for f in store.list()] == ["earlier.log"]
    assert store.path("earlier.log").read_bytes() == b"earlier"
    assert UploadGrant.get().used_at is None  # nothing was received


@pytest.mark.parametrize("sent, stored", [
    ("../../evedge.db", "evedge.db"),
    ("/etc/passwd", "passwd"),
    ("a/../../../b.log", "b.log"),
    ("C:\\logs\\diag 2026-01-31T10:00:00.zip", "diag_2026-01-31T10_00_00.zip"),
    ("..", None),  # nothing left of the name: a generated one
    (".hidden", "hidden"),
])
async def test_names_with_dots_and_paths_stay_inside_the_chargers_directory(ftp_box, sent,
                                                                            stored):
    data_dir = ftp_box.config.data_dir
    before = files_under(data_dir)
    location = await diagnostics_location(ftp_box, "CP-D")

    def upload():
        with connect(location) as ftp:
            return ftp.storbinary(f"STOR {sent}", io.BytesIO(b"log"))

    answer = await in_thread(upload)
    name = answer.removeprefix("226 Transfer complete; stored as ").removesuffix(".")
    assert name == stored or (stored is None and name.startswith("diagnostics-"))
    added = {p for p in files_under(data_dir) - before if not Path(p).name.startswith(".")}
    assert added == {f"diagnostics/CP-D/{name}"}


async def test_a_nul_in_a_command_is_a_syntax_error_and_the_session_goes_on(ftp_box):
    location = await diagnostics_location(ftp_box, "CP-D")

    def send_nul():
        with connect(location) as ftp:
            refused = refusal(ftp.sendcmd, "STOR a\0b.log")
            return refused, ftp.storbinary("STOR fine.log", io.BytesIO(b"ok"))

    refused, stored = await in_thread(send_nul)
    assert refused.startswith("501") and stored.endswith("fine.log.")


async def test_failed_logins_are_delayed_and_the_third_closes(start_server):
    delay = 0.3
    server = await start_server(ftp_port=free_port(), ftp_login_failure_delay=delay)
    port = server.config.ftp_port

    def three_failures():
        with connect(port=port, login=False) as ftp:
            started = time.monotonic()
            first = refusal(ftp.login, "diagnostics", "guess-1")
            elapsed = time.monotonic() - started
            refusal(ftp.login, "diagnostics", "guess-2")
            third = refusal(ftp.login, "diagnostics", "guess-3")
            try:
                ftp.voidcmd("NOOP")
                closed = False
            except (EOFError, OSError, ftplib.error_temp):
                closed = True
        return first, elapsed, third, closed

    first, elapsed, third, closed = await in_thread(three_failures)
    assert first.startswith("530") and elapsed >= delay
    assert "Disconnecting" in third and closed


async def test_passive_data_connections_use_the_configured_ports(start_server):
    low = free_port()
    server = await start_server(ftp_port=free_port(), ftp_passive_ports=f"{low}-{low}")
    server.operator = (await server.api.register())["access"]
    Charger.create(id="CP-P")
    location = await diagnostics_location(server, "CP-P")

    def passive():
        with connect(location) as ftp:
            host, port = ftp.makepasv()
            return port

    assert await in_thread(passive) == low


class ReportingCharger(ChargePoint):
    """Answers GetConfiguration with the SupportedFileTransferProtocols the test sets."""

    protocols: str | None = None

    @on(Action.get_configuration)
    def on_get_configuration(self, **kwargs):
        if self.protocols is None:
            return call_result.GetConfiguration(unknown_key=["SupportedFileTransferProtocols"])
        return call_result.GetConfiguration(configuration_key=[
            {"key": "SupportedFileTransferProtocols", "readonly": True,
             "value": self.protocols}])


async def test_the_location_follows_what_the_charger_reports(start_server):
    from conftest import library_chargers

    server = await start_server(ftp_port=free_port())
    api = server.api
    token = (await api.register())["access"]
    await put_firmware(type("S", (), {"api": api, "operator": token})(), "fw.bin", b"fw")

    async def learn(cp, protocols):
        cp.protocols = protocols
        learned = await api.post("/api/chargers/CP-R/get-configuration/",
                                 {"key": ["SupportedFileTransferProtocols"]}, token=token)
        assert learned.status == 200, learned.body

    async def protocols(query: str = ""):
        diag = await api.get(f"/api/diagnostics/location/CP-R/{query}", token=token)
        firmware = await api.get(f"/api/firmware/fw.bin/location/CP-R/{query}", token=token)
        return diag, firmware

    async with library_chargers(server)("CP-R", cls=ReportingCharger) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="F"))
        diag, firmware = await protocols()
        assert diag.body["protocol"] == firmware.body["protocol"] == "http"
        assert "not reported" in diag.body["reason"]
        assert firmware.body["location"] == f"{server.http_url}/firmware/fw.bin"
        assert firmware.body["expires_at"] is None

        await learn(cp, "FTP")
        diag, firmware = await protocols()
        assert diag.body["protocol"] == firmware.body["protocol"] == "ftp"
        assert "'FTP'" in diag.body["reason"] and "without HTTP" in firmware.body["reason"]
        assert diag.body["location"].startswith("ftp://diagnostics:")
        assert firmware.body["location"].startswith("ftp://firmware:")
        forced, _ = await protocols("?protocol=http")
        assert forced.body["protocol"] == "http" and "protocol=http" in forced.body["reason"]
        assert forced.body["location"].startswith(f"{server.http_url}/diagnostics/CP-R/")
        bad, bad_firmware = await protocols("?protocol=gopher")
        assert bad.status == bad_firmware.status == 400
        assert bad.body["field"] == bad_firmware.body["field"] == "protocol"

        await learn(cp, "FTP,HTTP")
        diag, firmware = await protocols()
        assert diag.body["protocol"] == firmware.body["protocol"] == "http"

        await learn(cp, None)  # unknown_key: what was known is forgotten
        assert (await protocols())[0].body["protocol"] == "http"

    missing = await api.get("/api/firmware/nope.bin/location/CP-R/", token=token)
    assert missing.status == 404
    unknown = await api.get("/api/firmware/fw.bin/location/CP-NOPE/", token=token)
    assert unknown.status == 404


async def test_without_an_ftp_server_an_ftp_only_charger_is_told_why(server, api, token):
    Charger.create(id="CP-O", configuration='{"SupportedFileTransferProtocols": '
                                            '{"value": "FTP", "readonly": true}}')
    needed = await api.get("/api/diagnostics/location/CP-O/", token=token)
    assert needed.status == 409 and needed.body["field"] == "protocol"
    assert "ftp_port" in needed.body["error"]
    forced = await api.get("/api/diagnostics/location/CP-O/?protocol=ftp", token=token)
    assert forced.status == 409
    http = await api.get("/api/diagnostics/location/CP-O/?protocol=http", token=token)
    assert http.status == 200 and http.body["protocol"] == "http"
    assert server.services.ftp is None


async def test_the_ftp_server_stops_with_the_services_and_drops_a_partial_upload(start_server):
    server = await start_server(ftp_port=free_port())
    server.operator = (await server.api.register())["access"]
    Charger.create(id="CP-X")
    location = await diagnostics_location(server, "CP-X")
    ftp = await in_thread(connect, location)
    conn = await in_thread(ftp.transfercmd, "STOR partial.log")
    await in_thread(conn.sendall, b"p" * 100_000)
    directory = server.config.data_dir / "diagnostics" / "CP-X"

    def arriving() -> bool:
        return any(p.name.endswith(".part") for p in directory.glob(".*"))

    for _ in range(200):  # the FTP thread creates the temporary file on STOR
        if arriving():
            break
        await asyncio.sleep(0.01)
    assert arriving()
    await server.services.ftp.close()
    conn.close()
    ftp.close()
    assert files_under(directory) == set()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.config.ftp_port), timeout=1).close()


# --- Layer 3: end to end through the simulator -------------------------------------------------

async def test_get_diagnostics_and_update_firmware_by_ftp_through_the_simulator(ftp_box):
    api, token = ftp_box.api, ftp_box.operator
    image = payload(500_000, seed=9)
    await put_firmware(ftp_box, "sim-fw-3.0.bin", image)

    async def command(slug: str, body: dict):
        answer = await api.post(f"/api/chargers/SIM-FTP/{slug}/", body, token=token)
        assert answer.status == 200, answer.body
        return answer.body

    async with simulator.connect(ftp_box.ocpp_url, "SIM-FTP", meter_interval=0.05) as sim:
        sim.config.set("SupportedFileTransferProtocols", "FTP")  # an FTP-only firmware
        await command("get-configuration", {"key": ["SupportedFileTransferProtocols"]})

        granted = await api.get("/api/diagnostics/location/SIM-FTP/", token=token)
        assert granted.body["protocol"] == "ftp", granted.body
        asked = await command("get-diagnostics", {"location": granted.body["location"]})
        await sim.wait_for_sent("DiagnosticsStatusNotification",
                                predicate=lambda p: p["status"] == "Uploaded", timeout=10)
        listed = await api.get("/api/diagnostics/?charger=SIM-FTP", token=token)
        assert [i["name"] for i in listed.body["items"]] == [asked["file_name"]]
        assert listed.body["items"][0]["size"] == sim.diagnostics_uploads[0]["size"] > 0

        firmware = await api.get("/api/firmware/sim-fw-3.0.bin/location/SIM-FTP/",
                                 token=token)
        assert firmware.body["protocol"] == "ftp", firmware.body
        await command("update-firmware", {"location": firmware.body["location"],
                                          "retrieve_date": "2026-01-01T00:00:00Z"})
        await sim.wait_for_sent("FirmwareStatusNotification",
                                predicate=lambda p: p["status"] == "Installed", timeout=10)
        assert sim.firmware_download["sha256"] == hashlib.sha256(image).hexdigest()
        assert sim.protocol_errors == []


async def test_location_answers_match_the_openapi_document(ftp_box):
    from test_openapi import Answers

    api, token = ftp_box.api, ftp_box.operator
    answers = Answers((await api.get("/api/openapi.json")).body)
    await put_firmware(ftp_box, "fw.bin", b"image")
    firmware, diagnostics = ("/api/firmware/{name}/location/{charger_id}/",
                             "/api/diagnostics/location/{charger_id}/")
    for query in ("", "?protocol=ftp", "?protocol=http", "?protocol=nope"):
        answers.check("GET", firmware, await api.get(
            f"/api/firmware/fw.bin/location/CP-F/{query}", token=token))
        answers.check("GET", diagnostics, await api.get(
            f"/api/diagnostics/location/CP-D/{query}", token=token))
    answers.check("GET", firmware, await api.get("/api/firmware/no.bin/location/CP-F/",
                                                 token=token))
    assert len(answers.checked) == 9
