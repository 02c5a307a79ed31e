"""The simulator's command line: ``python simulator.py ...`` or ``evedge simulate ...``.

Two commands: ``run`` (the default, so ``evedge simulate --count 5`` still works) keeps a fleet
of lifelike chargers running until SIGINT or SIGTERM (`fleet`); ``check`` runs the
commissioning scenario against a central system and exits with its verdict (`commissioning`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

import ocpp.messages

from .behaviour import FleetOptions
from .charger import SimulatedCharger
from .fleet import Fleet
from .runner import _numbered_ids
from .transport import DEFAULT_URL, client_ssl_context

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
    """The ``run`` command's arguments (with or without the word ``run``). Bad values end the
    program with status 2 and a message naming the option."""
    argv = list(argv or [])
    if argv[:1] == ["run"]:
        argv = argv[1:]
    parser = _build_parser(prog or _default_prog())
    args = parser.parse_args(argv)
    if args.count < 1 or args.connectors < 1:
        parser.error("--count and --connectors must be at least 1")
    args.url = args.url or args.url_arg or DEFAULT_URL
    try:
        args.fleet = _fleet_options(args)
        SimulatedCharger("check-options", **_charger_options(args))  # raises for bad options
    except ValueError as exc:
        parser.error(_option_name(str(exc)))
    return args


def _option_name(message: str) -> str:
    """"ramp_rate must be ..." -> "--ramp-rate must be ...": errors name the CLI option."""
    name, _, rest = message.partition(" ")
    return f"--{name.replace('_', '-')} {rest}" if name.isidentifier() else message


def _build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        usage=f"{prog} [run] [URL] [options]  |  {prog} check --help",
        description=(
            "Run simulated OCPP 1.6J charge points against a Central System until Ctrl-C or "
            "SIGTERM: drivers plug in and charge, connectors fault and recover, the network "
            "drops. 'check' instead runs the commissioning scenario once."
        ),
    )
    _add_fleet_arguments(parser)
    _add_security_arguments(parser)
    _add_behaviour_arguments(parser)
    _add_life_arguments(parser)
    _add_electrical_arguments(parser)
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


def _add_life_arguments(parser: argparse.ArgumentParser) -> None:
    """How lively the fleet is (see behaviour.FleetOptions); rates per simulated hour."""
    group = parser.add_argument_group("fleet life (simulated time)")
    defaults = FleetOptions()
    group.add_argument(
        "--speed", type=float, default=10.0,
        help="simulated seconds per real second (default 10; 60 = a minute per second; 1 = real "
             "time). Protocol timing (heartbeats, MeterValues, timeouts) stays real",
    )
    group.add_argument("--seed", type=int, help="random seed, for a reproducible fleet")
    group.add_argument(
        "--session-rate", type=float, default=defaults.session_rate,
        help=f"sessions per idle connector per hour (default {defaults.session_rate:g}; 0: none)",
    )
    group.add_argument(
        "--fault-rate", type=float, default=defaults.fault_rate,
        help=f"faults per charger per hour (default {defaults.fault_rate:g})",
    )
    group.add_argument(
        "--reconnect-rate", type=float, default=defaults.reconnect_rate,
        help=f"connection drops per charger per hour (default {defaults.reconnect_rate:g})",
    )
    group.add_argument(
        "--dwell-minutes", type=float, default=defaults.dwell_minutes,
        help=f"mean minutes a driver stays plugged in (default {defaults.dwell_minutes:g})",
    )
    group.add_argument(
        "--fault-minutes", type=float, default=defaults.fault_minutes,
        help=f"mean minutes a fault lasts (default {defaults.fault_minutes:g})",
    )
    group.add_argument(
        "--reboot-share", type=float, default=defaults.reboot_share,
        help="share of drops that are reboots, with a BootNotification "
             f"(default {defaults.reboot_share:g})",
    )
    group.add_argument(
        "--id-tag", action="append", dest="id_tags", metavar="TAG",
        help="id tag drivers present (repeatable; default SIM-TAG). The central system must "
             "accept it",
    )
    group.add_argument(
        "--report-interval", type=float, default=60.0,
        help="seconds between summary lines (default 60; 0: only at the end)",
    )


def _add_electrical_arguments(parser: argparse.ArgumentParser) -> None:
    """How the chargers are wired and how their cars react (see metering)."""
    group = parser.add_argument_group("electrical")
    group.add_argument("--phases", type=int, default=3, help="1 or 3 (default 3)")
    group.add_argument(
        "--phase-rotation", default="RST",
        help="ConnectorPhaseRotation: RST, RTS, SRT, STR, TRS or TSR (default RST)",
    )
    group.add_argument(
        "--reaction-delay", type=float, default=5.0,
        help="simulated seconds before a car follows a new limit (default 5)",
    )
    group.add_argument(
        "--ramp-rate", type=float, default=5.0, help="A/s at which a car ramps up (default 5)"
    )


def _fleet_options(args: argparse.Namespace) -> FleetOptions:
    return FleetOptions(
        session_rate=args.session_rate,
        fault_rate=args.fault_rate,
        reconnect_rate=args.reconnect_rate,
        dwell_minutes=args.dwell_minutes,
        fault_minutes=args.fault_minutes,
        reboot_share=args.reboot_share,
        id_tags=tuple(args.id_tags or FleetOptions().id_tags),
        seed=args.seed,
    )


def _charger_options(args: argparse.Namespace) -> dict:
    return dict(
        password=args.password,
        ssl=client_ssl_context(args.ca_file, args.insecure),
        subprotocols=() if args.no_subprotocol else ("ocpp1.6",),
        connectors=args.connectors,
        meter_interval=args.meter_interval,
        power_w=args.power,
        auto_start_tag=args.auto_start_tag,
        phases=args.phases,
        phase_rotation=args.phase_rotation,
        reaction_delay=args.reaction_delay,
        ramp_rate=args.ramp_rate,
        speed=args.speed,
    )


async def _run_cli(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(
            NotImplementedError
        ):  # Windows: Ctrl-C arrives as KeyboardInterrupt
            loop.add_signal_handler(sig, stop.set)
    ids = args.ids or _numbered_ids(args.prefix, args.count)
    log.info("running %d charger(s) against %s at speed %g", len(ids), args.url, args.speed)
    fleet = Fleet(
        args.url,
        ids,
        args.fleet,
        report_interval=args.report_interval or None,
        **_charger_options(args),
    )
    await fleet.run(stop)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """CLI entry point (also ``evedge simulate``). ``run`` (the default) runs until Ctrl-C or
    SIGTERM and returns 0; ``check`` returns its verdict (see commissioning.main).

    ``prog`` names the program in usage and error messages; by default "evedge simulate" when
    run through the evedge command and "simulator.py" otherwise.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["check"]:
        from .check import main as check_main

        return check_main(argv[1:], f"{prog or _default_prog()} check")
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
