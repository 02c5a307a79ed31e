"""Files and directories written whole, with their mode and owner, and what was done.

A file is written to a hidden temporary one in the same directory, fsynced and renamed
into place: a power cut leaves the old or the new one, and a running binary being
replaced keeps its own (renamed-over) inode.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

Owner = tuple[int, int]


def _owned(path: Path, mode: int, owner: Owner | None) -> None:
    os.chmod(path, mode)
    if owner is not None:
        os.lchown(path, *owner)


def ensure_dir(path: Path, mode: int, owner: Owner | None = None) -> str:
    """Create ``path`` (parents 0755) or fix its mode and owner; 'created' or 'exists'."""
    existed = path.is_dir()
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
    _owned(path, mode, owner)
    return "exists" if existed else "created"


def _digest(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def _publish(path: Path, write, mode: int, owner: Owner | None) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        _owned(Path(temp), mode, owner)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_file(path: Path, content: bytes, mode: int, owner: Owner | None = None) -> str:
    """Write ``content`` unless it is there already: 'written', 'updated' or 'unchanged'."""
    before = _digest(path)
    if before == hashlib.sha256(content).hexdigest():
        _owned(path, mode, owner)
        return "unchanged"
    _publish(path, lambda fh: fh.write(content), mode, owner)
    return "written" if before is None else "updated"


def copy_file(source: Path, path: Path, mode: int, owner: Owner | None = None) -> str:
    """Copy ``source`` to ``path``: 'installed', 'upgraded' or 'unchanged'."""
    if path.exists() and os.path.samefile(source, path):
        return "unchanged (it is the running one)"
    before = _digest(path)
    if before is not None and before == _digest(source):
        _owned(path, mode, owner)
        return "unchanged"

    def copy(fh) -> None:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, fh, 1024 * 1024)
    _publish(path, copy, mode, owner)
    return "installed" if before is None else "upgraded"


def give_tree(path: Path, owner: Owner) -> int:
    """Make everything under ``path`` belong to ``owner`` (files root created there, e.g.
    by an earlier `sudo evedge createuser`); the number of entries changed."""
    entries = [str(path)]
    for parent, dirs, names in os.walk(path):  # does not follow links
        entries += [os.path.join(parent, name) for name in dirs + names]
    changed = 0
    for entry in entries:
        status = os.lstat(entry)
        if (status.st_uid, status.st_gid) != owner:
            os.lchown(entry, *owner)
            changed += 1
    return changed
