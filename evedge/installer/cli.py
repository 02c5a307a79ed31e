"""``evedge install`` and ``evedge uninstall`` on the command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .layout import DEFAULT_PREFIX, InstallError, Layout, checked_path
from .machine import LiveMachine, StagingMachine


def add_parsers(commands) -> None:
    install = commands.add_parser(
        "install", help="Install evedge as a systemd service (root): the user, the binary, "
        "the units, /var/lib/evedge, /etc/evedge and the first admin.")
    _common(install)
    install.add_argument("--backups", metavar="DIR",
                         help="Also install the nightly backup timer, archiving into DIR.")
    install.add_argument("--admin-user", metavar="NAME",
                         help="User name of the first admin (else asked); its password is "
                         "asked twice, or read from stdin when that is not a terminal.")
    install.add_argument("--binary", metavar="FILE",
                         help="Install this evedge executable instead of the running one.")
    uninstall = commands.add_parser(
        "uninstall", help="Remove the service and the binary; keeps the data and the config "
        "unless --purge.")
    _common(uninstall)
    uninstall.add_argument("--purge", action="store_true",
                           help="Also delete /var/lib/evedge, /etc/evedge and the user.")
    uninstall.add_argument("--yes", action="store_true", help="Do not ask before --purge.")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prefix", default=DEFAULT_PREFIX,
                        help=f"The binary goes to PREFIX/bin/evedge (default {DEFAULT_PREFIX}).")
    parser.add_argument("--root", metavar="DIR",
                        help="Install into this staging root instead (tests, packages): no "
                        "user is created and systemctl is not run, only named.")


def _layout(args: argparse.Namespace) -> Layout:
    prefix = checked_path("--prefix", args.prefix)
    backups = getattr(args, "backups", None)
    if backups is not None:
        backups = checked_path("--backups", backups.rstrip("/") or "/")
        if backups == "/":
            raise InstallError("--backups: not the root directory")
    root = Path(args.root).resolve() if args.root else Path("/")
    layout = Layout(root=root, prefix=prefix, backups=backups)
    if layout.live and os.geteuid() != 0:
        raise InstallError(f"{args.command} changes the system and must run as root "
                           f"(sudo evedge {args.command}); --root DIR stages the files without "
                           "root")
    if not layout.live:
        root.mkdir(parents=True, exist_ok=True)
    return layout


def _say(line: str) -> None:
    print(line, flush=True)


def run(args: argparse.Namespace) -> int:
    from .install import InstallOptions, install
    from .uninstall import UninstallOptions, uninstall
    try:
        layout = _layout(args)
        machine = LiveMachine(_say) if layout.live else StagingMachine(_say)
        if args.command == "install":
            install(InstallOptions(layout, args.binary, args.admin_user), machine, _say)
        else:
            uninstall(UninstallOptions(layout, args.purge, args.yes), machine, _say)
    except InstallError as exc:
        print(f"evedge {args.command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"evedge {args.command}: {exc.filename or ''}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    print(f"evedge {args.command}: done", flush=True)
    return 0
