"""Command line: ``evedge serve | createuser | simulate | selftest | backup | restore |
install | uninstall`` (also ``python -m evedge``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from . import __version__
from .config import ConfigError, add_arguments, load_config
from .prompts import read_new_password


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evedge", description="OCPP 1.6J Central System.")
    parser.add_argument("--version", action="version", version=f"evedge {__version__}")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="Run the server (the default).")
    add_arguments(serve)
    create = commands.add_parser("createuser", help="Create a user account.")
    add_arguments(create)
    create.add_argument("--username", required=True)
    create.add_argument("--password", help="Leaves the password in `ps` and the shell history; "
                        "without it, it is asked for (twice) or read from stdin.")
    create.add_argument("--role", default="admin", choices=("admin", "operator", "viewer"))
    commands.add_parser("simulate", help="Run simulated chargers (see simulator.py --help).",
                        add_help=False)
    commands.add_parser("selftest", help="Check the installation (schemas, templates) and exit.")
    backup = commands.add_parser(
        "backup", help="Archive the database (consistently, while the server runs), the JWT "
        "secret and the firmware files (see README 'Backup and restore').")
    add_arguments(backup)
    backup.add_argument("dest", metavar="DEST",
                        help="Archive file (.tar.gz, .tgz or .tar) or a directory, where "
                        "evedge-backup-YYYYmmddTHHMMSSZ.tar.gz is made.")
    backup.add_argument("--with-diagnostics", action="store_true",
                        help="Include the diagnostics files chargers uploaded.")
    backup.add_argument("--files-only", action="store_true",
                        help="Only the secret and the files, no database (PostgreSQL).")
    backup.add_argument("--keep", type=int, metavar="N",
                        help="Then delete all but the newest N evedge-backup-*.tar.gz there.")
    restore = commands.add_parser(
        "restore", help="Restore an archive made by 'evedge backup' into data_dir (server "
        "stopped).")
    add_arguments(restore)
    restore.add_argument("archive", metavar="ARCHIVE", help="A .tar.gz or .tar from evedge backup.")
    restore.add_argument("--force", action="store_true",
                         help="Restore into a non-empty data_dir, moving its contents aside "
                         "to data_dir/.replaced-<timestamp>/.")
    from .installer.cli import add_parsers
    add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate"]:
        import simulator
        return simulator.main(argv[1:])
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "serve")
    args = _parser().parse_args(argv)
    if args.command == "selftest":
        return _selftest()
    if args.command in ("install", "uninstall"):
        from .installer.cli import run
        return run(args)
    try:
        config = load_config(_setting_args(args))
    except ConfigError as exc:
        print(f"evedge: configuration error: {exc}", file=sys.stderr)
        return 2
    from .logs import setup_logging
    setup_logging(config)
    if args.command == "createuser":
        password = args.password if args.password is not None else read_new_password()
        if password is None:
            return 1
        return asyncio.run(_createuser(config, args.username, password, args.role))
    if args.command == "backup":
        from .backup import run_backup
        return run_backup(config, args.dest, with_diagnostics=args.with_diagnostics,
                          files_only=args.files_only, keep=args.keep)
    if args.command == "restore":
        from .restore import run_restore
        return run_restore(config, args.archive, force=args.force)
    from .server import serve
    try:
        asyncio.run(serve(config))
    except ConfigError as exc:  # found while starting: e.g. a bad site_model_file
        print(f"evedge: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


def _setting_args(args: argparse.Namespace) -> argparse.Namespace:
    extra = {"username", "password", "role", "command", "dest", "with_diagnostics", "files_only",
             "keep", "archive", "force"}
    return argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in extra})


async def _createuser(config, username: str, password: str, role: str) -> int:
    from . import errors
    from .domain.accounts import Accounts
    from .domain.credentials import load_or_create_secret
    from .storage.database import close_database, open_database
    open_database(config)
    accounts = Accounts(config, config.jwt_secret or load_or_create_secret(config.data_dir))
    try:
        user = await accounts.create_user(username, password, role)
    except errors.EvedgeError as exc:
        print(f"evedge: {exc.message}", file=sys.stderr)
        return 1
    finally:
        accounts.close()
        close_database()
    print(f"created {user.role} {user.username}")
    return 0


def _selftest() -> int:
    import os

    from . import paths
    from .chargers import protocol
    logging.basicConfig(level=logging.INFO)
    protocol.self_check()
    for name in ("templates", "static"):
        if not os.path.isdir(paths.resource(name)):
            print(f"evedge: {name}/ is missing from {paths.resource(name)}", file=sys.stderr)
            return 1
    if not os.path.isdir(paths.migrations()):
        print("evedge: migrations are missing", file=sys.stderr)
        return 1
    print("selftest ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
