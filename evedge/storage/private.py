"""The data directory and its files are evedge's alone: the database holds password hashes and
every charger's history, the secret signs every token (README "Deploying on the box").

What evedge creates is created private (0700 directories, 0600 files) whatever the umask of
whoever started it (`make run` in a shell with umask 022); what exists already is left as the
administrator made it, and named at start-up if others can read it (insecure.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def private_directory(path: Path) -> Path:
    """``path`` and its missing parents created with mode 0700."""
    path = Path(path)
    missing = []
    for parent in (path, *path.parents):
        if parent.exists():
            break
        missing.append(parent)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for created in missing:  # mkdir's mode is filtered by the umask
        os.chmod(created, 0o700)
    return path


def private_file(path: Path) -> Path:
    """``path`` created empty with mode 0600 if it does not exist (SQLite then gives its
    -wal and -shm files the same mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    return Path(path)


def readable_by_others(path: Path) -> bool:
    """Whether users other than the owner can read or enter ``path``."""
    try:
        return bool(os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except FileNotFoundError:
        return False
