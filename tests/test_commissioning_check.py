"""``evedge simulate check``: the commissioning scenario against the real evedge (everything
passes) and against a deliberately wrong central system written here (exactly the steps it gets
wrong fail), plus its verdicts for a Pending charger, an unknown tag, bad arguments and a server
that cannot be reached.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import sys
from contextlib import asynccontextmanager

import pytest
import tornado.testing
import tornado.web
import websockets
from ocpp.exceptions import InternalError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

import simulator
from evedge.simulation.check import run_check
from evedge.simulation.check_steps import CheckOptions

STEPS = ["connect", "boot", "heartbeat", "status", "authorize", "api-login", "remote-start",
         "start-transaction", "meter-values", "remote-stop", "malformed-frames",
         "reconnect-without-boot", "stop-after-reconnect", "transaction-closed"]
HERE = simulator.__file__.rsplit("/", 1)[0]


async def check_process(*args: str) -> tuple[int, str, str]:
    """``python simulator.py check ARGS`` as a child process, while this loop serves."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "simulator.py", "check", *args, cwd=HERE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 45)
    return process.returncode, out.decode(), err.decode()


def step_lines(output: str) -> list[tuple[str, str, str]]:
    """(outcome, step, what it saw) of every line; each must have the documented shape."""
    lines = []
    for line in output.splitlines():
        outcome, step, seen = line.split("  ", 2)
        assert outcome in ("PASS", "FAIL", "SKIP") and seen, line
        lines.append((outcome, step, seen))
    return lines


@pytest.fixture
async def evedge_site(start_server):
    """The real evedge with an admin (registered while the database is empty) and an Accepted
    id tag, both made through the REST API."""
    async def start(**overrides):
        server = await start_server(**overrides)
        admin = await server.api.register("site-admin", "correct-horse")
        assert admin["role"] == "admin"
        tag = await server.api.post("/api/id-tags/", {"id_tag": "CHECK-TAG",
                                                      "status": "Accepted"}, admin["access"])
        assert tag.status == 201, tag.body
        return server
    return start


def site_args(server, *extra: str) -> list[str]:
    return ["--url", server.ocpp_url, "--api", f"{server.http_url}/api", "--user", "site-admin",
            "--password", "correct-horse", "--timeout", "5", *extra]


async def test_every_step_passes_against_evedge(evedge_site):
    server = await evedge_site()
    code, out, err = await check_process(*site_args(server))
    lines = step_lines(out)
    assert [step for _, step, _ in lines] == STEPS
    assert [outcome for outcome, _, _ in lines] == ["PASS"] * len(STEPS), out
    assert code == 0, err
    seen = {step: text for _, step, text in lines}
    assert "FormationViolation" in seen["malformed-frames"]
    assert "NotImplemented" in seen["malformed-frames"]
    assert "clock skew" in seen["heartbeat"]
    assert "14 passed" in err


async def test_a_pending_charger_is_told_to_get_approved(evedge_site):
    server = await evedge_site(admission="pending")
    report = await run_check(options(server))
    outcomes = {step.name: step for step in report.steps}
    assert outcomes["boot"].outcome == "FAIL"
    assert "approve CHECK-1 and run again" in outcomes["boot"].detail
    assert outcomes["api-login"].outcome == "PASS"
    assert all(outcomes[name].outcome == "SKIP" for name in STEPS[2:] if name != "api-login")
    assert report.exit_code == 1


async def test_a_tag_that_is_not_accepted_fails_the_remote_start_with_its_reason(evedge_site):
    server = await evedge_site()
    report = await run_check(options(server, id_tag="NOBODY"))
    outcomes = {step.name: step for step in report.steps}
    assert outcomes["authorize"].outcome == "PASS" and "Invalid" in outcomes["authorize"].detail
    for name in ("remote-start", "start-transaction"):
        assert outcomes[name].outcome == "FAIL"
        assert "id tag NOBODY is Invalid" in outcomes[name].detail
    assert outcomes["malformed-frames"].outcome == "PASS"
    assert outcomes["stop-after-reconnect"].outcome == "SKIP"
    assert report.exit_code == 1


def options(server, **changes) -> CheckOptions:
    return CheckOptions(url=server.ocpp_url, api=f"{server.http_url}/api", user="site-admin",
                        password="correct-horse", timeout=3, **changes)


# ---- a deliberately wrong central system ---------------------------------------------------

class WrongCentralSystem(ChargePoint):
    """Right about most things, wrong about three: it answers nothing to malformed frames,
    closes the socket on a Heartbeat from a connection that did not boot, and answers
    StopTransaction with a CALLERROR (after recording the stop)."""

    def __init__(self, charge_point_id, connection, backend):
        super().__init__(charge_point_id, connection, response_timeout=5)
        self.backend = backend
        self.booted = False

    async def route_message(self, raw_msg):
        try:
            frame = json.loads(raw_msg)
        except ValueError:
            return  # wrong: OCPP-J §4.2.3 asks for a CALLERROR when the id can be read
        if frame[0] == 2 and frame[2] not in self.route_map:
            return  # wrong: no NotImplemented
        if frame[0] == 2 and frame[2] == "Heartbeat" and not self.booted:
            await self._connection.close(code=1008, reason="BootNotification first")
            return  # wrong: §4.2 does not ask for a new boot after a reconnect
        await super().route_message(raw_msg)

    @on(Action.boot_notification)
    def on_boot(self, **kwargs):
        self.booted = True
        return call_result.BootNotification(current_time=now(), interval=300, status="Accepted")

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs):
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **kwargs):
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag, **kwargs):
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on(Action.start_transaction)
    def on_start(self, connector_id, id_tag, meter_start, timestamp, **kwargs):
        transaction_id = len(self.backend.transactions) + 1
        self.backend.transactions[transaction_id] = {
            "id": transaction_id, "charger_id": self.id, "meter_start": meter_start,
            "meter_stop": None, "stop_time": None, "active": True}
        return call_result.StartTransaction(transaction_id=transaction_id,
                                            id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)
    def on_meter_values(self, **kwargs):
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop(self, transaction_id, meter_stop, timestamp, reason=None, **kwargs):
        self.backend.transactions[transaction_id].update(
            meter_stop=meter_stop, stop_time=timestamp, active=False, stop_reason=reason)
        raise InternalError(description="could not write the answer")  # wrong: §4.10


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


class Backend:
    def __init__(self):
        self.transactions: dict[int, dict] = {}
        self.chargers: dict[str, WrongCentralSystem] = {}

    async def ocpp(self, connection):
        charger_id = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
        charger = self.chargers[charger_id] = WrongCentralSystem(charger_id, connection, self)
        try:
            await charger.start()
        except websockets.ConnectionClosed:
            pass


class StubApi(tornado.web.RequestHandler):
    """evedge's paths, just enough of them."""

    def initialize(self, backend):
        self.backend = backend

    def body(self) -> dict:
        return json.loads(self.request.body or b"{}")

    async def post(self, path):
        if path == "auth/login/":
            return self.write({"access": "stub-token"})
        if self.request.headers.get("Authorization") != "Bearer stub-token":
            raise tornado.web.HTTPError(401)
        parts = path.strip("/").split("/")
        if parts[:2] == ["chargers", "start"]:
            request = call.RemoteStartTransaction(id_tag=self.body()["id_tag"],
                                                  connector_id=self.body()["connector_id"])
            charger = self.backend.chargers[parts[2]]
        else:
            request = call.RemoteStopTransaction(transaction_id=self.body()["transaction_id"])
            charger = self.backend.chargers[parts[1]]
        answer = await charger.call(request)
        self.write({"status": answer.status})

    def get(self, path):
        charger = self.get_query_argument("charger")
        self.write({"items": [tx for tx in self.backend.transactions.values()
                              if tx["charger_id"] == charger]})


@asynccontextmanager
async def wrong_central_system():
    backend = Backend()
    async with websockets.serve(backend.ocpp, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as ws:
        port = ws.sockets[0].getsockname()[1]
        sock, api_port = tornado.testing.bind_unused_port()
        http = tornado.httpserver.HTTPServer(
            tornado.web.Application([(r"/api/(.*)", StubApi, {"backend": backend})]))
        http.add_sockets([sock])
        try:
            yield f"ws://127.0.0.1:{port}/ocpp", f"http://127.0.0.1:{api_port}/api"
        finally:
            http.stop()


async def test_exactly_the_wrong_steps_fail_against_a_wrong_central_system():
    async with wrong_central_system() as (url, api):
        code, out, err = await check_process("--url", url, "--api", api, "--user", "u",
                                             "--password", "p", "--timeout", "1", "--json")
    report = json.loads(out)
    assert code == 1 and report["exit_code"] == 1 and report["result"] == "FAIL"
    outcomes = {step["step"]: step for step in report["steps"]}
    assert list(outcomes) == STEPS
    failed = {name for name, step in outcomes.items() if step["outcome"] == "FAIL"}
    assert failed == {"malformed-frames", "reconnect-without-boot", "stop-after-reconnect"}
    assert all(step["outcome"] == "PASS" for name, step in outcomes.items() if name not in failed)
    assert "no answer within 1 s" in outcomes["malformed-frames"]["detail"]
    assert "closed the connection (code 1008)" in outcomes["reconnect-without-boot"]["detail"]
    assert "CALLERROR InternalError" in outcomes["stop-after-reconnect"]["detail"]
    assert outcomes["transaction-closed"]["data"]["transaction"]["meter_stop"] == \
        outcomes["stop-after-reconnect"]["data"]["meter_stop"]


# ---- what makes the check unusable: exit status 2 ------------------------------------------

def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_an_unreachable_server_is_named_and_exits_2(server):
    dead = unused_port()
    code, out, err = await check_process(
        "--url", f"ws://127.0.0.1:{dead}/ocpp", "--api", f"{server.http_url}/api",
        "--user", "u", "--password", "p", "--timeout", "2")
    assert code == 2 and out == ""
    assert f"cannot reach the OCPP server 127.0.0.1:{dead}" in err
    code, out, err = await check_process(
        "--url", server.ocpp_url, "--api", f"http://127.0.0.1:{dead}/api", "--user", "u",
        "--password", "p", "--json")
    assert code == 2 and json.loads(out)["error"].startswith("cannot reach the API server")


@pytest.mark.parametrize("args, named", [
    (["--url", "http://x/ocpp"], "--url"),
    (["--api", "ws://x/api"], "--api"),
    (["--timeout", "0"], "--timeout"),
    (["--id-tag", "T" * 21], "--id-tag"),
    (["--charger-id", "a/b"], "--charger-id"),
    (["--connector-id", "0"], "--connector-id"),
])
def test_bad_arguments_exit_2_naming_the_argument(args, named, capsys):
    base = {"--url": "ws://127.0.0.1:9/ocpp", "--api": "http://127.0.0.1:9/api",
            "--user": "u", "--password": "p"}
    base.update(dict(zip(args[::2], args[1::2])))
    with pytest.raises(SystemExit) as exit:
        simulator.main(["check", *[item for pair in base.items() for item in pair]])
    assert exit.value.code == 2
    captured = capsys.readouterr()
    assert named in captured.err and captured.out == ""


async def test_evedge_simulate_check_is_the_same_command(evedge_site):
    server = await evedge_site()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evedge", "simulate", "check", *site_args(server, "--json"),
        cwd=HERE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 45)
    report = json.loads(out)
    assert process.returncode == 0 and report["result"] == "PASS"
    assert [step["outcome"] for step in report["steps"]] == ["PASS"] * len(STEPS)
    assert report["protocol_errors"] == []
