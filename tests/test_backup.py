"""`evedge backup` and `evedge restore`: real server, real chargers, real archives.

The commands run as real processes (``python -m evedge``) against real data
directories (SQLite: ``evedge createuser`` makes them, also in the PostgreSQL run);
the server they back up is the real one (conftest's ``start_server``) with ``ocpp``
library chargers writing to it all along. Pure parts (member names,
rotation, the manifest checks) are tested directly, the first two with hypothesis.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import websockets
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.v16 import ChargePoint, call

from evedge import backup, restore
from evedge.__main__ import _parser
from evedge.config import Config, settings_help

ROOT = Path(__file__).resolve().parent.parent
TIMESTAMP_RE = r"evedge-backup-\d{8}T\d{6}Z\.tar\.gz"


# --- helpers ----------------------------------------------------------------------------


@dataclass
class Cli:
    code: int
    out: str
    err: str


async def evedge(*args: str, timeout: float = 30) -> Cli:
    """Run ``python -m evedge ...`` as a real process without blocking the event loop
    (the server under test runs on it)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evedge", *map(str, args), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return Cli(proc.returncode, out.decode(), err.decode())


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def manifest_of(archive: Path) -> dict:
    return json.loads(members(archive)["manifest.json"])


def tree(directory: Path) -> dict[str, bytes | None]:
    """Every entry under ``directory`` with its bytes (None for directories)."""
    found = {}
    for path in sorted(directory.rglob("*")):
        found[str(path.relative_to(directory))] = None if path.is_dir() else path.read_bytes()
    return found


def table_counts(db_path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                          "AND name NOT LIKE 'sqlite_%'")]
        return {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def fill_meter_samples(db_path: Path, rows: int) -> int:
    """Bulk rows (a charger that metered for a while), so the copy takes several steps;
    returns the database's size in pages."""
    with contextlib.closing(sqlite3.connect(db_path, timeout=5)) as db:
        db.execute("INSERT INTO charger (id, label, location, registration_status, vendor, "
                   "model, serial_number, charge_box_serial_number, firmware_version, iccid, "
                   "imsi, meter_type, meter_serial_number, created_at, firmware_status, "
                   "diagnostics_status, configuration) VALUES ('CP-BULK', '', '', 'Accepted', "
                   "'', '', '', '', '', '', '', '', '', '2026-01-01 00:00:00', '', '', '')")
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
            "INSERT INTO meter_sample (charger_id, connector_id, timestamp, received_at, "
            "measurand, unit, context, value) SELECT 'CP-BULK', 1, "
            "datetime('2026-01-01', '+' || i || ' seconds'), '2026-01-01 00:00:00', "
            "'Energy.Active.Import.Register', 'Wh', 'Sample.Periodic', i FROM n", (rows,))
        db.commit()
        return db.execute("PRAGMA page_count").fetchone()[0]


def make_data_dir(path: Path) -> Path:
    """A data directory as a stopped evedge leaves it: database, secret, firmware."""
    subprocess.run([sys.executable, "-m", "evedge", "createuser", "--data-dir", str(path),
                    "--username", "admin", "--password", "correct-horse", "--bcrypt-rounds", "10"],
                   cwd=ROOT, check=True, capture_output=True, timeout=30)
    (path / "firmware").mkdir()
    (path / "firmware" / "fw-1.bin").write_bytes(os.urandom(5000))
    (path / "firmware" / ".fw-1.bin.sha256").write_text('{"sha256": "x"}')
    return path


async def make_archive(data_dir: Path, dest: Path, *extra: str) -> Path:
    result = await evedge("backup", dest, "--data-dir", data_dir, *extra)
    assert result.code == 0, result.err
    return Path(result.out.split()[0])


# --- chargers under load ----------------------------------------------------------------


@dataclass
class Acked:
    """What the server acknowledged, with when each call was sent and answered."""

    starts: dict[int, float] = field(default_factory=dict)        # tx id -> acked at
    stops: dict[int, float] = field(default_factory=dict)
    meters: dict[tuple[int, str], float] = field(default_factory=dict)  # (tx, timestamp)
    calls: list[tuple[float, float]] = field(default_factory=list)  # (sent, answered)


def four_samples(tx: int, n: int, at: str) -> call.MeterValues:
    def sample(value: float, measurand: str, unit: str) -> dict:
        return {"value": str(value), "measurand": measurand, "unit": unit,
                "context": "Sample.Periodic"}

    return call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
        "timestamp": at, "sampled_value": [
            sample(1000 + n, "Energy.Active.Import.Register", "Wh"),
            sample(7000 + n, "Power.Active.Import", "W"), sample(16, "Current.Import", "A"),
            sample(230, "Voltage", "V")]}])


async def charge_until(stop: asyncio.Event, url: str, charger_id: str, acked: Acked) -> None:
    """Sessions of 15 MeterValues each, one call after another, until ``stop`` is set."""
    async with websockets.connect(f"{url}/{charger_id}", subprotocols=["ocpp1.6"],
                                  open_timeout=5) as ws:
        cp = ChargePoint(charger_id, ws, response_timeout=10)
        task = asyncio.create_task(cp.start())

        async def timed(request):
            sent = time.monotonic()
            answer = await cp.call(request)
            acked.calls.append((sent, time.monotonic()))
            return answer

        try:
            await timed(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            clock = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
            while not stop.is_set():
                start = await timed(call.StartTransaction(
                    connector_id=1, id_tag="CARD", meter_start=0, timestamp=clock.isoformat()))
                tx = start.transaction_id
                acked.starts[tx] = time.monotonic()
                for n in range(15):
                    clock += dt.timedelta(seconds=60)
                    at = clock.strftime("%Y-%m-%dT%H:%M:%SZ")
                    await timed(four_samples(tx, n, at))
                    acked.meters[(tx, at)] = time.monotonic()
                await timed(call.StopTransaction(transaction_id=tx, meter_stop=2000,
                                                 timestamp=clock.isoformat()))
                acked.stops[tx] = time.monotonic()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@pytest.mark.sqlite_only  # the server under test must run on the SQLite file it backs up
async def test_backup_during_load_restores_every_record_acknowledged_before_it(
        start_server, tmp_path):
    live = await start_server(data_dir=tmp_path / "live", unknown_id_tags="accept")
    pages = fill_meter_samples(live.config.database_path, 300_000)
    assert pages > 3 * backup.STEP_PAGES, "the copy must take several steps"
    user = await live.api.register("alice", "correct-horse")
    firmware = os.urandom(100_000)
    uploaded = await live.api.request("PUT", "/api/firmware/fw-2.0.bin", raw=firmware,
                                      token=user["access"],
                                      headers={"Content-Type": "application/octet-stream"})
    assert uploaded.status == 201, uploaded.body
    acked, stop = Acked(), asyncio.Event()
    load = [asyncio.create_task(charge_until(stop, live.ocpp_url, f"CP-{i}", acked))
            for i in range(4)]
    while len(acked.meters) < 40:  # the load is running
        await asyncio.sleep(0.01)

    began = time.monotonic()
    result = await evedge("backup", tmp_path / "out.tar.gz", "--data-dir", live.config.data_dir)
    ended = time.monotonic()
    during = len([1 for sent, answered in acked.calls if began < answered < ended])
    stop.set()
    await asyncio.gather(*load)

    assert result.code == 0, result.err
    assert during >= 20, "the chargers must have kept writing during the backup"
    worst = max(answered - sent for sent, answered in acked.calls
                if answered > began and sent < ended)
    assert worst < 1.0, f"an answer took {worst:.3f} s during the backup"
    print(f"backup {ended - began:.2f} s, {during} answers during it, worst {worst * 1000:.1f} ms")

    restored = tmp_path / "restored"
    done = await evedge("restore", tmp_path / "out.tar.gz", "--data-dir", restored)
    assert done.code == 0, done.err
    again = await start_server(data_dir=restored)
    login = await again.api.post("/api/auth/login/", {"username": "alice",
                                                      "password": "correct-horse"})
    assert login.status == 200, login.body
    token = login.body["access"]
    stored = {}
    for tx in acked.starts:
        detail = await again.api.get(f"/api/transactions/{tx}/?samples_limit=100000", token)
        if detail.status == 200:
            stored[tx] = detail.body
        else:
            assert detail.status == 404 and acked.starts[tx] > began, (tx, detail.status)
    for tx, at in [key for key, when in acked.meters.items() if when < began]:
        times = [s["timestamp"] for s in stored[tx]["meter_samples"]]
        assert times.count(at.replace("Z", ".000Z")) == 4, (tx, at)
    for tx in [tx for tx, when in acked.stops.items() if when < began]:
        assert stored[tx]["stop_time"] is not None, tx
    for tx, body in stored.items():  # nothing half-written: every message whole
        per_message: dict[str, int] = {}
        for sample in body["meter_samples"]:
            per_message[sample["timestamp"]] = per_message.get(sample["timestamp"], 0) + 1
        assert set(per_message.values()) <= {4}, (tx, per_message)
    listed = await again.api.get("/api/firmware/", token)
    assert [(f["name"], f["sha256"]) for f in listed.body["items"]] == [
        ("fw-2.0.bin", hashlib.sha256(firmware).hexdigest())]
    sidecar = json.loads((restored / "firmware" / ".fw-2.0.bin.sha256").read_text())
    assert sidecar["mtime_ns"] == (restored / "firmware" / "fw-2.0.bin").stat().st_mtime_ns, \
        "the sidecar stays valid: no re-hash on the restored box"
    counts = table_counts(restored / "evedge.db")
    assert counts["meter_sample"] >= 300_000 + 4 * len([w for w in acked.meters.values()
                                                        if w < began])


WRITER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)
print("writing", flush=True)
n = 0
while True:  # ten rows per transaction, committed back to back
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO t (batch) VALUES (?)", [(n,)] * 10)
    db.execute("COMMIT")
    n += 1
"""


def test_the_copy_steps_through_one_snapshot_while_another_process_commits(tmp_path):
    """Without the held read transaction SQLite restarts the copy after every commit of
    another connection (sqlite3_backup_step), and under a server's load never finishes."""
    source = tmp_path / "live.db"
    with contextlib.closing(sqlite3.connect(source)) as db:
        db.execute("PRAGMA journal_mode=wal")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, batch INTEGER, pad TEXT)")
        db.executemany("INSERT INTO t (batch, pad) VALUES (-1, ?)", [("x" * 500,)] * 2000)
        db.commit()
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(source)],
                              stdout=subprocess.PIPE, text=True)
    steps = []

    def on_step() -> None:
        steps.append(1)
        if len(steps) > 3 * pages // 16:
            raise backup.BackupError("restarted")

    try:
        assert writer.stdout.readline() == "writing\n"
        with contextlib.closing(sqlite3.connect(source)) as db:
            while not db.execute("SELECT 1 FROM t WHERE batch >= 0 LIMIT 1").fetchone():
                time.sleep(0.001)  # the writer's first commit
        backup.copy_database(source, tmp_path / "copy.db", step_pages=16, pause=0.002,
                             on_step=on_step)
    finally:
        writer.kill()
        writer.wait()
    assert len(steps) == -(-pages // 16), "one pass over the pages, no restart"
    with contextlib.closing(sqlite3.connect(tmp_path / "copy.db")) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        batches = copy.execute("SELECT batch, count(*) FROM t WHERE batch >= 0 GROUP BY batch"
                               ).fetchall()
    assert batches and all(count == 10 for _, count in batches), "whole transactions only"


# --- what an archive holds --------------------------------------------------------------


async def test_archive_holds_database_secret_firmware_and_a_manifest_that_describes_them(
        tmp_path):
    data = make_data_dir(tmp_path / "data")
    (data / "firmware" / ".upload-abc.part").write_bytes(b"half an upload")
    (data / "diagnostics" / "CP-1").mkdir(parents=True)
    (data / "diagnostics" / "CP-1" / "diag.zip").write_bytes(b"diagnostics")
    dest = tmp_path / "dest"
    dest.mkdir()
    result = await evedge("backup", dest, "--data-dir", data)
    assert result.code == 0, result.err
    printed = re.fullmatch(r"(\S+) (\d+) bytes \(.+\) in \d+\.\d s\n", result.out)
    assert printed, result.out
    archive = Path(printed.group(1))
    assert archive.parent == dest and re.fullmatch(TIMESTAMP_RE, archive.name)
    assert int(printed.group(2)) == archive.stat().st_size
    assert archive.stat().st_mode & 0o777 == 0o600
    assert "left out firmware/.upload-abc.part (upload in progress)" in result.err
    assert os.listdir(dest) == [archive.name], "no temporary file may stay behind"

    content = members(archive)
    manifest = json.loads(content.pop("manifest.json"))
    assert set(content) == {"evedge.db", "jwt-secret", "firmware/fw-1.bin",
                            "firmware/.fw-1.bin.sha256"}
    assert content["jwt-secret"] == (data / "jwt-secret").read_bytes()
    assert content["firmware/fw-1.bin"] == (data / "firmware" / "fw-1.bin").read_bytes()
    assert {f["name"]: (f["size"], f["sha256"]) for f in manifest["files"]} == {
        name: (len(body), hashlib.sha256(body).hexdigest()) for name, body in content.items()}
    created = dt.datetime.fromisoformat(manifest["created_at"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.timezone.utc) - created).total_seconds()) < 60
    assert manifest["evedge_version"] and manifest["format"] == "evedge-backup"
    database = manifest["database"]
    assert database["row_counts"] == table_counts(data / "evedge.db")
    assert database["row_counts"]["user"] == 1
    with contextlib.closing(sqlite3.connect(data / "evedge.db")) as db:
        migrations = [n for (n,) in db.execute("SELECT name FROM schema_migration ORDER BY name")]
    assert [m["name"] for m in database["schema_migrations"]] == migrations != []

    with_diagnostics = await make_archive(data, tmp_path / "d.tar", "--with-diagnostics")
    assert members(with_diagnostics)["diagnostics/CP-1/diag.zip"] == b"diagnostics"


async def test_keep_deletes_only_older_timestamped_archives(tmp_path):
    data = make_data_dir(tmp_path / "data")
    dest = tmp_path / "dest"
    dest.mkdir()
    old = [f"evedge-backup-2020010{d}T030000Z.tar.gz" for d in range(1, 5)]
    others = ["evedge-backup-manual.tar.gz", "notes.txt", "evedge-backup-20200101T030000Z.tar"]
    for name in old + others:
        (dest / name).write_bytes(b"x")
    result = await evedge("backup", dest, "--data-dir", data, "--keep", "2")
    assert result.code == 0, result.err
    new = Path(result.out.split()[0]).name
    assert sorted(os.listdir(dest)) == sorted([new, old[-1], *others])
    assert [line.split()[-1] for line in result.out.splitlines()[1:]] == [
        str(dest / name) for name in old[:-1]]
    refused = await evedge("backup", dest, "--data-dir", data, "--keep", "0")
    assert refused.code == 2 and "--keep must be at least 1" in refused.err


# --- backup failures --------------------------------------------------------------------


async def test_backup_failures_are_one_clear_line(tmp_path):
    data = make_data_dir(tmp_path / "data")
    cases = [
        (["backup", tmp_path / "missing" / "x.tar.gz", "--data-dir", data], "does not exist"),
        (["backup", tmp_path / "x.zip", "--data-dir", data], "ending in .tar.gz, .tgz, .tar"),
        (["backup", tmp_path / "x.tar", "--data-dir", tmp_path / "nowhere"], "does not exist"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    cases.append((["backup", tmp_path / "y.tar", "--data-dir", empty], "no database at"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "evedge.db").write_bytes(b"this is no database" * 500)
    cases.append((["backup", tmp_path / "z.tar", "--data-dir", broken],
                  "cannot read the database"))
    for args, fragment in cases:
        result = await evedge(*args)
        assert result.code == 1, (args, result.out)
        assert fragment in result.err and len(result.err.strip().splitlines()) == 1, result.err
        assert "Traceback" not in result.err
    assert not any(p.name.startswith(".evedge-backup-") for p in tmp_path.rglob("*"))


def in_private_mount(mountpoint: Path, options: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``python -m evedge ...`` with a small tmpfs at ``mountpoint`` (a private mount
    namespace: nothing outside sees it); prints what is left in it afterwards."""
    script = ('mount -t tmpfs -o "$1" tmpfs "$0" || exit 99; shift; "$@"; rc=$?; '
              'echo "left:$(ls -A "$0" | tr "\\n" " ")"; exit $rc')
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, str(mountpoint), options,
                           sys.executable, "-m", "evedge", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def private_mounts_work(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        return subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs tmpfs {probe}"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_backup_to_a_full_or_read_only_disk_fails_cleanly(tmp_path):
    if not private_mounts_work(tmp_path):
        pytest.skip("needs unshare -rm (user and mount namespaces) for a small tmpfs")
    data = make_data_dir(tmp_path / "data")
    (data / "firmware" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # incompressible
    mount = tmp_path / "mnt"
    mount.mkdir()
    full = in_private_mount(mount, "size=1m", "backup", f"{mount}/", "--data-dir", str(data))
    assert full.returncode == 1, full.stdout + full.stderr
    assert "disk full at" in full.stderr and "Traceback" not in full.stderr, full.stderr
    assert full.stdout.strip() == "left:", "temporary files must be removed"
    read_only = in_private_mount(mount, "ro", "backup", f"{mount}/", "--data-dir", str(data))
    assert read_only.returncode == 1
    assert "Read-only file system" in read_only.stderr, read_only.stderr


async def test_postgres_gets_the_pg_dump_advice_and_files_only_archives_the_rest(tmp_path):
    data = make_data_dir(tmp_path / "data")
    url = "postgresql://evedge:s3cret@db.site:5433/evedge"
    refused = await evedge("backup", tmp_path / "x.tar.gz", "--data-dir", data,
                           "--database-url", url)
    assert refused.code == 1
    assert "pg_dump --format=custom" in refused.err and "pg_restore" in refused.err
    assert "postgresql://evedge@db.site:5433/evedge" in refused.err
    assert "s3cret" not in refused.err + refused.out
    assert not (tmp_path / "x.tar.gz").exists()

    files = await evedge("backup", tmp_path / "x.tar.gz", "--data-dir", data,
                         "--database-url", url, "--files-only")
    assert files.code == 0, files.err
    content = members(tmp_path / "x.tar.gz")
    assert set(content) == {"jwt-secret", "firmware/fw-1.bin", "firmware/.fw-1.bin.sha256",
                            "manifest.json"}
    assert json.loads(content["manifest.json"])["database"] is None
    target = tmp_path / "restored"
    done = await evedge("restore", tmp_path / "x.tar.gz", "--data-dir", target,
                        "--database-url", url)
    assert done.code == 0, done.err
    assert (target / "jwt-secret").read_bytes() == (data / "jwt-secret").read_bytes()
    with_database = await make_archive(data, tmp_path / "db.tar")
    mismatch = await evedge("restore", with_database, "--data-dir", tmp_path / "other",
                            "--database-url", url)
    assert mismatch.code == 1 and "database_url points elsewhere" in mismatch.err, mismatch.err
    assert not (tmp_path / "other").exists()


def damage(db_path: Path, whole_table: bool) -> None:
    """A bad block in one of meter_sample's pages, or its table and index roots all gone."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        roots = [r for (r,) in db.execute("SELECT rootpage FROM sqlite_master WHERE "
                                          "tbl_name = 'meter_sample' AND rootpage > 0")]
    with open(db_path, "r+b") as fh:
        if whole_table:
            for root in roots:
                fh.seek((root - 1) * 4096)
                fh.write(b"\xff" * 4096)
        else:
            # The bulk samples were written last, so the file's last pages are theirs.
            pages = db_path.stat().st_size // 4096
            fh.seek((pages - 10) * 4096 + 8)
            fh.write(b"\xff" * 64)


@pytest.mark.parametrize("whole_table", [False, True])
async def test_a_corrupt_database_is_archived_with_an_error_and_refused_by_restore(
        tmp_path, whole_table):
    data = make_data_dir(tmp_path / "data")
    fill_meter_samples(data / "evedge.db", 20_000)
    damage(data / "evedge.db", whole_table)
    archive = tmp_path / "b.tar.gz"
    result = await evedge("backup", archive, "--data-dir", data)
    assert result.code == 1 and "fails PRAGMA quick_check" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and archive.exists()
    database = manifest_of(archive)["database"]
    assert database["quick_check"] != "ok" and database["row_counts"]["user"] == 1
    assert (database["row_counts"]["meter_sample"] is None) == whole_table  # unreadable
    target = make_data_dir(tmp_path / "target")
    before = tree(target)
    refused = await evedge("restore", archive, "--data-dir", target, "--force")
    assert refused.code == 1 and "fails PRAGMA integrity_check" in refused.err, refused.err
    assert len(refused.err.strip().splitlines()) == 1
    assert tree(target) == before, "the old data stays in place"


# --- restore ----------------------------------------------------------------------------


async def test_restored_files_are_0600_in_0700_directories_with_their_mtimes(tmp_path):
    data = make_data_dir(tmp_path / "data")
    (data / "diagnostics" / "CP 1").mkdir(parents=True)  # an id that is not a safe name
    (data / "diagnostics" / "CP 1" / "d.log").write_bytes(b"log")
    archive = await make_archive(data, tmp_path / "b.tar.gz", "--with-diagnostics")
    target = tmp_path / "new" / "data"
    result = await evedge("restore", archive, "--data-dir", target)
    assert result.code == 0, result.err
    assert "integrity ok" in result.out
    for path in [target, *target.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    original = tree(data)
    for name, body in tree(target).items():
        if name != "evedge.db" and body is not None:
            assert original[name] == body, name
    listed = {f["name"]: f for f in manifest_of(archive)["files"]}
    for name in ("firmware/fw-1.bin", "jwt-secret", "diagnostics/CP 1/d.log"):
        assert (target / name).stat().st_mtime_ns == listed[name]["mtime_ns"] \
            == (data / name).stat().st_mtime_ns
    assert table_counts(target / "evedge.db") == table_counts(data / "evedge.db")
    assert sorted(os.listdir(target)) == ["diagnostics", "evedge.db", "firmware", "jwt-secret"]


async def test_restore_refuses_a_non_empty_data_dir_unless_forced_then_moves_it_aside(tmp_path):
    archive = await make_archive(make_data_dir(tmp_path / "data"), tmp_path / "b.tar")
    target = make_data_dir(tmp_path / "target")
    (target / "notes.txt").write_text("kept")
    before = tree(target)
    refused = await evedge("restore", archive, "--data-dir", target)
    assert refused.code == 1 and "is not empty" in refused.err and "--force" in refused.err
    assert tree(target) == before

    forced = await evedge("restore", archive, "--data-dir", target, "--force")
    assert forced.code == 0, forced.err
    [aside] = [p for p in target.iterdir() if p.name.startswith(".replaced-")]
    assert str(aside) in forced.out
    assert tree(aside) == before, "the old contents are moved, whole and unchanged"
    assert (target / "jwt-secret").read_bytes() == (tmp_path / "data" / "jwt-secret").read_bytes()
    assert not (target / "notes.txt").exists()
    again = await evedge("restore", archive, "--data-dir", target, "--force")
    assert again.code == 0, again.err
    assert len([p for p in target.iterdir() if p.name.startswith(".replaced-")]) == 2
    assert tree(aside) == before, "an earlier .replaced- directory is left alone"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files to another user")
async def test_as_root_files_stay_with_the_service_user(tmp_path):
    """The service runs as its own user: files root creates must stay readable for it (the
    reader's -wal/-shm SQLite itself gives to the database's owner; restore chowns)."""
    data = make_data_dir(tmp_path / "data")
    service = 65534  # nobody
    for path in [data, *data.rglob("*")]:
        os.chown(path, service, service)
    archive = await make_archive(data, tmp_path / "b.tar")
    left = [data / "evedge.db-wal", data / "evedge.db-shm"]
    assert {p.stat().st_uid for p in left} == {service}, "the -wal and -shm a reader left"
    target = tmp_path / "target"
    target.mkdir()
    os.chown(target, service, service)
    result = await evedge("restore", archive, "--data-dir", target)
    assert result.code == 0, result.err
    assert {(p.stat().st_uid, p.stat().st_gid) for p in target.rglob("*")} == {(service,) * 2}


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


async def test_restore_refuses_tampered_corrupt_and_truncated_archives(tmp_path):
    data = make_data_dir(tmp_path / "data")
    plain = await make_archive(data, tmp_path / "b.tar")
    compressed = await make_archive(data, tmp_path / "b.tar.gz")
    with tarfile.open(plain) as tar:
        offset = tar.getmember("firmware/fw-1.bin").offset_data
    tampered = tmp_path / "tampered.tar"
    shutil.copy(plain, tampered)
    flip_byte(tampered, offset + 1234)
    corrupt = tmp_path / "corrupt.tar.gz"
    shutil.copy(compressed, corrupt)
    flip_byte(corrupt, compressed.stat().st_size // 2)
    truncated_gz = tmp_path / "truncated.tar.gz"
    truncated_gz.write_bytes(compressed.read_bytes()[:compressed.stat().st_size // 2])
    with tarfile.open(plain) as tar:
        manifest_header = tar.getmember("manifest.json").offset
    truncated_tar = tmp_path / "truncated.tar"
    truncated_tar.write_bytes(plain.read_bytes()[:manifest_header])
    cases = [(tampered, "checksum mismatch for firmware/fw-1.bin"),
             (corrupt, ""), (truncated_gz, "truncated"),
             (truncated_tar, "has no manifest.json")]
    for archive, fragment in cases:
        target = tmp_path / f"into-{archive.name}"
        result = await evedge("restore", archive, "--data-dir", target)
        assert result.code == 1, archive
        assert fragment in result.err, (archive, result.err)
        assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
        assert not target.exists(), "nothing may be written"


def hostile(path: Path, member: tarfile.TarInfo, body: bytes = b"evil",
            tar_format: int = tarfile.GNU_FORMAT) -> Path:
    """An archive with one hostile member and a manifest that vouches for it."""
    entry = {"name": member.name, "size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
             "mtime_ns": 0}
    manifest = json.dumps({**backup.manifest_head(None, dt.datetime(2026, 1, 1)),
                           "files": [entry]}, ensure_ascii=True).encode()
    with tarfile.open(path, "w", format=tar_format) as tar:
        if member.isreg():
            member.size = len(body)
            tar.addfile(member, io.BytesIO(body))
        else:
            tar.addfile(member)
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return path


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize("member, reason", [
    (tar_member("../evil"), "not a plain relative path"),
    (tar_member("firmware/../../evil"), "not a plain relative path"),
    (tar_member("/tmp/evil"), "not a plain relative path"),
    (tar_member("evil"), "not part of an evedge data directory"),
    (tar_member("firmware/a/evil"), "not part of an evedge data directory"),
    (tar_member("firmware/link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
    (tar_member("firmware/hard", tarfile.LNKTYPE, "../../evil"), "hard link"),
    (tar_member("firmware/dev", tarfile.CHRTYPE), "special file"),
    (tar_member("firmware", tarfile.DIRTYPE), "a directory"),
    (tar_member("firmware/\udcff\udcfe.bin"), "not a plain relative path"),  # not UTF-8
])
def test_restore_refuses_hostile_archives_and_writes_nothing(tmp_path, member, reason):
    archive = hostile(tmp_path / "hostile.tar", member)
    target = tmp_path / "a" / "b" / "data"
    with pytest.raises(restore.RestoreError, match="refused") as refused:
        restore.restore(Config(data_dir=target), archive)
    assert reason in str(refused.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["hostile.tar"]


@pytest.mark.sqlite_only
async def test_restore_refuses_while_a_server_runs_on_the_data_dir(start_server, tmp_path):
    archive = await make_archive(make_data_dir(tmp_path / "data"), tmp_path / "b.tar")
    running = await start_server(data_dir=tmp_path / "live")
    before = sorted(os.listdir(running.config.data_dir))
    result = await evedge("restore", archive, "--data-dir", running.config.data_dir, "--force")
    assert result.code == 1
    assert "is open in another process" in result.err, result.err
    assert sorted(os.listdir(running.config.data_dir)) == before
    assert (await running.api.get("/healthz")).status == 200


def test_a_server_is_detected_idle_and_not_after_it_stopped(tmp_path):
    data = make_data_dir(tmp_path / "data")
    assert not restore.database_in_use(data / "evedge.db")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
         "db.execute('PRAGMA journal_mode=wal'); db.execute('SELECT 1 FROM user').fetchall(); "
         "print('open', flush=True); sys.stdin.read()", str(data / "evedge.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "open\n"
        assert restore.database_in_use(data / "evedge.db"), "an idle connection counts"
    finally:
        holder.communicate("", timeout=10)
    assert not restore.database_in_use(data / "evedge.db")


async def test_restore_refuses_an_archive_from_a_newer_evedge(tmp_path):
    data = make_data_dir(tmp_path / "data")
    with contextlib.closing(sqlite3.connect(data / "evedge.db")) as db:
        db.execute("INSERT INTO schema_migration (name, applied) VALUES "
                   "('9999_from_the_future', '2030-01-01 00:00:00')")
        db.commit()
    archive = await make_archive(data, tmp_path / "b.tar.gz")
    result = await evedge("restore", archive, "--data-dir", tmp_path / "target")
    assert result.code == 1 and "9999_from_the_future" in result.err, result.err
    assert not (tmp_path / "target").exists()


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("EVEDGE_FROZEN_BINARY"),
                    reason="set EVEDGE_FROZEN_BINARY=dist/evedge (make build)")
def test_the_one_file_binary_backs_up_and_restores(tmp_path):
    """Packaging: restore reads the bundled migrations to refuse newer databases."""
    binary = os.environ["EVEDGE_FROZEN_BINARY"]
    data = make_data_dir(tmp_path / "data")
    made = subprocess.run([binary, "backup", f"{tmp_path}/", "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    archive = made.stdout.split()[0]
    done = subprocess.run([binary, "restore", archive, "--data-dir", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert table_counts(tmp_path / "r" / "evedge.db") == table_counts(data / "evedge.db")


# --- pure parts -------------------------------------------------------------------------


PART = st.one_of(st.sampled_from(["..", ".", "", "firmware", "diagnostics", "evedge.db",
                                  "jwt-secret", "manifest.json", "a", ".a.sha256", "%43"]),
                 st.text(alphabet=st.sampled_from("a./\\\x00\n%\udcff"), max_size=6))


@settings(max_examples=400, deadline=None)
@given(st.lists(PART, min_size=1, max_size=4), st.booleans())
def test_an_accepted_member_name_stays_inside_the_data_dir(parts, absolute):
    name = ("/" if absolute else "") + "/".join(parts)
    base = "/srv/evedge/data"
    try:
        accepted = backup.check_member_name(name)
    except backup.BackupError:
        return
    resolved = os.path.normpath(os.path.join(base, name))
    assert resolved.startswith(base + "/") and resolved == os.path.join(base, *accepted)
    assert backup._LAYOUT[accepted[0]] == len(accepted)
    assert not {"..", ".", ""} & set(accepted) and "\x00" not in name
    name.encode("utf-8")  # a name a file system and a manifest can both hold


STAMPS = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 1, 1))


@given(st.sets(STAMPS, min_size=1, max_size=12), st.lists(st.text(max_size=12), max_size=5),
       st.integers(min_value=1, max_value=6), st.data())
def test_rotation_keeps_the_newest_n_and_the_current_archive(stamps, others, keep, data):
    # A set: stamps that differ below a second share a name, and a directory holds it once.
    timestamped = sorted({f"evedge-backup-{s.strftime(backup.TIMESTAMP)}.tar.gz"
                          for s in stamps})
    current = data.draw(st.sampled_from(timestamped))
    deleted = backup.archives_to_delete(timestamped + others, keep, current)
    kept = [n for n in timestamped if n not in deleted]
    assert current in kept and set(deleted) <= set(timestamped)
    assert len(kept) == min(keep, len(timestamped))
    rest = [n for n in timestamped if n != current]
    assert deleted == rest[:len(deleted)], "the oldest go first"


@pytest.mark.parametrize("change, field_name", [
    (lambda m: m.update(format="zip"), "format"),
    (lambda m: m.update(format_version=2), "format_version 2 is newer"),
    (lambda m: m["files"][0].update(sha256="abc"), "files[0].sha256"),
    (lambda m: m["files"][0].update(size=-1), "files[0].size"),
    (lambda m: m["files"][0].update(name="../x"), "files[0].name"),
    (lambda m: m["files"].append(dict(m["files"][0])), "files[1].name"),
    (lambda m: m.update(database=None), "database is null"),
    (lambda m: m["database"].update(schema_migrations="0001"), "database.schema_migrations"),
    (lambda m: m["database"].pop("row_counts"), "database.row_counts"),
    (lambda m: m["files"][0].update(mtime_ns=2**64), "files[0].mtime_ns"),
    (lambda m: m["files"][0].update(size=True), "files[0].size"),
])
def test_manifest_errors_name_the_field(change, field_name):
    database = {"file": "evedge.db", "schema_migrations": [], "row_counts": {"user": 1}}
    manifest = {**backup.manifest_head(database, dt.datetime(2026, 1, 1)),
                "files": [{"name": "evedge.db", "size": 1, "sha256": "0" * 64, "mtime_ns": 1}]}
    restore.parse_manifest(json.dumps(manifest).encode())  # valid as it is
    change(manifest)
    with pytest.raises(restore.RestoreError, match="manifest.json") as refused:
        restore.parse_manifest(json.dumps(manifest).encode())
    assert field_name in str(refused.value)


def valid_manifest() -> dict:
    database = {"file": "evedge.db", "schema_migrations": [{"name": "0001_initial"}],
                "row_counts": {"user": 1}}
    return {**backup.manifest_head(database, dt.datetime(2026, 1, 1)), "files": [
        {"name": "evedge.db", "size": 1, "sha256": "0" * 64, "mtime_ns": 1},
        {"name": "firmware/a.bin", "size": 2, "sha256": "1" * 64, "mtime_ns": 2}]}


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=10)
PLACES = [lambda m: m, lambda m: m["files"][1], lambda m: m["database"],
          lambda m: m["database"]["schema_migrations"][0], lambda m: m["database"]["row_counts"]]


KEYS = st.sampled_from(["format", "format_version", "evedge_version", "created_at",
                        "database", "files", "name", "size", "sha256", "mtime_ns", "file",
                        "schema_migrations", "row_counts", "user"]) | st.text(max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PLACES), KEYS, JSON)
def test_any_manifest_is_read_or_refused_with_a_restore_error(place, key, value):
    """What a fuzzer does to manifest.json: whatever is accepted can be used."""
    manifest = valid_manifest()
    place(manifest)[key] = value
    try:
        parsed = restore.parse_manifest(json.dumps(manifest).encode())
    except restore.RestoreError:
        return
    assert "restored the evedge" in restore.summary(
        restore.RestoreResult(Path("/srv/data"), parsed, None, 0.0))
    restore.unknown_migrations(parsed)


@pytest.mark.parametrize("text", [b"", b"[]", b"{", b"[" * 100_000, b"\xff\xfe", b"null"])
def test_a_manifest_that_is_no_json_object_is_refused_with_the_reason(text):
    with pytest.raises(restore.RestoreError, match="manifest.json"):
        restore.parse_manifest(text)


def test_the_backup_timer_runs_a_real_backup_command():
    service = (ROOT / "systemd" / "evedge-backup.service").read_text()
    names = set(settings_help()) | {"config"}
    for variable in re.findall(r"EVEDGE_([A-Z_]+)=", service):
        assert variable.lower() in names, variable
    [exec_start] = [line.split("=", 1)[1] for line in service.splitlines()
                    if line.startswith("ExecStart=")]
    args = _parser().parse_args(exec_start.split()[1:])
    assert args.command == "backup" and args.keep >= 1
    timer = (ROOT / "systemd" / "evedge-backup.timer").read_text()
    assert "OnCalendar=" in timer and "Persistent=true" in timer
