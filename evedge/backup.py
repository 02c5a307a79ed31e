"""``evedge backup``: one archive with a consistent copy of the live database, the JWT
secret and the firmware files (diagnostics uploads on request), plus ``manifest.json``.

The box runs unattended for years on a flash card that dies; this archive is what
gets an installation back (``evedge restore``, restore.py). Members mirror the data
directory: ``evedge.db``, ``jwt-secret``, ``firmware/<name>`` with its hidden
``.<name>.sha256`` sidecar, ``diagnostics/<charger>/<name>``, and ``manifest.json``
last (evedge version, creation time, schema migrations, row counts, and the size,
sha256 and mtime of every other member). A manifest at the end is written in the
same pass that hashes the members, and an archive cut short anywhere lacks it.

The database copy is SQLite's online backup API (sqlite.org/backup.html) run from a
read-only connection that holds ONE read transaction for the whole copy. In WAL mode
a reader never blocks the server's writers, and the copy is the snapshot taken when
that transaction began. Holding it is what lets the copy go in steps: a step that
begins a fresh read transaction restarts the copy from page 1 whenever another
connection committed since the previous step (sqlite3_backup_step), and a server
committing every few milliseconds would then restart it forever (measured: 1,133
restarts in 5 s on a 40 MB database). The pause between steps leaves the flash card
to the server's fsyncs. The copy is written next to the archive, never to the data
directory unless DEST is there, and then ``min_free_bytes`` stays free on that volume.

Only the standard library's ``sqlite3`` is used here, not evedge's database layer:
a backup must not run migrations, and it must work while the server owns the file.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, TypeVar
from urllib.parse import urlsplit, urlunsplit

from . import __version__
from .config import Config
from .timeutil import to_rfc3339, utcnow

FORMAT = "evedge-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_MEMBER = "evedge.db"
SECRET_MEMBER = "jwt-secret"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
ARCHIVE_NAME = re.compile(r"evedge-backup-\d{8}T\d{6}Z\.tar\.gz")
TIMESTAMP = "%Y%m%dT%H%M%SZ"

STEP_PAGES = 2048       # pages copied per backup step (8 MiB at SQLite's 4 KiB pages)
STEP_PAUSE = 0.005      # seconds between steps
COMPRESS_LEVEL = 1      # gzip level; measured in README "Backup and restore"
SPACE_CHECK_BYTES = 64 * 1024 * 1024
STALE_TEMP_SECONDS = 24 * 3600
_TEMP_PREFIX = ".evedge-backup-"
_UPLOAD_PART = re.compile(r"\.upload-.*\.part")  # files.FileStore's temporary uploads
T = TypeVar("T")
_LAYOUT = {DATABASE_MEMBER: 1, SECRET_MEMBER: 1, MANIFEST: 1, "firmware": 2, "diagnostics": 3}


class BackupError(Exception):
    """A backup or restore cannot go on; the message is the one line shown to the operator."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    seconds: float
    manifest: dict
    removed: list[Path] = field(default_factory=list)   # older archives deleted by ``keep``
    skipped: list[str] = field(default_factory=list)    # files left out, with the reason


# --- archive member names ---------------------------------------------------------------


def check_member_name(name: object) -> tuple[str, ...]:
    """The parts of ``name`` if it is a member evedge writes, else BackupError.

    The general rule behind "no absolute paths, no ``..``": a relative POSIX path
    of the data directory's layout (``evedge.db``, ``jwt-secret``, ``manifest.json``,
    ``firmware/<file>``, ``diagnostics/<charger>/<file>``) whose every part is a
    plain file name. Such a name cannot leave the directory it is extracted into.
    """
    if not isinstance(name, str) or not name:
        raise BackupError("archive member without a name")
    parts = tuple(name.split("/"))
    for part in parts:
        if part in ("", ".", "..") or "\\" in part or not _plain_text(part, 255):
            raise BackupError(f"archive member {name!r} is not a plain relative path")
    if _LAYOUT.get(parts[0]) != len(parts):
        raise BackupError(f"archive member {name!r} is not part of an evedge data directory")
    return parts


def _plain_text(part: str, max_bytes: int) -> bool:
    """Valid UTF-8 (tarfile hands other bytes over as surrogates), no control characters."""
    try:
        size = len(part.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return size <= max_bytes and not any(ord(c) < 32 or ord(c) == 127 for c in part)


# --- where things are -------------------------------------------------------------------


def sqlite_path(config: Config) -> Path | None:
    """The SQLite file of this installation, or None when it runs on PostgreSQL."""
    url = config.database_url
    if not url:
        return config.database_path
    if is_postgres(config):
        return None
    if url.split(":", 1)[0].lower() == "sqlite":
        # playhouse.db_url: sqlite:///relative.db, sqlite:////absolute/path.db
        path = urlsplit(url).path[1:]
        if path and path != ":memory:":
            return Path(path)
    raise BackupError(f"database_url: cannot back up {url.split('://', 1)[0]!r} databases "
                      "(SQLite files and PostgreSQL only)")


def postgres_advice(url: str) -> str:
    """How to back up and restore a PostgreSQL database with its own tools."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    shown = urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, parts.query, ""))
    return (
        "database_url points at PostgreSQL: back up the database with PostgreSQL's own tools\n"
        f"  pg_dump --format=custom --file=evedge-$(date -u +{TIMESTAMP}).pgdump '{shown}'\n"
        f"  pg_restore --clean --if-exists --no-owner --dbname='{shown}' evedge-....pgdump\n"
        "(the password from PGPASSWORD or ~/.pgpass); for the JWT secret and the firmware "
        "files: evedge backup --files-only DEST")


def archive_path(dest: str | Path, now: dt.datetime) -> Path:
    """The archive to write: ``DEST`` itself, or a timestamped name when it is a directory."""
    text = str(dest)
    path = Path(text)
    if path.is_dir() or text.endswith(("/", os.sep)):
        if not path.is_dir():
            raise BackupError(f"destination directory {path} does not exist")
        return path / f"evedge-backup-{now.strftime(TIMESTAMP)}.tar.gz"
    if not path.name.endswith(ARCHIVE_SUFFIXES):
        raise BackupError(f"DEST {text}: give a directory or a file name ending in "
                          f"{', '.join(ARCHIVE_SUFFIXES)}")
    if not path.parent.is_dir():
        raise BackupError(f"destination directory {path.parent} does not exist")
    return path


Entries = list[tuple[str, Path]]  # (archive member name, file)


def data_files(data_dir: Path, with_diagnostics: bool) -> tuple[Entries, list[str]]:
    """(member name, path) of every file to archive besides the database, and the files
    left out with the reason (uploads still in progress, links, unusable names)."""
    entries: Entries = []
    skipped: list[str] = []
    secret = data_dir / SECRET_MEMBER
    if secret.is_file() and not secret.is_symlink():
        entries.append((SECRET_MEMBER, secret))
    entries += _files_in(data_dir / "firmware", "firmware", skipped)
    if with_diagnostics:
        for entry in _sorted_entries(data_dir / "diagnostics"):
            prefix = f"diagnostics/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                entries += _files_in(Path(entry.path), prefix, skipped)
            else:
                skipped.append(f"{prefix} (not a charger's directory)")
    return entries, skipped


def _sorted_entries(directory: Path) -> list[os.DirEntry]:
    try:
        return sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        return []


def _files_in(directory: Path, prefix: str, skipped: list[str]) -> list[tuple[str, Path]]:
    found = []
    for entry in _sorted_entries(directory):
        name = f"{prefix}/{entry.name}"
        if _UPLOAD_PART.fullmatch(entry.name):
            skipped.append(f"{name} (upload in progress)")
        elif not entry.is_file(follow_symlinks=False):
            skipped.append(f"{name} (not a regular file)")
        else:
            try:
                check_member_name(name)
            except BackupError as exc:
                skipped.append(f"{name} ({exc})")
                continue
            found.append((name, Path(entry.path)))
    return found


# --- the database copy ------------------------------------------------------------------


def open_read_only(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection that can never write to (or create) the database at ``path``."""
    if not path.is_file():
        raise BackupError(f"no database at {path} (check data_dir)")
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                               isolation_level=None, timeout=timeout)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open the database {path}: {exc}") from None


def copy_database(source: Path, target: Path, *, step_pages: int = STEP_PAGES,
                  pause: float = STEP_PAUSE, on_step: Callable[[], None] | None = None) -> None:
    """Copy the live database at ``source`` into the new file ``target``, consistently.

    ``on_step()`` runs after every step (the free-space guard); it may raise to abort.
    """
    src = open_snapshot(source)
    try:
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            # A temporary file: if the box dies mid-copy it is garbage anyway (and purged).
            dst.execute("PRAGMA synchronous=OFF")
            dst.execute("PRAGMA journal_mode=OFF")
            src.backup(dst, pages=step_pages, progress=_between_steps(on_step, pause))
            # The copy inherits the WAL flag; make it one self-contained file.
            dst.execute("PRAGMA journal_mode=DELETE").fetchone()
        except sqlite3.Error as exc:
            raise _copy_error(exc, source, target) from None
        finally:
            dst.close()
    finally:
        src.close()  # a -wal/-shm it created as root SQLite gives to the database's owner


def open_snapshot(source: Path) -> sqlite3.Connection:
    """A read-only connection inside one read transaction: every step copies that snapshot."""
    src = open_read_only(source)
    try:
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot begins
    except sqlite3.DatabaseError as exc:
        src.close()
        raise BackupError(f"cannot read the database {source}: {exc}") from None
    return src


def _between_steps(on_step: Callable[[], None] | None, pause: float):
    def step(status: int, remaining: int, total: int) -> None:
        if on_step is not None:
            on_step()
        if remaining:
            time.sleep(pause)
    return step


def problems(rows: list[str], shown: int = 3) -> str:
    """What an integrity or quick check found, on one line (it reports one row per line
    or all in one, after a "*** in database main ***" heading)."""
    lines = [line for row in rows for line in str(row).splitlines()
             if line.strip() and not line.startswith("***")]
    more = f" (and {len(lines) - shown} more)" if len(lines) > shown else ""
    return "; ".join(lines[:shown]) + more


def _copy_error(exc: sqlite3.Error, source: Path, target: Path) -> BackupError:
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL":
        return BackupError(f"disk full at {target.parent} while copying the database")
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return BackupError(f"cannot read the database {source}: {exc}")
    return BackupError(f"copying the database {source} to {target.parent} failed: {exc}")


def database_facts(path: Path) -> dict:
    """Schema migrations, row counts of every table, and ``PRAGMA quick_check`` of the copy.

    quick_check (the B-tree structure, not index contents) tells of a failing card at
    backup time, while the live database may still be saved, not only at a restore.
    A damaged copy is described as far as it can be read (an unreadable count is None),
    so that it is still archived.
    """
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        check = _quick_check(db)
        tables = _or_none(lambda: [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]) or []
        counts = {t: _or_none(lambda: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
                  for t in tables}
        migrations = _or_none(lambda: [
            {"name": name, "applied": str(applied)} for name, applied in db.execute(
                "SELECT name, applied FROM schema_migration ORDER BY name")]) or []
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    finally:
        db.close()
    return {"file": DATABASE_MEMBER, "engine": "sqlite", "sqlite_version": sqlite3.sqlite_version,
            "page_size": page_size, "quick_check": check, "schema_migrations": migrations,
            "row_counts": counts}


def _quick_check(db: sqlite3.Connection) -> str:
    try:
        rows = [row[0] for row in db.execute("PRAGMA quick_check(100)")]
    except sqlite3.DatabaseError as exc:  # damaged beyond what the check reports
        return str(exc)
    return "ok" if rows == ["ok"] else problems(rows)


def _or_none(query: Callable[[], T]) -> T | None:
    try:
        return query()
    except sqlite3.DatabaseError:
        return None


# --- free space -------------------------------------------------------------------------


class SpaceGuard:
    """Keeps ``min_free_bytes`` free on the data_dir volume while the backup writes there.

    A full volume stops SQLite from committing, and with it every charger's answers
    (the same rule as files.FileStore.require_free_space). On another volume it only
    turns a full disk into one clear error early.
    """

    def __init__(self, data_dir: Path, dest_dir: Path, min_free_bytes: int):
        self.dest_dir = dest_dir
        try:
            self.shared = os.stat(data_dir).st_dev == os.stat(dest_dir).st_dev
        except OSError:
            self.shared = False
        self.reserve = min_free_bytes if self.shared else 0

    def free(self) -> int:
        return shutil.disk_usage(self.dest_dir).free

    def require(self, more: int = 0) -> None:
        free = self.free()
        if free - more < self.reserve:
            where = "the data_dir volume" if self.shared else str(self.dest_dir)
            raise BackupError(f"not enough free space on {where}: {free} bytes free, "
                              f"{more} needed" + (f" and {self.reserve} must stay free for "
                                                  "the database (min_free_bytes)"
                                                  if self.reserve else ""))


class _GuardedWriter:
    """The archive's file, checking the free space every ``SPACE_CHECK_BYTES``."""

    def __init__(self, raw: BinaryIO, guard: SpaceGuard):
        self.raw, self.guard = raw, guard
        self.written = 0
        self._next_check = SPACE_CHECK_BYTES

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        self.written += len(data)
        if self.written >= self._next_check:
            self._next_check += SPACE_CHECK_BYTES
            self.guard.require()
        return len(data)

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        self.raw.flush()


class _HashingReader:
    """Hashes what tarfile reads; a file shorter than it was (changed in place) is an error."""

    def __init__(self, raw: BinaryIO, path: Path, expected: int):
        self.raw, self.path, self.expected = raw, path, expected
        self.digest = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        self.count += len(data)
        if 0 <= len(data) < size and self.count < self.expected:
            raise BackupError(f"{self.path} shrank while it was archived; try again")
        return data


# --- the archive ------------------------------------------------------------------------


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> dict | None:
    """Archive ``path`` as ``name``; its manifest entry, or None if it vanished meanwhile.

    Stored files are only ever replaced by rename (files.Upload), so the open file
    is a stable snapshot even when an upload replaces it during the backup.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), 0o600
        reader = _HashingReader(fh, path, st.st_size)
        tar.addfile(info, reader)
    return {"name": name, "size": st.st_size, "sha256": reader.digest.hexdigest(),
            "mtime_ns": st.st_mtime_ns}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(mtime), 0o600
    tar.addfile(info, io.BytesIO(data))


def write_archive(out: BinaryIO, compressed: bool, entries: Iterable[tuple[str, Path]],
                  head: dict, now: dt.datetime) -> dict:
    """Write the members, then the manifest (``head`` plus their ``files``); returns it."""
    mode = "w:gz" if compressed else "w"
    options = {"compresslevel": COMPRESS_LEVEL} if compressed else {}
    files = []
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.PAX_FORMAT, **options) as tar:
        for name, path in entries:
            entry = _add_file(tar, name, path)
            if entry is not None:
                files.append(entry)
        manifest = {**head, "files": files}
        data = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8") + b"\n"
        _add_bytes(tar, MANIFEST, data, now.replace(tzinfo=dt.timezone.utc).timestamp())
    return manifest


def manifest_head(database: dict | None, now: dt.datetime) -> dict:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "evedge_version": __version__,
            "created_at": to_rfc3339(now), "database": database}


def backup(config: Config, dest: str | Path, *, with_diagnostics: bool = False,
           files_only: bool = False, keep: int | None = None,
           now: dt.datetime | None = None) -> BackupResult:
    """Write one archive of this installation to ``dest`` (a file name or a directory)."""
    started = time.monotonic()
    now = now or utcnow()
    database = None if files_only else sqlite_path(config)
    if database is None and not files_only:
        raise BackupError(postgres_advice(config.database_url))
    target = archive_path(dest, now)
    data_dir = Path(config.data_dir)
    if not data_dir.is_dir():
        raise BackupError(f"data_dir {data_dir} does not exist")
    guard = SpaceGuard(data_dir, target.parent, config.min_free_bytes)
    purge_stale_temporaries(target.parent)
    entries, skipped = data_files(data_dir, with_diagnostics)
    with _Temporaries(target.parent) as temps:
        facts = None
        if database is not None:
            copy = temps.new(".db.tmp")
            size = database.stat().st_size if database.is_file() else 0
            guard.require(size)
            copy_database(database, copy, on_step=guard.require)
            facts = database_facts(copy)
            entries.insert(0, (DATABASE_MEMBER, copy))
        archive = temps.new(".tar.tmp")
        manifest = _write_and_publish(archive, target, entries, manifest_head(facts, now),
                                      guard, now)
    removed = rotate(target.parent, keep, target) if keep else []
    return BackupResult(target, target.stat().st_size, time.monotonic() - started, manifest,
                        removed, skipped)


def _write_and_publish(temp: Path, target: Path, entries: list[tuple[str, Path]], head: dict,
                       guard: SpaceGuard, now: dt.datetime) -> dict:
    """Write the archive under its temporary name, fsync it, then rename it into place."""
    compressed = not target.name.endswith(".tar")
    try:
        with open(temp, "r+b") as fh:
            manifest = write_archive(_GuardedWriter(fh, guard), compressed, entries, head, now)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, target)
        fsync_directory(target.parent)
    except OSError as exc:
        raise _write_error(exc, target) from None
    return manifest


def _write_error(exc: OSError, target: Path) -> BackupError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return BackupError(f"disk full at {target.parent} while writing {target.name}")
    return BackupError(f"cannot write {target}: {exc.strerror or exc}")


class _Temporaries:
    """Hidden temporary files next to the archive, removed whatever happens."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.paths: list[Path] = []

    def new(self, suffix: str) -> Path:
        try:
            fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=suffix, dir=self.directory)
        except OSError as exc:
            raise BackupError(f"cannot write to {self.directory}: {exc.strerror}") from None
        os.close(fd)
        self.paths.append(Path(name))
        return Path(name)

    def __enter__(self) -> _Temporaries:
        return self

    def __exit__(self, *exc_info) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)
            for suffix in ("-journal", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)


def purge_stale_temporaries(directory: Path) -> None:
    """Drop temporary files a backup interrupted by a power cut left behind."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    for entry in _sorted_entries(directory):
        try:
            if entry.name.startswith(_TEMP_PREFIX) and entry.stat().st_mtime < cutoff:
                Path(entry.path).unlink()
        except OSError:
            continue


def fsync_directory(directory: Path) -> None:
    """Make a rename durable: it lives in the directory, not in the file."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- rotation ---------------------------------------------------------------------------


def archives_to_delete(names: Iterable[str], keep: int, current: str) -> list[str]:
    """Timestamped archives beyond the newest ``keep``, counting ``current``, which stays.

    Only names evedge makes (``evedge-backup-YYYYmmddTHHMMSSZ.tar.gz``) are candidates;
    they sort by time. The archive just written is never one of them, even when a
    clock that ran ahead once gave older archives later names.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    others = sorted({n for n in names if ARCHIVE_NAME.fullmatch(n)} - {current})
    surplus = len(others) - (keep - 1)
    return others[:surplus] if surplus > 0 else []


def rotate(directory: Path, keep: int, current: Path) -> list[Path]:
    removed = []
    for name in archives_to_delete(os.listdir(directory), keep, current.name):
        path = directory / name
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise BackupError(f"backup written to {current}, but removing the old archive "
                              f"{path} failed: {exc.strerror}") from None
        removed.append(path)
    return removed


# --- command line -----------------------------------------------------------------------


def human_size(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def run_backup(config: Config, dest: str, *, with_diagnostics: bool, files_only: bool,
               keep: int | None) -> int:
    """``evedge backup``: exit status 0, or 1 with one line (or the PostgreSQL advice)."""
    if keep is not None and keep < 1:
        print("evedge backup: --keep must be at least 1", file=sys.stderr)
        return 2
    try:
        result = backup(config, dest, with_diagnostics=with_diagnostics,
                        files_only=files_only, keep=keep)
    except BackupError as exc:
        print(f"evedge backup: {exc}", file=sys.stderr)
        return 1
    except (OSError, sqlite3.Error) as exc:  # anything unforeseen still gets one line
        print(f"evedge backup: failed: {exc}", file=sys.stderr)
        return 1
    for reason in result.skipped:
        print(f"evedge backup: left out {reason}", file=sys.stderr)
    check = (result.manifest["database"] or {}).get("quick_check", "ok")
    if check != "ok":
        print(f"evedge backup: the database fails PRAGMA quick_check ({check}); "
              f"archived as it is in {result.path}: save the live database now",
              file=sys.stderr)
        return 1
    print(f"{result.path} {result.size} bytes ({human_size(result.size)}) "
          f"in {result.seconds:.1f} s")
    for path in result.removed:
        print(f"removed old archive {path}")
    if result.manifest["database"] is None and is_postgres(config):
        print(postgres_advice(config.database_url), file=sys.stderr)
    return 0


def is_postgres(config: Config) -> bool:
    return config.database_url.split(":", 1)[0].lower().startswith("postgres")
