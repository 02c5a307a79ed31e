"""``evedge install``: the user, the directories, the binary, the units, the config and
the first admin, then the service enabled and started. Idempotent: run again, it
upgrades the binary and the units and keeps the data and the config."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from . import units
from .admin import ensure_first_admin
from .files import copy_file, ensure_dir, give_tree, write_file
from .layout import (BACKUP_SERVICE, BACKUP_TIMER, CACHE_DIR, CONFIG_DIR, CONFIG_FILE,
                     DATA_DIR, DPKG_LIST, LOCAL_UNIT_DIR, SERVICE, USER, InstallError,
                     Layout, Say)
from .settings_file import hardened_settings


@dataclass(frozen=True)
class InstallOptions:
    layout: Layout
    binary: str | None = None  # default: the running executable
    admin_user: str | None = None


@dataclass(frozen=True)
class Executable:
    """What becomes ``<prefix>/bin/evedge``: a file to copy, or a launcher script."""

    path: Path | None = None
    script: bytes | None = None
    describe: str = ""


def executable(binary: str | None) -> Executable:
    """The one-file binary running now, ``--binary``'s file, or (run from source) a launcher
    for this interpreter and this source tree."""
    if binary is not None:
        path = Path(binary)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise InstallError(f"--binary: {binary} is not an executable file")
        return Executable(path=path.resolve(), describe=f"from {binary}")
    if getattr(sys, "frozen", False):
        return Executable(path=Path(sys.executable).resolve(), describe="the running binary")
    source_tree = Path(__file__).resolve().parents[2]
    script = ("#!/bin/sh\n# evedge from its source tree, not a one-file binary "
              "(written by `evedge install`).\n"
              f"PYTHONPATH={shlex.quote(str(source_tree))} exec "
              f"{shlex.quote(sys.executable)} -P -m evedge \"$@\"\n")
    return Executable(script=script.encode(),
                      describe=f"a launcher for {sys.executable} -m evedge from {source_tree}")


def refuse_over_package(layout: Layout) -> None:
    if layout.unit_dir == LOCAL_UNIT_DIR and layout.staged(DPKG_LIST).exists():
        raise InstallError("evedge is installed from its Debian package here: upgrade or "
                           "remove it with apt (apt install ./evedge_*.deb, apt remove evedge)")


def installed_backups(layout: Layout) -> str | None:
    """The archive directory an earlier install wrote into the backup unit, if any."""
    try:
        text = layout.staged(layout.unit(BACKUP_SERVICE)).read_text()
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        if line.startswith("RequiresMountsFor="):
            return line.partition("=")[2].strip() or None
    return None


class Installer:
    """The steps, in order; each prints what it did."""

    def __init__(self, options: InstallOptions, machine, say: Say):
        self.options, self.layout, self.machine, self.say = options, options.layout, machine, say
        self.owner = self.group = None

    def _label(self, owner_name: str) -> str:
        return owner_name if self.machine.live else f"{owner_name} when installed live"

    def directory(self, target: str, mode: int, owner, owner_name: str) -> None:
        outcome = ensure_dir(self.layout.staged(target), mode, owner)
        self.say(f"{target}/: {outcome} (mode {mode:04o}, {self._label(owner_name)})")

    def config(self) -> None:
        path = self.layout.staged(CONFIG_FILE)
        if path.exists():
            self.say(f"{CONFIG_FILE}: kept as it is (an existing config is never overwritten)")
            return
        write_file(path, hardened_settings().encode(), 0o640, self.group)
        self.say(f"{CONFIG_FILE}: written with the hardened defaults (mode 0640, "
                 f"{self._label('root:' + USER)})")

    def binary(self, source: Executable) -> None:
        target = self.layout.staged(self.layout.binary)
        ensure_dir(target.parent, 0o755)
        if source.path is not None:
            outcome = copy_file(source.path, target, 0o755)
        else:
            outcome = write_file(target, source.script, 0o755)
        self.say(f"{self.layout.binary}: {outcome} ({source.describe})")

    def units(self) -> list[str]:
        layout = self.layout
        backups = layout.backups or installed_backups(layout)
        wanted = {SERVICE: units.service_unit(layout.binary)}
        if backups:
            wanted[BACKUP_SERVICE] = units.backup_service_unit(layout.binary, backups)
            wanted[BACKUP_TIMER] = units.backup_timer_unit()
        ensure_dir(layout.staged(layout.unit_dir), 0o755)
        for name, text in wanted.items():
            outcome = write_file(layout.staged(layout.unit(name)), text.encode(), 0o644)
            self.say(f"{layout.unit(name)}: {outcome}")
        if backups:
            self.directory(backups, 0o700, self.owner, f"{USER}:{USER}")
        return [SERVICE] + ([BACKUP_TIMER] if backups else [])

    def first_admin(self) -> None:
        if self.machine.live or self.options.admin_user is not None:
            ensure_first_admin(self.layout, self.options.admin_user, self.say)
        else:
            self.say("first admin: not created (staging root without --admin-user; create "
                     "one with `evedge createuser` before enabling the service)")

    def data_to_owner(self) -> None:
        if self.owner is None:
            self.say(f"{DATA_DIR}/: would be given to {USER}:{USER}")
            return
        changed = give_tree(self.layout.staged(DATA_DIR), self.owner)
        self.say(f"{DATA_DIR}/: everything in it belongs to {USER}:{USER}"
                 + (f" ({changed} entries given back)" if changed else ""))

    def run(self) -> None:
        refuse_over_package(self.layout)
        self.machine.preflight()
        source = executable(self.options.binary)
        if not self.machine.live:
            self.say(f"staging root {self.layout.root}: nothing outside it is changed")
        if self.machine.is_active(SERVICE):
            self.machine.systemctl("stop", SERVICE)  # started again below, upgraded
        self.owner = self.machine.ensure_user()
        self.group = (0, self.owner[1]) if self.owner else None
        self.directory(DATA_DIR, 0o700, self.owner, f"{USER}:{USER}")
        self.directory(CACHE_DIR, 0o700, self.owner, f"{USER}:{USER}")
        self.directory(CONFIG_DIR, 0o750, self.group, f"root:{USER}")
        self.config()
        self.binary(source)
        enable = self.units()
        self.first_admin()  # before the service is enabled: never reachable without one
        self.data_to_owner()
        self.machine.systemctl("daemon-reload")
        self.machine.systemctl("enable", "--now", *enable)
        if self.machine.live:
            self.say("evedge is enabled and started: systemctl status evedge, journalctl -u evedge")


def install(options: InstallOptions, machine, say: Say) -> None:
    Installer(options, machine, say).run()
