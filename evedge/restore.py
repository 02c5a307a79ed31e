"""``evedge restore``: put an ``evedge backup`` archive back into a data directory.

Nothing is written until the whole archive has been read once and every member
matched its manifest entry (size and sha256): a corrupt, truncated or tampered
archive is refused with the reason. Members are read from the tar stream by name
and written by evedge itself, never by tarfile's extraction, and only names of the
data directory's layout are accepted (backup.check_member_name), so a hostile
archive (``../evil``, absolute paths, links, devices) cannot write anywhere else.

The second pass writes into a hidden staging directory inside the data directory,
hashing again; the database's ``PRAGMA integrity_check`` runs there. Only then are
the old contents (with ``--force``) renamed into ``.replaced-<timestamp>/`` and the
restored ones renamed into place: a failed restore leaves the old data as it was.
Files get mode 0600, directories 0700.

A running server is detected through SQLite's own locks, not a pid file (which the
server does not write and which goes stale after a power cut): every connection
to a WAL database holds a shared lock on the file (and on the -shm's DMS byte,
sqlite.org/walformat.html) for as long as it is open, idle or not, so an exclusive
lock (locking_mode=EXCLUSIVE) is refused while any other process has it open.
"BEGIN IMMEDIATE fails" would miss a server between two commits. POSIX locks do not
see the process's own connections: the probe is for another process, as a server is.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
import tarfile
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from . import __version__, paths
from .backup import (DATABASE_MEMBER, FORMAT, FORMAT_VERSION, MANIFEST, TIMESTAMP, BackupError,
                     check_member_name, fsync_directory, problems, sqlite_path)
from .config import Config
from .timeutil import utcnow

MAX_MANIFEST_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, OSError)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REPLACED = ".replaced-"
_STAGING = ".restore-"


class RestoreError(BackupError):
    """The archive or the target is refused; nothing of the data directory was changed."""


@dataclass(frozen=True)
class RestoreResult:
    data_dir: Path
    manifest: dict
    replaced: Path | None   # where the previous contents went (--force)
    seconds: float


# --- reading the archive ----------------------------------------------------------------


@contextmanager
def _open(archive: Path) -> Iterator[tarfile.TarFile]:
    """The archive as a tar stream (gzip or not), read front to back once."""
    try:
        tar = tarfile.open(archive, mode="r|*")
    except FileNotFoundError:
        raise RestoreError(f"no archive at {archive}") from None
    except _CORRUPT as exc:
        raise RestoreError(f"{archive} is not a readable tar archive: {exc}") from None
    with tar:
        yield tar


def _members(tar: tarfile.TarFile, archive: Path) -> Iterator[tuple[str, tarfile.TarInfo]]:
    """Every member, validated: a regular file whose name fits the data directory."""
    members = iter(tar)
    while True:
        try:
            member = next(members)
        except StopIteration:
            return
        except _CORRUPT as exc:
            raise RestoreError(f"{archive} is corrupt or truncated: {exc}") from None
        if not member.isreg():
            raise RestoreError(f"refused: archive member {member.name!r} is "
                               f"{_kind(member)}, not a regular file")
        try:
            check_member_name(member.name)
        except BackupError as exc:
            raise RestoreError(f"refused: {exc}") from None
        yield member.name, member


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link to {member.linkname!r}"
    if member.islnk():
        return f"a hard link to {member.linkname!r}"
    return "a directory" if member.isdir() else "a device or other special file"


def _chunks(tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Path) -> Iterator[bytes]:
    source: BinaryIO = tar.extractfile(member)  # type: ignore[assignment]
    while True:
        try:
            chunk = source.read(_CHUNK)
        except _CORRUPT as exc:
            raise RestoreError(f"{archive} is corrupt or truncated in {member.name}: "
                               f"{exc}") from None
        if not chunk:
            return
        yield chunk


def verify(archive: Path) -> dict:
    """Read the whole archive and check every member against the manifest; writes nothing.

    Returns the manifest. The manifest is the last member: one cut short anywhere lacks it.
    """
    seen: dict[str, tuple[int, str]] = {}
    manifest = None
    with _open(archive) as tar:
        for name, member in _members(tar, archive):
            if manifest is not None:
                raise RestoreError(f"refused: member {name} follows {MANIFEST}")
            if name in seen:
                raise RestoreError(f"refused: member {name} appears twice")
            if name == MANIFEST:
                if member.size > MAX_MANIFEST_BYTES:
                    raise RestoreError(f"refused: {MANIFEST} is {member.size} bytes")
                manifest = parse_manifest(b"".join(_chunks(tar, member, archive)))
                continue
            digest, size = hashlib.sha256(), 0
            for chunk in _chunks(tar, member, archive):
                digest.update(chunk)
                size += len(chunk)
            seen[name] = (size, digest.hexdigest())
    if manifest is None:
        raise RestoreError(f"{archive} has no {MANIFEST}: truncated, or not an evedge backup")
    _match(manifest, seen)
    return manifest


def _match(manifest: dict, seen: dict[str, tuple[int, str]]) -> None:
    listed = {entry["name"]: entry for entry in manifest["files"]}
    for name, entry in listed.items():
        if name not in seen:
            raise RestoreError(f"member {name} listed in {MANIFEST} is missing from the archive")
        size, sha256 = seen[name]
        if size != entry["size"]:
            raise RestoreError(f"size mismatch for {name}: {size} bytes, the manifest says "
                               f"{entry['size']}")
        if sha256 != entry["sha256"]:
            raise RestoreError(f"checksum mismatch for {name}: sha256 {sha256}, the manifest "
                               f"says {entry['sha256']} (corrupt or modified archive)")
    extra = sorted(set(seen) - set(listed))
    if extra:
        raise RestoreError(f"refused: member {extra[0]} is not listed in {MANIFEST}")


# --- the manifest -----------------------------------------------------------------------


def parse_manifest(data: bytes) -> dict:
    """The manifest, checked field by field (errors name the field)."""
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise RestoreError(f"{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RestoreError(f"{MANIFEST}: format is not {FORMAT!r}: not an evedge backup")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise RestoreError(f"{MANIFEST}: format_version must be a positive integer")
    if version > FORMAT_VERSION:
        raise RestoreError(f"{MANIFEST}: format_version {version} is newer than this evedge "
                           f"{__version__} reads ({FORMAT_VERSION}); restore with a newer evedge")
    for key in ("evedge_version", "created_at"):
        if not isinstance(manifest.get(key), str):
            raise RestoreError(f"{MANIFEST}: {key} must be a string")
    _check_files(manifest.get("files"))
    _check_database(manifest.get("database"), {f["name"] for f in manifest["files"]})
    return manifest


def _check_files(files: object) -> None:
    if not isinstance(files, list):
        raise RestoreError(f"{MANIFEST}: files must be a list")
    names = set()
    for i, entry in enumerate(files):
        where = f"{MANIFEST}: files[{i}]"
        if not isinstance(entry, dict):
            raise RestoreError(f"{where} must be an object")
        name = entry.get("name")
        try:
            check_member_name(name)
        except BackupError as exc:
            raise RestoreError(f"{where}.name: {exc}") from None
        if name == MANIFEST or name in names:
            raise RestoreError(f"{where}.name: {name} is listed twice or is the manifest")
        names.add(name)
        for key in ("size", "mtime_ns"):
            if not _count(entry.get(key)):
                raise RestoreError(f"{where}.{key} must be an integer from 0 to 2**63 - 1")
        if not isinstance(entry.get("sha256"), str) or not _SHA256.fullmatch(entry["sha256"]):
            raise RestoreError(f"{where}.sha256 must be 64 lower-case hex digits")


def _check_database(database: object, names: set[str]) -> None:
    if database is None:
        if DATABASE_MEMBER in names:
            raise RestoreError(f"{MANIFEST}: database is null but {DATABASE_MEMBER} is listed")
        return
    if not isinstance(database, dict):
        raise RestoreError(f"{MANIFEST}: database must be an object or null")
    if database.get("file") != DATABASE_MEMBER or DATABASE_MEMBER not in names:
        raise RestoreError(f"{MANIFEST}: database.file must be {DATABASE_MEMBER}, listed in files")
    migrations = database.get("schema_migrations")
    if not isinstance(migrations, list) or not all(
            isinstance(m, dict) and isinstance(m.get("name"), str) for m in migrations):
        raise RestoreError(f"{MANIFEST}: database.schema_migrations must be a list of "
                           "objects with a name")
    counts = database.get("row_counts")
    if not isinstance(counts, dict) or not all(n is None or _count(n) for n in counts.values()):
        raise RestoreError(f"{MANIFEST}: database.row_counts must map tables to row counts "
                           "(null: unreadable)")


def _count(value: object) -> bool:
    """A size, a count or a time in ns: an int that fits the 64 bits os.utime takes."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def unknown_migrations(manifest: dict) -> list[str]:
    """Migrations of the archived database that this evedge does not have (a newer backup)."""
    if manifest["database"] is None:
        return []
    known = {Path(p).stem for p in glob.glob(os.path.join(paths.migrations(), "[0-9]*.py"))}
    return sorted({m["name"] for m in manifest["database"]["schema_migrations"]} - known)


# --- the target -------------------------------------------------------------------------


def database_in_use(path: Path) -> bool:
    """Whether another process has the SQLite database at ``path`` open (a running server)."""
    if not path.is_file():
        return False
    try:
        probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True,
                                isolation_level=None, timeout=0)
    except sqlite3.Error:
        return False
    try:
        probe.execute("PRAGMA locking_mode=EXCLUSIVE")
        probe.execute("BEGIN EXCLUSIVE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        return getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
    except sqlite3.DatabaseError:  # not a database: nobody serves it
        return False
    finally:
        probe.close()


def existing_contents(data_dir: Path) -> list[str]:
    """What a restore replaces: every entry but earlier ``.replaced-*`` directories and the
    running one-file binary's own unpack directory (systemd/evedge.service puts TMPDIR in
    data_dir)."""
    own = Path(getattr(sys, "_MEIPASS", "/nonexistent")).resolve()
    try:
        entries = sorted(os.listdir(data_dir))
    except FileNotFoundError:
        return []
    return [name for name in entries
            if not name.startswith(_REPLACED) and (data_dir / name).resolve() != own]


def _refuse_running_server(config: Config) -> None:
    if database_in_use(config.database_path):
        raise RestoreError(f"the database {config.database_path} is open in another process "
                           "(a running evedge?): stop it first (systemctl stop evedge)")


def _check_target(config: Config, manifest: dict, free_path: Path) -> None:
    if manifest["database"] is not None:
        if sqlite_path(config) != config.database_path:
            raise RestoreError(
                f"the archive holds a SQLite database, but database_url points elsewhere "
                f"({config.database_url.split('://', 1)[0]}): restore needs data_dir/"
                f"{DATABASE_MEMBER} (unset database_url)")
        unknown = unknown_migrations(manifest)
        if unknown:
            raise RestoreError(
                f"the archived database has migrations evedge {__version__} does not know "
                f"({', '.join(unknown)}): restore with evedge {manifest['evedge_version']}")
    need = sum(entry["size"] for entry in manifest["files"]) + config.min_free_bytes
    free = shutil.disk_usage(free_path).free
    if free < need:
        raise RestoreError(f"not enough free space for the restore: {free} bytes free, {need} "
                           "needed (the files plus min_free_bytes)")


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


# --- writing ----------------------------------------------------------------------------


def _extract(archive: Path, staging: Path, manifest: dict) -> None:
    """The second pass: every member into ``staging``, hashed again against the manifest."""
    listed = {entry["name"]: entry for entry in manifest["files"]}
    written = set()
    with _open(archive) as tar:
        for name, member in _members(tar, archive):
            if name == MANIFEST:
                continue
            if name not in listed or name in written:
                raise RestoreError(f"{archive} changed during the restore ({name})")
            _write_member(staging, name, _chunks(tar, member, archive), listed[name])
            written.add(name)
    if written != set(listed):
        raise RestoreError(f"{archive} changed during the restore (members missing)")
    for directory, _, _ in os.walk(staging):
        fsync_directory(Path(directory))


def _write_member(staging: Path, name: str, chunks: Iterator[bytes], entry: dict) -> None:
    parts = check_member_name(name)
    directory = staging
    for part in parts[:-1]:
        directory = directory / part
        if not directory.is_dir():
            directory.mkdir(mode=0o700)
            os.chmod(directory, 0o700)
    path = directory / parts[-1]
    digest = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(fd, 0o600)
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(fd)
    if digest.hexdigest() != entry["sha256"]:
        raise RestoreError(f"{name} changed during the restore (checksum mismatch)")
    os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]))  # keeps sidecars valid


def integrity_check(path: Path) -> None:
    """``PRAGMA integrity_check`` on the restored database; RestoreError unless "ok"."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = [row[0] for row in db.execute("PRAGMA integrity_check")]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"the restored database fails PRAGMA integrity_check: {exc}; nothing "
                           "was replaced") from None
    if rows != ["ok"]:
        raise RestoreError(f"the restored database fails PRAGMA integrity_check: "
                           f"{problems(rows)}; nothing was replaced (the archive is a plain "
                           f"tar: its {DATABASE_MEMBER} can be taken out for a rescue)")


def _match_owner(staging: Path, data_dir: Path) -> None:
    """As root, give the restored files the data directory's owner (the service's user)."""
    owner = data_dir.stat()
    if os.geteuid() != 0 or owner.st_uid == 0:
        return
    for directory, dirs, files in os.walk(staging):
        for name in [*dirs, *files, ""]:
            os.lchown(os.path.join(directory, name) if name else directory,
                      owner.st_uid, owner.st_gid)


def _unique(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _swap(data_dir: Path, staging: Path, contents: list[str], stamp: str) -> Path | None:
    """Move the old contents aside and the restored ones in; undone if a rename fails."""
    moves: list[tuple[Path, Path]] = []
    replaced = _unique(data_dir / f"{_REPLACED}{stamp}") if contents else None
    try:
        if replaced is not None:
            replaced.mkdir(mode=0o700)
            for name in contents:
                os.rename(data_dir / name, replaced / name)
                moves.append((data_dir / name, replaced / name))
        for name in sorted(os.listdir(staging)):
            os.rename(staging / name, data_dir / name)
            moves.append((staging / name, data_dir / name))
    except OSError as exc:
        for source, target in reversed(moves):
            os.rename(target, source)
        raise RestoreError(f"moving the restored files into {data_dir} failed "
                           f"({exc.strerror}); the previous contents are back in place") from None
    staging.rmdir()
    fsync_directory(data_dir)
    return replaced


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass


def restore(config: Config, archive: str | Path, *, force: bool = False,
            now: dt.datetime | None = None) -> RestoreResult:
    """Restore ``archive`` into ``config.data_dir`` (see the module docstring)."""
    started = time.monotonic()
    archive, data_dir = Path(archive), Path(config.data_dir)
    stamp = (now or utcnow()).strftime(TIMESTAMP)
    if not archive.is_file():
        raise RestoreError(f"no archive at {archive}")
    contents = existing_contents(data_dir)
    if contents and not force:
        raise RestoreError(f"data_dir {data_dir} is not empty ({', '.join(contents[:5])}"
                           f"{', ...' if len(contents) > 5 else ''}): use --force to move its "
                           f"contents aside to {data_dir}/{_REPLACED}<timestamp>/")
    _refuse_running_server(config)
    manifest = verify(archive)
    _check_target(config, manifest, _nearest_existing(data_dir))
    created = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = _unique(data_dir / f"{_STAGING}{stamp}.partial")
    try:
        staging.mkdir(mode=0o700)
        _extract(archive, staging, manifest)
        if manifest["database"] is not None:
            integrity_check(staging / DATABASE_MEMBER)
        _match_owner(staging, data_dir)
        _refuse_running_server(config)  # one may have started during the verification
        replaced = _swap(data_dir, staging, contents, stamp)
        os.chmod(data_dir, 0o700)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            _remove_if_empty(data_dir)
        if isinstance(exc, OSError):
            raise RestoreError(f"writing into {data_dir} failed: {exc.strerror or exc}") from None
        raise
    return RestoreResult(data_dir, manifest, replaced, time.monotonic() - started)


# --- command line -----------------------------------------------------------------------


def summary(result: RestoreResult) -> str:
    manifest = result.manifest
    names = [entry["name"] for entry in manifest["files"]]
    parts = []
    if manifest["database"] is not None:
        rows = sum(n or 0 for n in manifest["database"]["row_counts"].values())
        parts.append(f"{DATABASE_MEMBER} ({rows} rows, integrity ok)")
    parts += [name for name in names if "/" not in name and name != DATABASE_MEMBER]
    for kind in ("firmware", "diagnostics"):
        count = sum(1 for n in names if n.startswith(kind + "/")
                    and not n.rsplit("/", 1)[1].startswith("."))
        if count:
            parts.append(f"{count} {kind} file{'' if count == 1 else 's'}")
    return (f"restored the evedge {manifest['evedge_version']} backup of "
            f"{manifest['created_at']} into {result.data_dir}: {', '.join(parts) or 'nothing'} "
            f"in {result.seconds:.1f} s")


def run_restore(config: Config, archive: str, *, force: bool) -> int:
    """``evedge restore``: exit status 0, or 1 with one line saying why."""
    try:
        result = restore(config, archive, force=force)
    except BackupError as exc:
        print(f"evedge restore: {exc}", file=sys.stderr)
        return 1
    except (OSError, sqlite3.Error) as exc:
        print(f"evedge restore: failed: {exc}", file=sys.stderr)
        return 1
    print(summary(result))
    if result.replaced is not None:
        print(f"the previous contents are in {result.replaced}")
    return 0
