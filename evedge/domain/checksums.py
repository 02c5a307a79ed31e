"""sha256 sidecars: a stored file's checksum, computed once and kept next to it.

The checksum is computed while an upload streams in and written to a hidden
``.<name>.sha256`` file. The sidecar records the size and mtime of the file it
describes, so a sidecar left stale by a power cut between the rename and the
sidecar write (or by someone copying files in by hand) is noticed and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024


def sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.sha256")


def sha256_of(path: Path, st: os.stat_result) -> str:
    """The recorded sha256 of ``path`` when its sidecar matches ``st``, else computed anew."""
    try:
        recorded = json.loads(sidecar(path).read_text())
        if recorded["size"] == st.st_size and recorded["mtime_ns"] == st.st_mtime_ns:
            return recorded["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    record(path, digest.hexdigest(), st)
    return digest.hexdigest()


def record(path: Path, sha256: str, st: os.stat_result) -> None:
    """Best effort, atomic, without fsync: a missing or stale sidecar is only recomputed."""
    target = sidecar(path)
    temp = None
    try:
        fd, temp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as fh:
            json.dump({"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}, fh)
        os.replace(temp, target)
    except OSError as exc:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        log.warning("could not record the sha256 of %s: %s", path, exc)
