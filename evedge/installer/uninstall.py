"""``evedge uninstall``: the units and the binary go; the data and the config stay unless
``--purge`` (confirmed, or ``--yes``). Archives in the backup directory always stay."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from ..prompts import confirm
from .install import installed_backups, refuse_over_package
from .layout import (BACKUP_CACHE_DIR, BACKUP_SERVICE, BACKUP_TIMER, CACHE_DIR, CONFIG_DIR,
                     DATA_DIR, SERVICE, InstallError, Layout, Say)


@dataclass(frozen=True)
class UninstallOptions:
    layout: Layout
    purge: bool = False
    yes: bool = False


def _remove(layout: Layout, target: str, say: Say) -> None:
    path = layout.staged(target)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    else:
        say(f"{target}: not there")
        return
    say(f"{target}: removed")


def uninstall(options: UninstallOptions, machine, say: Say) -> None:
    layout = options.layout
    refuse_over_package(layout)
    machine.preflight()
    purge_asked = options.purge and (options.yes or confirm(
        f"Delete {DATA_DIR} (the database, the JWT secret, firmware and diagnostics files) "
        f"and {CONFIG_DIR}? Type yes: "))
    if options.purge and not purge_asked:
        raise InstallError("--purge deletes the data and the config: answer yes, or add --yes "
                           "(nothing was changed)")
    if not machine.live:
        say(f"staging root {layout.root}: nothing outside it is changed")
    backups = installed_backups(layout)
    present = [name for name in (BACKUP_TIMER, BACKUP_SERVICE, SERVICE)
               if layout.staged(layout.unit(name)).exists()]
    if present:
        machine.systemctl("disable", "--now", *present)
    for name in (BACKUP_TIMER, BACKUP_SERVICE, SERVICE):
        _remove(layout, layout.unit(name), say)
    machine.systemctl("daemon-reload")
    _remove(layout, layout.binary, say)
    _remove(layout, CACHE_DIR, say)
    _remove(layout, BACKUP_CACHE_DIR, say)
    if purge_asked:
        _remove(layout, DATA_DIR, say)
        _remove(layout, CONFIG_DIR, say)
        machine.remove_user()
    else:
        say(f"{DATA_DIR}/ and {CONFIG_DIR}/: kept (evedge uninstall --purge deletes them)")
    if backups:
        say(f"{backups}/: kept (the archives are never deleted here)")
