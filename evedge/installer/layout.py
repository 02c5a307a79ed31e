"""Every path the installer writes, on the target system and under a staging root."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

Say = Callable[[str], None]  # prints one line of what the installer does

USER = "evedge"
DATA_DIR = "/var/lib/evedge"
# The one-file binary unpacks itself here at every start (units.py says why not /tmp).
CACHE_DIR = "/var/cache/evedge"
BACKUP_CACHE_DIR = "/var/cache/evedge-backup"
CONFIG_DIR = "/etc/evedge"
CONFIG_FILE = CONFIG_DIR + "/evedge.toml"
ENV_FILE = CONFIG_DIR + "/evedge.env"
DEFAULT_PREFIX = "/usr/local"
LOCAL_UNIT_DIR = "/etc/systemd/system"
PACKAGE_UNIT_DIR = "/lib/systemd/system"  # Debian policy: a package's units go here
SERVICE = "evedge.service"
BACKUP_SERVICE = "evedge-backup.service"
BACKUP_TIMER = "evedge-backup.timer"
DPKG_LIST = "/var/lib/dpkg/info/evedge.list"

# Paths go into unit files unquoted: no spaces (word splitting), no % (specifiers), no $
# (variables), no quotes or backslashes (escapes).
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._+/-]*")


class InstallError(Exception):
    """A reason the installer stops; the message is one line, naming the option or path."""


def checked_path(option: str, value: str) -> str:
    """``value`` normalised, or an InstallError naming ``option``."""
    if not _SAFE_PATH.fullmatch(value) or ".." in value.split("/"):
        raise InstallError(f"{option}: {value!r} must be an absolute path of letters, digits "
                           "and . _ + - / (it is written into systemd units)")
    return os.path.normpath(value)


@dataclass(frozen=True)
class Layout:
    """Where things go. Paths are the target system's; ``staged`` puts them under root."""

    root: Path = Path("/")
    prefix: str = DEFAULT_PREFIX
    unit_dir: str = LOCAL_UNIT_DIR
    backups: str | None = None

    @property
    def live(self) -> bool:
        return os.path.realpath(self.root) == "/"

    @property
    def binary(self) -> str:
        return f"{self.prefix}/bin/evedge"

    def unit(self, name: str) -> str:
        return f"{self.unit_dir}/{name}"

    def staged(self, path: str) -> Path:
        return Path(self.root) / path.lstrip("/")
