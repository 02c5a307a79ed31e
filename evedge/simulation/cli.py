"""The simulator's command line: ``python simulator.py ...`` or ``evedge simulate ...``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import ssl as ssl_module
import sys

import ocpp.messages

from .runner import _numbered_ids, run_chargers
from .transport import DEFAULT_URL

log = logging.getLogger("evedge.simulator")

EVEDGE_PROG = "evedge simulate"
SCRIPT_PROG = "simulator.py"


def _default_prog() -> str:
    """The program name for usage and errors: "evedge simulate" when this process is the evedge
    command, else "simulator.py".

    ``evedge/__main__.py`` calls ``main(argv[1:])`` without a name, so tell it from the process's
    entry point: ``python -m evedge``, or an executable called evedge (the console script, or the
    PyInstaller binary). argparse would otherwise show the basename of ``sys.argv[0]``, which is
    ``__main__.py`` under ``python -m evedge``.
    """
    main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if main_spec is not None and main_spec.name == "evedge.__main__":
        return EVEDGE_PROG
    entry = os.path.splitext(os.path.basename(sys.argv[0] if sys.argv else ""))[0]
    return EVEDGE_PROG if entry == "evedge" else SCRIPT_PROG


def _parse_args(argv: list[str] | None, prog: str | None = None) -> argparse.Namespace:
    parser = _build_parser(prog or _default_prog())
    args = parser.parse_args(argv)
    if args.count < 1 or args.connectors < 1:
        parser.error("--count and --connectors must be at least 1")
    args.url = args.url or args.url_arg or DEFAULT_URL
    return args


def _build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Run simulated OCPP 1.6J charge points against a Central System."
    )
    _add_fleet_arguments(parser)
    _add_security_arguments(parser)
    _add_behaviour_arguments(parser)
    return parser


def _add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    """Where to connect, and which chargers."""
    parser.add_argument("url_arg", nargs="?", metavar="URL", help="same as --url")
    parser.add_argument(
        "--url", help=f"CSMS websocket base URL; the charger id is appended (default {DEFAULT_URL})"
    )
    parser.add_argument("--count", type=int, default=1, help="number of chargers (default 1)")
    parser.add_argument("--prefix", default="SIM-", help="charger id prefix (default SIM-)")
    parser.add_argument(
        "--id",
        action="append",
        dest="ids",
        metavar="ID",
        help="charger id (repeatable; replaces --count and --prefix)",
    )
    parser.add_argument(
        "--connectors", type=int, default=1, help="connectors per charger (default 1)"
    )


def _add_security_arguments(parser: argparse.ArgumentParser) -> None:
    """Basic auth and TLS."""
    parser.add_argument("--password", help="HTTP Basic auth password (OCPP security profile 1)")
    parser.add_argument("--ca-file", help="CA bundle to verify a wss:// server")
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify the wss:// server certificate"
    )


def _add_behaviour_arguments(parser: argparse.ArgumentParser) -> None:
    """What each charger does once online, the websocket subprotocol, and logging."""
    parser.add_argument(
        "--meter-interval",
        type=float,
        default=10.0,
        help="seconds between MeterValues (default 10)",
    )
    parser.add_argument(
        "--power", type=float, default=11000.0, help="simulated charging power in W (default 11000)"
    )
    parser.add_argument(
        "--auto-start-tag",
        metavar="TAG",
        help="start a transaction with TAG on connector 1 once online",
    )
    parser.add_argument(
        "--no-subprotocol", action="store_true", help="offer no websocket subprotocol"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, including every frame"
    )


def _ssl_context(ca_file: str | None, insecure: bool) -> ssl_module.SSLContext | None:
    if not ca_file and not insecure:
        return None  # tornado's default verification against the system CAs
    context = ssl_module.create_default_context(cafile=ca_file)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    return context


async def _run_cli(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(
            NotImplementedError
        ):  # Windows: Ctrl-C arrives as KeyboardInterrupt
            loop.add_signal_handler(sig, stop.set)
    ids = args.ids or _numbered_ids(args.prefix, args.count)
    log.info("running %d charger(s) against %s", len(ids), args.url)
    await run_chargers(
        args.url,
        ids,
        stop=stop,
        password=args.password,
        ssl=_ssl_context(args.ca_file, args.insecure),
        subprotocols=() if args.no_subprotocol else ("ocpp1.6",),
        connectors=args.connectors,
        meter_interval=args.meter_interval,
        power_w=args.power,
        auto_start_tag=args.auto_start_tag,
    )


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """CLI entry point (also ``evedge simulate``). Runs until Ctrl-C or SIGTERM.

    ``prog`` names the program in usage and error messages; by default "evedge simulate" when
    run through the evedge command and "simulator.py" otherwise.
    """
    args = _parse_args(argv, prog)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # This process is ours alone, so validate inline: about 1.7x cheaper than the thread pool
    # (library-notes.md §1.3). Importing the module never changes this, since a server may share it.
    ocpp.messages.ASYNC_VALIDATION = False
    try:
        asyncio.run(_run_cli(args))
    except KeyboardInterrupt:
        pass
    return 0
