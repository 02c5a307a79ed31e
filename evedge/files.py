"""Firmware and diagnostics files kept on the box: safe names, atomic writes, size limits.

An offline site has no other server, so the box itself serves firmware for
UpdateFirmware and receives the uploads GetDiagnostics asks for. Files live in
``data_dir/firmware/`` and ``data_dir/diagnostics/<charger_id>/``. Bytes come in
through an :class:`Upload` (a hidden temporary file, published by rename only
once complete and fsynced, so a power cut never leaves half a file under the
real name); :class:`MultipartReader` streams ``multipart/form-data`` bodies into
one. No Tornado here: handlers feed chunks and get :class:`StoredFile` records.
Nothing in this module touches the database, so every function may run in an
executor thread.
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.utils
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from . import errors
from .timeutil import to_rfc3339, utcnow

log = logging.getLogger(__name__)

# Limits. Module constants (not settings yet); tests lower them with monkeypatch, and
# every store reads them when it is built, so a change applies to the next request.
MAX_FIRMWARE_BYTES = 256 * 1024 * 1024
MAX_DIAGNOSTICS_BYTES = 64 * 1024 * 1024
# Free space an upload must leave on the data volume: a full flash would stop SQLite
# from committing, and with it every charger message (architecture.md §5).
MIN_FREE_BYTES = 64 * 1024 * 1024
# What a multipart body may carry beyond the file itself (boundaries, part headers, fields).
MULTIPART_OVERHEAD = 1024 * 1024
MAX_NAME_LENGTH = 128
# Temporary files older than this are left over from a power cut or a dropped
# connection; no upload over the site network takes a day.
STALE_PART_SECONDS = 24 * 3600

_CHUNK = 1024 * 1024
_SPACE_CHECK_EVERY = 8 * 1024 * 1024
_PART_PREFIX, _PART_SUFFIX = ".upload-", ".part"
_NAME_CHARS = re.compile(r"[A-Za-z0-9._+-]+")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._+-]")


class TooLarge(errors.EvedgeError):
    status = 413


class InsufficientStorage(errors.EvedgeError):
    status = 507


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
    """One directory of uploaded files, each with a hidden ``.<name>.sha256`` sidecar."""

    def __init__(self, directory: Path, max_bytes: int, label: str = "file"):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.label = label

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
        _sidecar(path).unlink(missing_ok=True)

    def open(self, name: str) -> BinaryIO:
        return open(self.existing_path(name), "rb")

    def begin(self, name: str, *, overwrite: bool = False,
              expected_size: int | None = None) -> Upload:
        """Start receiving ``name``: checks the name, the limit and free space up front,
        so a client that announces its size learns of a refusal before it sends."""
        path = self.path(name)
        if not overwrite and path.exists():
            raise errors.Conflict(f"{self.label} {name} already exists (use overwrite=1)",
                                  field="name")
        if expected_size is not None and expected_size > self.max_bytes:
            raise too_large(self.max_bytes)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._purge_stale_parts()
        _require_free_space(self.directory, expected_size or 0)
        fd, temp = tempfile.mkstemp(prefix=_PART_PREFIX, suffix=_PART_SUFFIX, dir=self.directory)
        return Upload(self, path, Path(temp), os.fdopen(fd, "wb"), overwrite)

    def _describe(self, path: Path) -> StoredFile:
        st = path.stat()
        return StoredFile(name=path.name, size=st.st_size, sha256=_sha256_of(path, st),
                          modified_at=_utc(st.st_mtime))

    def _purge_stale_parts(self) -> None:
        cutoff = time.time() - STALE_PART_SECONDS
        for entry in os.scandir(self.directory):
            if (entry.name.startswith(_PART_PREFIX) and entry.name.endswith(_PART_SUFFIX)
                    and entry.stat().st_mtime < cutoff):
                Path(entry.path).unlink(missing_ok=True)


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"file is larger than the limit of {limit} bytes", limit_bytes=limit)


class Upload:
    """A file being received into a hidden temporary file next to its final place.

    ``write`` enforces the size limit and hashes as it goes; ``commit`` fsyncs,
    renames into place (``os.replace``, or a no-clobber link when overwriting is
    not allowed, so two uploads racing for one name cannot silently replace each
    other) and records the sha256. ``discard`` is safe to call at any time.
    """

    def __init__(self, store: FileStore, path: Path, temp: Path, file: BinaryIO,
                 overwrite: bool):
        self.store, self.path, self.temp, self.overwrite = store, path, temp, overwrite
        self._file = file
        self._hash = hashlib.sha256()
        self.received = 0
        self._next_space_check = _SPACE_CHECK_EVERY
        self.done = False

    def write(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.store.max_bytes:
            raise too_large(self.store.max_bytes)
        if self.received >= self._next_space_check:  # for chunked bodies of unknown size
            self._next_space_check += _SPACE_CHECK_EVERY
            _require_free_space(self.store.directory, 0)
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
            created = _publish(self.temp, self.path, self.overwrite, self.store.label)
            _fsync_directory(self.path.parent)
        except BaseException:
            self.discard()
            raise
        self.done = True
        sha256 = self._hash.hexdigest()
        _write_sidecar(self.path, sha256, st)
        return StoredFile(self.path.name, st.st_size, sha256, _utc(st.st_mtime)), created

    def discard(self) -> None:
        """Drop the temporary file (after an error or a dropped connection)."""
        if self.done:
            return
        self.done = True
        self._file.close()
        self.temp.unlink(missing_ok=True)


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


def _require_free_space(directory: Path, more: int) -> None:
    free = shutil.disk_usage(directory).free
    if free - more < MIN_FREE_BYTES:
        raise InsufficientStorage(
            f"not enough free space on the box for this file ({free} bytes free, "
            f"{MIN_FREE_BYTES} must stay free for the database)")


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).replace(tzinfo=None)


# --- sha256 sidecars ----------------------------------------------------------------------
# Computed once while the upload streams in. The sidecar records the size and mtime of
# the file it describes, so a sidecar left stale by a power cut between the rename and
# the sidecar write (or by someone copying files in by hand) is noticed and recomputed.


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.sha256")


def _sha256_of(path: Path, st: os.stat_result) -> str:
    try:
        recorded = json.loads(_sidecar(path).read_text())
        if recorded["size"] == st.st_size and recorded["mtime_ns"] == st.st_mtime_ns:
            return recorded["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    _write_sidecar(path, digest.hexdigest(), st)
    return digest.hexdigest()


def _write_sidecar(path: Path, sha256: str, st: os.stat_result) -> None:
    """Best effort, atomic, without fsync: a missing or stale sidecar is only recomputed."""
    sidecar = _sidecar(path)
    temp = None
    try:
        fd, temp = tempfile.mkstemp(prefix=sidecar.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as fh:
            json.dump({"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}, fh)
        os.replace(temp, sidecar)
    except OSError as exc:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        log.warning("could not record the sha256 of %s: %s", path, exc)


# --- the two stores ---------------------------------------------------------------------


def firmware_store(data_dir: Path) -> FileStore:
    return FileStore(Path(data_dir) / "firmware", MAX_FIRMWARE_BYTES, "firmware file")


@dataclass(frozen=True)
class DiagnosticsFile:
    charger_id: str
    file: StoredFile


class DiagnosticsStore:
    """``diagnostics/<charger_id>/``, one FileStore per charger."""

    def __init__(self, directory: Path, max_bytes: int):
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def for_charger(self, charger_id: str) -> FileStore:
        return FileStore(self.directory / _charger_dir(charger_id), self.max_bytes,
                         "diagnostics file")

    def list(self, charger_id: str | None = None) -> list[DiagnosticsFile]:
        """Newest first, for one charger or all of them."""
        if charger_id is not None:
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


def diagnostics_store(data_dir: Path) -> DiagnosticsStore:
    return DiagnosticsStore(Path(data_dir) / "diagnostics", MAX_DIAGNOSTICS_BYTES)


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


# --- multipart/form-data, streamed --------------------------------------------------------


def multipart_boundary(content_type: str) -> str | None:
    """The boundary of a ``multipart/form-data`` Content-Type; None for any other type."""
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_type() != "multipart/form-data":
        return None
    boundary = message.get_boundary()
    if not boundary or len(boundary) > 70:  # RFC 2046 §5.1.1
        raise errors.BadRequest("multipart/form-data without a valid boundary", field="file")
    return boundary


class MultipartReader:
    """Streams a ``multipart/form-data`` body into an upload, never holding it in memory.

    ``feed`` takes chunks as they arrive. The first part named ``file``, or else
    the first part carrying a filename, goes to ``open_file(filename)``, which
    returns the :class:`Upload` to write to; every other part is skipped. Only a
    delimiter's length of bytes is kept back between chunks, so a boundary split
    across chunks is still found.
    """

    MAX_HEADER_BYTES = 16 * 1024

    def __init__(self, boundary: str, open_file: Callable[[str | None], Upload]):
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        # A leading CRLF makes the first boundary look like all the others.
        self._buffer = bytearray(b"\r\n")
        self._state = self._preamble
        self._open_file = open_file
        self._sink: Upload | None = None
        self.upload: Upload | None = None

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        while self._state():
            pass

    def close(self) -> Upload:
        """The body has ended: it must have been complete and carried a file."""
        if self._state != self._epilogue:
            raise errors.BadRequest("multipart body ended before its closing boundary",
                                    field="file")
        if self.upload is None:
            raise errors.BadRequest("the form has no file part (field 'file')", field="file")
        return self.upload

    # Each state consumes what it can and returns True when another step may progress.

    def _preamble(self) -> bool:
        index = self._buffer.find(self._delimiter)
        if index < 0:
            del self._buffer[:-len(self._delimiter)]
            return False
        del self._buffer[:index + len(self._delimiter)]
        self._state = self._after_delimiter
        return True

    def _after_delimiter(self) -> bool:
        if self._buffer[:2] == b"--":
            self._state = self._epilogue
            return True
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > 256:
                raise errors.BadRequest("malformed multipart boundary line", field="file")
            return False
        if self._buffer[:end].strip(b" \t"):  # only transport padding may follow a boundary
            raise errors.BadRequest("malformed multipart boundary line", field="file")
        del self._buffer[:end + 2]
        self._state = self._headers
        return True

    def _headers(self) -> bool:
        end = 0 if self._buffer[:2] == b"\r\n" else self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > self.MAX_HEADER_BYTES:
                raise errors.BadRequest("multipart part headers are too long", field="file")
            return False
        headers = bytes(self._buffer[:end])
        del self._buffer[:end + (2 if end == 0 else 4)]
        self._sink = self._start_part(headers)
        self._state = self._body
        return True

    def _body(self) -> bool:
        index = self._buffer.find(self._delimiter)
        if index < 0:
            keep = len(self._delimiter) - 1
            if len(self._buffer) > keep:
                self._emit(bytes(self._buffer[:-keep]))
                del self._buffer[:-keep]
            return False
        self._emit(bytes(self._buffer[:index]))
        del self._buffer[:index + len(self._delimiter)]
        self._sink = None
        self._state = self._after_delimiter
        return True

    def _epilogue(self) -> bool:
        self._buffer.clear()
        return False

    def _emit(self, data: bytes) -> None:
        if self._sink is not None and data:
            self._sink.write(data)

    def _start_part(self, raw_headers: bytes) -> Upload | None:
        field, filename = _content_disposition(raw_headers)
        if self.upload is not None or (field != "file" and filename is None):
            return None
        self.upload = self._open_file(filename)
        return self.upload


def _content_disposition(raw_headers: bytes) -> tuple[str | None, str | None]:
    """(field name, filename) of a part; filename None when the part is not a file."""
    message = email.message.Message()
    for line in raw_headers.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == "content-disposition":
            message["content-disposition"] = value.strip()
    field = message.get_param("name", header="content-disposition")
    if isinstance(field, tuple):  # RFC 2231 form
        field = email.utils.collapse_rfc2231_value(field)
    return field, message.get_filename()
