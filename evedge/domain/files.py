"""Firmware and diagnostics files kept on the box: safe names, atomic writes, size limits.

An offline site has no other server, so the box itself serves firmware for
UpdateFirmware and receives the uploads GetDiagnostics asks for. Files live in
``data_dir/firmware/`` and ``data_dir/diagnostics/<charger_id>/``. Bytes come in
through an :class:`Upload` (a hidden temporary file, published by rename only
once complete and fsynced, so a power cut never leaves half a file under the
real name); ``multipart.py`` streams ``multipart/form-data`` bodies into one.
Uploads arrive on the event loop (HTTP) and in the FTP server's thread (evedge/ftp/):
the limits they share are checked under one lock (``volume_lock``).
Limits come from the settings ``firmware_max_bytes``, ``diagnostics_max_bytes``
and ``min_free_bytes``; ``services.py`` builds the two stores once. No Tornado
here: handlers feed chunks and get :class:`StoredFile` records. Nothing in this
module touches the database, so every function may run in an executor thread.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .. import errors
from ..timeutil import to_rfc3339, utcnow
from . import checksums

MAX_NAME_LENGTH = 128
MAX_DIRECTORY_NAME = 255   # bytes: NAME_MAX of ext4, vfat and most others
# Temporary files older than this are left over from a power cut or a dropped
# connection; no upload over the site network takes a day.
STALE_PART_SECONDS = 24 * 3600

_PART_PREFIX, _PART_SUFFIX = ".upload-", ".part"
_NAME_CHARS = re.compile(r"[A-Za-z0-9._+-]+")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._+-]")


# --- names ------------------------------------------------------------------------------


def check_name(name: object, field: str = "name") -> str:
    """``name`` if it is a safe file name, else BadRequest naming ``field``.

    Only letters, digits and ``._-+``, no leading dot (which also keeps our own
    hidden temporary and ``.sha256`` files out of reach), no ``..``, at most
    128 characters: a name can then never leave its directory.
    """
    if not isinstance(name, str) or not name:
        raise errors.BadRequest("a file name is required", field=field)
    if len(name) > MAX_NAME_LENGTH:
        raise errors.BadRequest(f"file name is longer than {MAX_NAME_LENGTH} characters",
                                field=field)
    if "/" in name or "\\" in name:
        raise errors.BadRequest("file name must not contain path separators", field=field)
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise errors.BadRequest("file name must not contain control characters", field=field)
    if name.startswith(".") or ".." in name:
        raise errors.BadRequest("file name must not start with a dot or contain '..'",
                                field=field)
    if not _NAME_CHARS.fullmatch(name):
        raise errors.BadRequest("file name may contain only letters, digits and . _ - +",
                                field=field)
    return name


def name_from_charger(raw: str | None, default: str) -> str:
    """A safe name made from what a charger sent; never rejects.

    Quirk, lenient on purpose: firmwares name diagnostics after timestamps
    (``diag 2026-01-31T10:00:00.zip``) or send a whole Windows path, and refusing
    the upload would lose the diagnostics without the operator ever seeing why.
    Directories are dropped, unsafe characters become ``_``, leading dots go;
    what is left is checked like any other name.
    """
    base = re.split(r"[/\\]", raw or "")[-1]
    cleaned = _UNSAFE_CHARS.sub("_", base).lstrip(".").replace("..", "_")[:MAX_NAME_LENGTH]
    return check_name(cleaned) if cleaned else default


def generated_diagnostics_name(now: dt.datetime | None = None) -> str:
    """For chargers that upload without naming the file (PUT or raw POST to the directory)."""
    return (now or utcnow()).strftime("diagnostics-%Y%m%dT%H%M%S.%fZ")


def declared_size(content_length: str | None) -> int | None:
    """The Content-Length as an int, None when absent (chunked) or unusable."""
    if content_length is None or not content_length.strip().isdigit():
        return None
    return int(content_length)


# --- stored files -----------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    name: str
    size: int
    sha256: str
    modified_at: dt.datetime  # naive UTC: when the upload was completed

    def as_json(self) -> dict:
        return {"name": self.name, "size": self.size, "sha256": self.sha256,
                "modified_at": to_rfc3339(self.modified_at)}


class FileStore:
    """One directory of uploaded files, each with a hidden ``.<name>.sha256`` sidecar.

    ``max_bytes`` caps each file; ``min_free_bytes`` is the space every upload must
    leave free on the volume: a full flash would stop SQLite from committing, and
    with it every charger message (docs/decisions.md D4). ``volume_lock`` is held while
    an upload checks the floor and writes a chunk; stores on one volume share it.
    """

    def __init__(self, directory: Path, max_bytes: int, label: str = "file", *,
                 min_free_bytes: int = 0, volume_lock: threading.RLock | None = None):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.label = label
        self.min_free_bytes = min_free_bytes
        self.volume_lock = volume_lock or threading.RLock()

    def path(self, name: str) -> Path:
        """Where ``name`` lives (validated; the file may not exist)."""
        return self.directory / check_name(name)

    def existing_path(self, name: str) -> Path:
        path = self.path(name)
        if not path.is_file():
            raise errors.NotFound(f"no {self.label} named {name}")
        return path

    def info(self, name: str) -> StoredFile:
        return self._describe(self.existing_path(name))

    def list(self) -> list[StoredFile]:
        """All complete files, by name (temporary and sidecar files are hidden)."""
        try:
            entries = sorted(os.scandir(self.directory), key=lambda e: e.name)
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            try:
                found.append(self._describe(Path(entry.path)))
            except FileNotFoundError:  # deleted while we listed
                continue
        return found

    def delete(self, name: str) -> None:
        path = self.existing_path(name)
        path.unlink()
        checksums.sidecar(path).unlink(missing_ok=True)

    def open(self, name: str) -> BinaryIO:
        return open(self.existing_path(name), "rb")

    def begin(self, name: str, *, overwrite: bool = False, unique: bool = False,
              expected_size: int | None = None, quota: Quota | None = None) -> Upload:
        """Start receiving ``name``: checks the name, the limit and free space up front,
        so a client that announces its size learns of a refusal before it sends.

        ``unique``: never replace a file; a taken name becomes ``name-2``, ``name-3``...
        ``quota``: a further budget the bytes count against (diagnostics per charger).
        """
        path = self.path(name)
        if unique:
            path = self._free_name(path)
        elif not overwrite and path.exists():
            raise errors.Conflict(f"{self.label} {name} already exists (use overwrite=1)",
                                  field="name")
        if expected_size is not None and expected_size > self.max_bytes:
            raise too_large(self.max_bytes)
        if quota is not None:
            quota.reserve(expected_size or 0)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._purge_stale_parts()
        self.require_free_space(expected_size or 0)
        fd, temp = tempfile.mkstemp(prefix=_PART_PREFIX, suffix=_PART_SUFFIX, dir=self.directory)
        return Upload(self, path, Path(temp), os.fdopen(fd, "wb"), overwrite, unique, quota)

    def _free_name(self, path: Path) -> Path:
        """``path``, or the first of ``stem-2.ext``, ``stem-3.ext``... that does not exist."""
        stem, suffix = _split_name(path.name)
        candidate, n = path, 1
        while candidate.exists():
            n += 1
            candidate = path.with_name(check_name(f"{stem[:MAX_NAME_LENGTH - 12]}-{n}{suffix}"))
        return candidate

    def usage(self) -> int:
        """Bytes of the complete files here (temporary files and sidecars not counted)."""
        return sum(f.size for f in self.list())

    def require_free_space(self, more: int) -> None:
        """InsufficientStorage unless ``more`` bytes still leave ``min_free_bytes`` free."""
        free = shutil.disk_usage(self.directory).free
        if free - more < self.min_free_bytes:
            raise errors.InsufficientStorage(
                f"not enough free space on the box for this file ({free} bytes free, "
                f"{self.min_free_bytes} must stay free for the database)")

    def _describe(self, path: Path) -> StoredFile:
        st = path.stat()
        return StoredFile(name=path.name, size=st.st_size, sha256=checksums.sha256_of(path, st),
                          modified_at=_utc(st.st_mtime))

    def _purge_stale_parts(self) -> None:
        cutoff = time.time() - STALE_PART_SECONDS
        for entry in os.scandir(self.directory):
            if (entry.name.startswith(_PART_PREFIX) and entry.name.endswith(_PART_SUFFIX)
                    and entry.stat().st_mtime < cutoff):
                Path(entry.path).unlink(missing_ok=True)


def too_large(limit: int) -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(f"file is larger than the limit of {limit} bytes",
                                  limit_bytes=limit)


class Upload:
    """A file being received into a hidden temporary file next to its final place.

    ``write`` enforces the size limit and hashes as it goes; ``commit`` fsyncs,
    renames into place (``os.replace``, or a no-clobber link when overwriting is
    not allowed, so two uploads racing for one name cannot silently replace each
    other) and records the sha256. ``discard`` is safe to call at any time.
    """

    def __init__(self, store: FileStore, path: Path, temp: Path, file: BinaryIO,
                 overwrite: bool, unique: bool = False, quota: Quota | None = None):
        self.store, self.path, self.temp, self.overwrite = store, path, temp, overwrite
        self.unique, self.quota = unique, quota
        self._file = file
        self._hash = hashlib.sha256()
        self.received = 0
        self.done = False

    def write(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.store.max_bytes:
            raise too_large(self.store.max_bytes)
        # Before every chunk, and with the chunk written under the same lock: uploads on
        # the event loop and in the FTP thread (evedge/ftp/) then hold the free-space floor
        # and the quotas exactly, however many run at once. The loop waits at most for one
        # chunk another thread is writing.
        with self.store.volume_lock:
            if self.quota is not None:
                self.quota.grow(self.received)
            self.store.require_free_space(len(chunk))
            self._hash.update(chunk)
            self._file.write(chunk)

    def commit(self) -> tuple[StoredFile, bool]:
        """Publish the file; returns it and whether it is new (False: replaced one).

        Blocking (fsync): handlers run it in an executor.
        """
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            st = self.temp.stat()
            created = self._publish()
            _fsync_directory(self.path.parent)
        except BaseException:
            self.discard()
            raise
        self.done = True
        sha256 = self._hash.hexdigest()
        checksums.record(self.path, sha256, st)
        return StoredFile(self.path.name, st.st_size, sha256, _utc(st.st_mtime)), created

    def _publish(self) -> bool:
        while True:
            try:
                return _publish(self.temp, self.path, self.overwrite, self.store.label)
            except errors.Conflict:
                if not self.unique:
                    raise
                self.path = self.store._free_name(self.path)  # taken meanwhile: the next one

    def discard(self) -> None:
        """Drop the temporary file (after an error or a dropped connection)."""
        if self.quota is not None:
            self.quota.release()
        if self.done:
            return
        self.done = True
        self._file.close()
        self.temp.unlink(missing_ok=True)


def _split_name(name: str) -> tuple[str, str]:
    """("diag", ".tar.gz")-style split; a leading part without a dot keeps its extension."""
    stem, dot, rest = name.partition(".")
    return (stem, dot + rest) if stem else (name, "")


def _publish(temp: Path, path: Path, overwrite: bool, label: str) -> bool:
    if overwrite:
        existed = path.exists()
        os.replace(temp, path)
        return not existed
    try:
        os.link(temp, path)  # fails if the name exists: no window between check and rename
    except FileExistsError:
        raise errors.Conflict(f"{label} {path.name} already exists (use overwrite=1)",
                              field="name") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A filesystem without hard links (vfat on a USB stick): check, then rename.
        if path.exists():
            raise errors.Conflict(f"{label} {path.name} already exists (use overwrite=1)",
                                  field="name") from None
        os.replace(temp, path)
        return True
    temp.unlink()
    return True


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (a rename lives in the directory, not the file)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).replace(tzinfo=None)


# --- diagnostics, per charger -----------------------------------------------------------


@dataclass(frozen=True)
class DiagnosticsFile:
    charger_id: str
    file: StoredFile


class DiagnosticsStore:
    """``diagnostics/<charger_id>/``, one FileStore per charger, within two quotas: bytes
    per charger and bytes in all (settings diagnostics_quota_per_charger and
    diagnostics_quota_total), counting uploads still arriving."""

    def __init__(self, directory: Path, max_bytes: int, *, min_free_bytes: int = 0,
                 quota_per_charger: int = 0, quota_total: int = 0,
                 volume_lock: threading.RLock | None = None):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.min_free_bytes = min_free_bytes
        self.quota_per_charger = quota_per_charger
        self.quota_total = quota_total
        # Guards the two below and the writes of uploads (HTTP on the loop, FTP in its thread).
        self.lock = volume_lock or threading.RLock()
        self._arriving: dict[str, int] = {}  # charger id -> bytes of uploads in progress
        self._claimed: set[str] = set()  # upload grants with an upload in progress

    def claim(self, grant: str) -> bool:
        """Take a grant for one upload; False while another upload holds it."""
        with self.lock:
            if grant in self._claimed:
                return False
            self._claimed.add(grant)
            return True

    def unclaim(self, grant: str) -> None:
        with self.lock:
            self._claimed.discard(grant)

    def for_charger(self, charger_id: str, field: str = "charger_id") -> FileStore:
        """The files of one charger; BadRequest naming ``field`` when its directory name
        would be longer than a filesystem takes (ENAMETOOLONG, a 500 before): ids of
        more than 127 bytes in UTF-8 that are not safe names (see ``_charger_dir``)."""
        name = _charger_dir(charger_id)
        if len(name.encode("utf-8")) > MAX_DIRECTORY_NAME:
            raise errors.BadRequest(f"{field} is too long to keep diagnostics under "
                                    f"({len(charger_id.encode('utf-8'))} bytes in UTF-8)",
                                    field=field)
        return FileStore(self.directory / name, self.max_bytes, "diagnostics file",
                         min_free_bytes=self.min_free_bytes, volume_lock=self.lock)

    def quota(self, charger_id: str) -> Quota:
        """The budget one upload from ``charger_id`` counts against."""
        return Quota(self, charger_id, self.for_charger(charger_id).usage(), self.usage())

    def usage(self) -> int:
        return sum(d.file.size for d in self.list())

    def list(self, charger_id: str | None = None) -> list[DiagnosticsFile]:
        """Newest first, for one charger or all of them (``charger_id`` is the ``charger``
        filter of the listing)."""
        if charger_id is not None:
            self.for_charger(charger_id, "charger")   # a name the filesystem holds
            chargers = [charger_id]
        else:
            try:
                chargers = [_charger_from_dir(e.name) for e in os.scandir(self.directory)
                            if e.is_dir(follow_symlinks=False)]
            except FileNotFoundError:
                chargers = []
        found = [DiagnosticsFile(cid, f) for cid in chargers if cid is not None
                 for f in self.for_charger(cid).list()]
        return sorted(found, key=lambda d: (d.file.modified_at, d.charger_id, d.file.name),
                      reverse=True)


class Quota:
    """One upload's share of the diagnostics quotas (set up by ``DiagnosticsStore.quota``)."""

    def __init__(self, store: DiagnosticsStore, charger_id: str, charger_used: int,
                 total_used: int):
        self.store, self.charger_id = store, charger_id
        self._charger_used, self._total_used = charger_used, total_used
        self._counted = 0

    def reserve(self, size: int) -> None:
        """Refuse an upload whose announced size would not fit (before it is sent)."""
        with self.store.lock:
            self._check(size)

    def grow(self, received: int) -> None:
        """The upload has received ``received`` bytes so far."""
        with self.store.lock:
            arriving = self.store._arriving
            arriving[self.charger_id] = (arriving.get(self.charger_id, 0) + received
                                         - self._counted)
            self._counted = received
            self._check(0)

    def release(self) -> None:
        with self.store.lock:
            arriving = self.store._arriving
            left = arriving.get(self.charger_id, 0) - self._counted
            if left > 0:
                arriving[self.charger_id] = left
            else:
                arriving.pop(self.charger_id, None)
            self._counted = 0

    def _check(self, more: int) -> None:
        store = self.store
        mine = self._charger_used + store._arriving.get(self.charger_id, 0) + more
        everyone = self._total_used + sum(store._arriving.values()) + more
        if store.quota_per_charger and mine > store.quota_per_charger:
            raise errors.InsufficientStorage(
                f"diagnostics quota of charger {self.charger_id} reached "
                f"({store.quota_per_charger} bytes; delete old files)")
        if store.quota_total and everyone > store.quota_total:
            raise errors.InsufficientStorage(
                f"diagnostics quota of the box reached ({store.quota_total} bytes)")


def _charger_dir(charger_id: str) -> str:
    """The directory of a charger: its id when that is a safe name, else ``%`` + hex.

    Charger ids come from the OCPP URL and may hold anything (``..`` included),
    so they are never used as a path as they are. ``%`` cannot start a safe name,
    so the two forms never collide.
    """
    try:
        return check_name(charger_id)
    except errors.BadRequest:
        return "%" + charger_id.encode("utf-8").hex()


def _charger_from_dir(name: str) -> str | None:
    if not name.startswith("%"):
        return name if _NAME_CHARS.fullmatch(name) and not name.startswith(".") else None
    try:
        return bytes.fromhex(name[1:]).decode("utf-8")
    except ValueError:
        return None
