"""``evedge simulate check`` (also ``python simulator.py check``): the commissioning check's
command line, reachability, the report and the exit status.

Exit status: 0 when every step passed or was skipped, 1 when a step failed, 2 for bad arguments
or when the OCPP or the API server cannot be reached at all (the message says which).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import math
import sys
import urllib.parse

import ocpp.messages

from .check_steps import FAIL, CheckOptions, Commissioning, StepResult
from .transport import client_ssl_context

log = logging.getLogger("evedge.simulator")

EXIT_PASSED, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2
_DEFAULT_PORTS = {"ws": 80, "wss": 443, "http": 80, "https": 443}


@dataclasses.dataclass
class CheckReport:
    options: CheckOptions
    steps: list[StepResult]
    exit_code: int
    error: str | None = None  # why the check could not run (exit code 2)
    protocol_errors: list[str] = dataclasses.field(default_factory=list)

    def as_json(self) -> dict:
        outcome = {EXIT_PASSED: "PASS", EXIT_FAILED: "FAIL"}.get(self.exit_code, "ERROR")
        return {
            "result": outcome,
            "exit_code": self.exit_code,
            "error": self.error,
            "charger_id": self.options.charger_id,
            "url": self.options.url,
            "api": self.options.api,
            "id_tag": self.options.id_tag,
            "steps": [step.as_json() for step in self.steps],
            "protocol_errors": self.protocol_errors,
        }


class Unreachable(Exception):
    """A server that does not even accept a TCP connection."""


async def run_check(options: CheckOptions, report=None) -> CheckReport:
    """Run the commissioning check. ``report(step_result)`` sees each step as it ends."""
    try:
        await _reachable("OCPP", options.url, options.timeout)
        await _reachable("API", options.api, options.timeout)
    except Unreachable as exc:
        return CheckReport(options, [], EXIT_UNUSABLE, str(exc))
    scenario = Commissioning(options)
    steps = await scenario.run(report)
    failed = any(step.outcome == FAIL for step in steps)
    return CheckReport(
        options,
        steps,
        EXIT_FAILED if failed else EXIT_PASSED,
        protocol_errors=list(scenario.charger.protocol_errors),
    )


async def _reachable(which: str, url: str, timeout: float) -> None:
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        reason = str(exc) or f"no answer within {timeout:g} s"
        raise Unreachable(f"cannot reach the {which} server {host}:{port} ({url}): {reason}")
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass


# ---- the command line ----------------------------------------------------------------------


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Commissioning check: one simulated charger runs a scripted session against an OCPP "
            "1.6J central system with evedge's REST API, and every step prints "
            "'PASS|FAIL|SKIP  <step>  <what it saw>'. Exit status 0: all passed or skipped, "
            "1: a step failed, 2: bad arguments or a server that cannot be reached."
        ),
    )
    parser.add_argument(
        "--url", required=True, help="OCPP websocket base, e.g. ws://site:8000/ocpp"
    )
    parser.add_argument("--api", required=True, help="REST API root, e.g. http://site:8000/api")
    parser.add_argument("--user", required=True, help="API user (operator or admin)")
    parser.add_argument("--password", required=True, help="the API user's password")
    parser.add_argument("--charger-id", default="CHECK-1", help="charge point id (default CHECK-1)")
    parser.add_argument(
        "--id-tag", default="CHECK-TAG", help="an id tag the central system accepts "
        "(default CHECK-TAG)"
    )
    parser.add_argument("--connector-id", type=int, default=1, help="connector (default 1)")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for each answer (default 10)"
    )
    parser.add_argument(
        "--password-cp", help="the charger's HTTP Basic auth password (security profile 1)"
    )
    parser.add_argument("--ca-file", help="CA bundle to verify wss:// and https:// servers")
    parser.add_argument("--insecure", action="store_true", help="do not verify certificates")
    parser.add_argument("--json", action="store_true", help="print a JSON report instead")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    return parser


def parse_check_args(argv: list[str], prog: str) -> tuple[CheckOptions, argparse.Namespace]:
    """The options, or SystemExit(2) with a message naming the bad argument."""
    parser = _parser(prog)
    args = parser.parse_args(argv)
    problem = _argument_problem(args)
    if problem:
        parser.error(problem)
    options = CheckOptions(
        url=args.url,
        api=args.api,
        user=args.user,
        password=args.password,
        charger_id=args.charger_id,
        id_tag=args.id_tag,
        connector_id=args.connector_id,
        timeout=args.timeout,
        charger_password=args.password_cp,
        ssl=client_ssl_context(args.ca_file, args.insecure),
    )
    return options, args


def _argument_problem(args: argparse.Namespace) -> str | None:
    for option, url, schemes in (("--url", args.url, ("ws", "wss")),
                                 ("--api", args.api, ("http", "https"))):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in schemes or not parts.hostname:
            return f"{option} must be a {' or '.join(s + '://' for s in schemes)} URL: {url!r}"
        try:
            parts.port
        except ValueError:
            return f"{option} has a bad port: {url!r}"
    if not math.isfinite(args.timeout) or not 0 < args.timeout <= 600:
        return f"--timeout must be above 0 and at most 600 seconds: {args.timeout:g}"
    charger_id = args.charger_id
    if not 0 < len(charger_id) <= 64 or not charger_id.isprintable() or "/" in charger_id:
        return f"--charger-id must be 1-64 printable characters without '/': {charger_id!r}"
    if not 0 < len(args.id_tag) <= 20:
        return f"--id-tag must be 1-20 characters (IdToken, CiString20): {args.id_tag!r}"
    if args.connector_id < 1:
        return f"--connector-id must be at least 1: {args.connector_id}"
    return None


def main(argv: list[str], prog: str) -> int:
    options, args = parse_check_args(argv, prog)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.CRITICAL,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ocpp.messages.ASYNC_VALIDATION = False  # our process alone: validate inline (see cli.main)

    def print_step(step: StepResult) -> None:
        if not args.json:
            print(step.line(), flush=True)

    report = asyncio.run(run_check(options, print_step))
    if args.json:
        print(json.dumps(report.as_json(), indent=2, default=str))
    if report.error:
        print(f"{prog}: {report.error}", file=sys.stderr)
    else:
        counts = {outcome: sum(s.outcome == outcome for s in report.steps)
                  for outcome in ("PASS", "FAIL", "SKIP")}
        print(f"{prog}: {len(report.steps)} steps, {counts['PASS']} passed, "
              f"{counts['FAIL']} failed, {counts['SKIP']} skipped", file=sys.stderr)
    return report.exit_code
