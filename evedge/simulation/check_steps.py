"""The commissioning check (``evedge simulate check``): a scripted session against a central
system, step by step, each step PASS, FAIL or SKIP with what it saw.

One simulated charger (`CheckCharger`) talks OCPP 1.6J to the central system; the REST API
(evedge's paths, which the original system had too) starts and stops its session. The steps, in
order: connect, boot, heartbeat, status, authorize, api-login, remote-start, start-transaction,
meter-values, remote-stop, malformed-frames, reconnect-without-boot, stop-after-reconnect,
transaction-closed. A step whose prerequisite did not work out is skipped with the reason; every
wait on the central system ends after ``timeout`` seconds ("no answer within N s").

The StopTransaction that the remote stop calls for is held back until after the reconnect: it
checks the rule that transaction messages are answered after a reconnect without a new
BootNotification, as a charger whose link broke right after the remote stop needs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import ssl as ssl_module
import time
import urllib.parse
from typing import Any, Awaitable, Callable

from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    ChargePointStatus,
    Reason,
    ReadingContext,
    RegistrationStatus,
    RemoteStartStopStatus,
)

from .charger import SimulatedCharger
from .clock import parse_rfc3339, utc_now
from .frames import OCPP16_ERROR_CODES
from .rest import RestClient, RestError
from .transport import ConnectFailed, ConnectionClosed

log = logging.getLogger("evedge.simulator")

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
# OCPP-J §4.2.3: the CALLERROR for a frame that is not valid JSON, and the equivalents central
# systems use (OCPP 2.0 spells it FormatViolation); and the ones for an action nobody knows.
FORMATION_CODES = ("FormationViolation", "FormatViolation", "ProtocolError")
UNKNOWN_ACTION_CODES = ("NotImplemented", "NotSupported")
SKEW_WARNING = 60.0  # s of clock skew worth a word to the technician
CHECK_SPEED = 600.0  # the check's meter runs 10 simulated minutes per second: visible energy

# What a step may need, and which step provides it.
NEEDS = {
    "registered": "an Accepted BootNotification (step 2)",
    "token": "an API login (step 6)",
    "remote start": "a remote start (step 7)",
    "transaction": "a started transaction (step 8)",
    "stop sent": "a StopTransaction (step 13)",
}


@dataclasses.dataclass(frozen=True)
class CheckOptions:
    url: str  # the OCPP websocket base; the charger id is appended
    api: str  # the REST API root, e.g. http://site:8000/api
    user: str
    password: str
    charger_id: str = "CHECK-1"
    id_tag: str = "CHECK-TAG"
    connector_id: int = 1
    timeout: float = 10.0
    charger_password: str | None = None  # HTTP Basic auth of the charger (security profile 1)
    ssl: ssl_module.SSLContext | None = None


@dataclasses.dataclass
class StepResult:
    number: int
    name: str
    outcome: str  # PASS, FAIL or SKIP
    detail: str
    seconds: float = 0.0
    data: dict = dataclasses.field(default_factory=dict)

    def line(self) -> str:
        return f"{self.outcome}  {self.name}  {self.detail}"

    def as_json(self) -> dict:
        return {"number": self.number, "step": self.name, "outcome": self.outcome,
                "detail": self.detail, "seconds": round(self.seconds, 3), "data": self.data}


class StepFailed(Exception):
    def __init__(self, detail: str, **data: Any):
        super().__init__(detail)
        self.detail, self.data = detail, data


class StepSkipped(Exception):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class CheckCharger(SimulatedCharger):
    """The simulated charger of the check. It notes how it answered remote starts and stops,
    and holds the StopTransaction of a remote stop back (the scenario sends it at step 13)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answers: dict[str, str] = {}

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self, id_tag, connector_id=None, charging_profile=None, call_unique_id=None, **kwargs
    ):
        answer = super().on_remote_start_transaction(
            id_tag, connector_id, charging_profile, call_unique_id, **kwargs
        )
        self.answers[Action.remote_start_transaction] = answer.status
        return answer

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id, call_unique_id=None, **kwargs):
        running = self._connector_with_transaction(transaction_id) is not None
        status = RemoteStartStopStatus.accepted if running else RemoteStartStopStatus.rejected
        self.answers[Action.remote_stop_transaction] = status
        return call_result.RemoteStopTransaction(status=status)


@dataclasses.dataclass(frozen=True)
class _Step:
    name: str
    run: Callable[[Commissioning], Awaitable]
    needs: tuple[str, ...]
    waits: int  # answers it waits for one after the other: its time budget


_STEPS: list[_Step] = []


def _step(name: str, *, needs: tuple[str, ...] = (), waits: int = 1):
    def register(method):
        _STEPS.append(_Step(name, method, needs, waits))
        return method

    return register


class Commissioning:
    """One run of the scenario: ``results = await Commissioning(options).run(report)``."""

    def __init__(self, options: CheckOptions):
        self.options = options
        self.timeout = float(options.timeout)
        self.charger = CheckCharger(
            options.charger_id,
            url=options.url,
            password=options.charger_password,
            ssl=options.ssl,
            connect_timeout=self.timeout,
            response_timeout=self.timeout,
            connectors=max(1, options.connector_id),
            meter_interval=0,  # MeterValues only when the scenario sends them
            speed=CHECK_SPEED,
            ramp_rate=None,
        )
        self.rest = RestClient(options.api, self.timeout, options.ssl)
        self.have: set[str] = set()
        self.results: list[StepResult] = []
        self.token: str | None = None
        self.tag_status: str | None = None
        self.transaction_id: int | None = None
        self.meter_stop: int | None = None
        self.lost: str | None = None  # when the central system closed the connection

    async def run(self, report: Callable[[StepResult], None] | None = None) -> list[StepResult]:
        try:
            for number, step in enumerate(_STEPS, start=1):
                result = await self._run_step(number, step)
                self.results.append(result)
                if report is not None:
                    report(result)
        finally:
            await self._clean_up()
        return self.results

    async def _run_step(self, number: int, step: _Step) -> StepResult:
        missing = [need for need in step.needs if need not in self.have]
        if missing:
            return StepResult(number, step.name, SKIP, f"needs {NEEDS[missing[0]]}")
        online = self.charger.connected
        started = time.monotonic()
        outcome, data = PASS, {}
        try:
            answer = await asyncio.wait_for(step.run(self), self.timeout * step.waits + 1.0)
            detail, data = answer if isinstance(answer, tuple) else (answer, {})
        except StepFailed as failed:
            outcome, detail, data = FAIL, failed.detail, failed.data
        except StepSkipped as skipped:
            outcome, detail = SKIP, skipped.detail
        except asyncio.TimeoutError:
            outcome, detail = FAIL, f"no answer within {self.timeout:g} s"
        except Exception as exc:  # a bug here, or an answer nothing above foresaw
            log.debug("step %s failed", step.name, exc_info=True)
            outcome, detail = FAIL, f"unexpected error: {exc!r}"
        if online and not self.charger.connected and self.lost is None:
            self.lost = f"the central system closed the connection during step {number}"
        return StepResult(number, step.name, outcome, detail, time.monotonic() - started, data)

    async def _clean_up(self) -> None:
        """Leave the connector Available (no session of ours goes on) and disconnect."""
        connector = self.charger.connectors.get(self.options.connector_id)
        if self.charger.connected and connector is not None and connector.transaction is None:
            try:
                await asyncio.wait_for(
                    self.charger.status(connector.connector_id, ChargePointStatus.available),
                    self.timeout,
                )
            except (OCPPError, ConnectionClosed, asyncio.TimeoutError):
                pass
        await self.charger.close()
        self.rest.close()

    # ---- helpers ---------------------------------------------------------------------------

    async def _answer(self, awaitable: Awaitable, what: str):
        """The central system's answer to one of our CALLs, or StepFailed saying why not."""
        try:
            return await asyncio.wait_for(awaitable, self.timeout + 0.5)
        except (asyncio.TimeoutError, OCPPError, ConnectionClosed) as exc:
            raise self._failure(exc, what) from None

    def _failure(self, exc: BaseException, what: str) -> StepFailed:
        if isinstance(exc, asyncio.TimeoutError):
            return StepFailed(f"no answer within {self.timeout:g} s to {what}")
        if isinstance(exc, ConnectionClosed):
            return StepFailed(
                f"the central system closed the connection (code {exc.code}) instead of "
                f"answering {what}"
            )
        if getattr(exc, "recorded", False):  # a CALLRESULT the schema refuses
            return StepFailed(f"the answer to {what} is not valid OCPP 1.6: {exc}")
        if isinstance(exc, OCPPError):
            return StepFailed(
                f"{what} answered with CALLERROR {exc.code}: {exc.description}", code=exc.code
            )
        return StepFailed(f"{what} failed: {exc!r}")

    async def _sent(self, action: str) -> tuple[dict, Any]:
        """(payload, answer) of the next ``action`` our charger sent on its own."""
        try:
            payload, result = await self.charger.wait_for_sent(action, timeout=self.timeout)
        except asyncio.TimeoutError:
            raise StepFailed(f"the charger sent no {action} within {self.timeout:g} s") from None
        if isinstance(result, BaseException):
            raise self._failure(result, action)
        return payload, result

    async def _api(self, method: str, path: str, body: Any = None):
        try:
            return await self.rest.request(method, path, body, self.token)
        except RestError as exc:
            raise StepFailed(str(exc)) from None

    def _online(self) -> None:
        if not self.charger.connected:
            why = self.lost or (
                "the connection closed" if self.results and self.results[0].outcome == PASS
                else "step 1 (connect) did not connect"
            )
            raise StepSkipped(f"not connected: {why}")

    def _accepted_tag(self) -> None:
        if self.tag_status != AuthorizationStatus.accepted:
            raise StepFailed(
                f"id tag {self.options.id_tag} is {self.tag_status or 'not authorized'} (step 5): "
                "make it Accepted in the central system, or pass --id-tag"
            )

    async def _reopen(self) -> None:
        try:
            await asyncio.wait_for(self.charger.open(), self.timeout + 0.5)
        except (ConnectFailed, asyncio.TimeoutError) as exc:
            raise StepFailed(f"could not reconnect: {exc or 'timed out'}") from None

    @property
    def _connector(self):
        return self.charger.connectors[self.options.connector_id]

    # ---- the steps -------------------------------------------------------------------------

    @_step("connect")
    async def _connect(self):
        try:
            await asyncio.wait_for(self.charger.open(), self.timeout + 0.5)
        except asyncio.TimeoutError:
            raise StepFailed(f"no websocket within {self.timeout:g} s") from None
        except ConnectFailed as exc:
            hints = {401: " (the charger's password: --password-cp)", 404: " (the URL's path)"}
            if exc.status_code is None:
                raise StepFailed(str(exc)) from None
            raise StepFailed(
                f"HTTP {exc.status_code}: the websocket was refused"
                f"{hints.get(exc.status_code, '')}", status=exc.status_code
            ) from None
        selected = self.charger.subprotocol
        if selected != "ocpp1.6":
            raise StepFailed(f"connected, but the subprotocol is {selected!r}, not ocpp1.6")
        return f"subprotocol ocpp1.6 negotiated ({self.charger.url}/{self.options.charger_id})"

    @_step("boot")
    async def _boot(self):
        self._online()
        result = await self._answer(self.charger.boot(), "BootNotification")
        data = {"status": result.status, "interval": result.interval}
        if result.status == RegistrationStatus.pending:
            raise StepFailed(
                f"Pending: approve {self.options.charger_id} and run again (the central system "
                "holds it for an admin's approval)",
                **data,
            )
        if result.status != RegistrationStatus.accepted:
            raise StepFailed(
                f"{result.status}: the central system does not accept {self.options.charger_id}",
                **data,
            )
        self.have.add("registered")
        if result.interval <= 0:
            raise StepFailed(f"Accepted, but the heartbeat interval is {result.interval}", **data)
        return f"Accepted, heartbeat interval {result.interval} s", data

    @_step("heartbeat", needs=("registered",))
    async def _heartbeat(self):
        self._online()
        sent = utc_now()
        result = await self._answer(self.charger.heartbeat(), "Heartbeat")
        received = utc_now()
        try:
            server_time = parse_rfc3339(result.current_time)
        except ValueError:
            raise StepFailed(f"currentTime {result.current_time!r} is not RFC 3339") from None
        skew = (server_time - (sent + (received - sent) / 2)).total_seconds()
        note = " (set the central system's clock, e.g. NTP)" if abs(skew) > SKEW_WARNING else ""
        detail = f"currentTime {result.current_time}, clock skew {skew:+.1f} s{note}"
        return detail, {"current_time": result.current_time, "clock_skew_seconds": round(skew, 3)}

    @_step("status", needs=("registered",), waits=2)
    async def _status(self):
        self._online()
        numbers = (0, self.options.connector_id)
        for number in numbers:
            await self._answer(
                self.charger.status(number, ChargePointStatus.available),
                f"StatusNotification for connector {number}",
            )
        return f"StatusNotification Available for connectors {numbers[0]} and {numbers[1]} answered"

    @_step("authorize", needs=("registered",))
    async def _authorize(self):
        self._online()
        tag = self.options.id_tag
        result = await self._answer(self.charger.authorize(tag), f"Authorize {tag}")
        self.tag_status = (result.id_tag_info or {}).get("status")
        note = "" if self.tag_status == AuthorizationStatus.accepted else ": remote start will fail"
        return f"{tag} is {self.tag_status}{note}", {"id_tag_status": self.tag_status}

    @_step("api-login")
    async def _api_login(self):
        body = {"username": self.options.user, "password": self.options.password}
        answer = await self._api("POST", "auth/login/", body)
        token = answer.json.get("access") if isinstance(answer.json, dict) else None
        if answer.status != 200 or not isinstance(token, str):
            raise StepFailed(
                f"POST {self.rest.url('auth/login/')}: HTTP {answer.status}, no access token: "
                f"{answer.error_text()}", status=answer.status
            )
        self.token = token
        self.have.add("token")
        return f"logged in as {self.options.user} (HTTP 200)"

    @_step("remote-start", needs=("registered", "token"), waits=2)
    async def _remote_start(self):
        self._accepted_tag()
        self._online()
        body = {"connector_id": self.options.connector_id, "id_tag": self.options.id_tag}
        received = await self._command_through_api(
            f"chargers/start/{self._quoted_id}/", body, Action.remote_start_transaction
        )
        self.have.add("remote start")
        return (
            f"RemoteStartTransaction received (connector {received.get('connector_id')}, idTag "
            f"{received.get('id_tag')}), answered Accepted; API HTTP 200"
        )

    async def _command_through_api(self, path: str, body: dict, action: str) -> dict:
        """POST a remote command to the API; the charger must receive ``action`` and answer
        Accepted, and the API must answer 200. Returns what the charger received."""
        posting = asyncio.ensure_future(self._api("POST", path, body))
        try:
            received = await self.charger.wait_for(action, self.timeout)
        except asyncio.TimeoutError:
            received = None
        try:
            answer = await posting
        finally:
            posting.cancel()
        problems = []
        if received is None:
            problems.append(f"no {action} within {self.timeout:g} s")
        elif self.charger.answers.get(action) != RemoteStartStopStatus.accepted:
            problems.append(f"{action} {received} was answered {self.charger.answers.get(action)}")
        if answer.status != 200:
            problems.append(f"the API answered HTTP {answer.status}: {answer.error_text()}")
        if problems:
            raise StepFailed("; ".join(problems), status=answer.status)
        return received

    @property
    def _quoted_id(self) -> str:
        return urllib.parse.quote(self.options.charger_id, safe="")

    @_step("start-transaction", needs=("registered",))
    async def _start_transaction(self):
        self._accepted_tag()
        if "remote start" not in self.have:
            raise StepSkipped(f"needs {NEEDS['remote start']}")
        payload, result = await self._sent("StartTransaction")
        status = (result.id_tag_info or {}).get("status")
        data = {"transaction_id": result.transaction_id, "id_tag_status": status}
        if status != AuthorizationStatus.accepted:
            raise StepFailed(
                f"transactionId {result.transaction_id}, but idTagInfo {status}: the charger "
                "ends the transaction at once", **data
            )
        self.transaction_id = result.transaction_id
        self.have.add("transaction")
        return (
            f"transactionId {result.transaction_id}, idTagInfo Accepted, meterStart "
            f"{payload['meter_start']} Wh", data
        )

    @_step("meter-values", needs=("transaction",))
    async def _meter_values(self):
        self._online()
        values = self.charger._samples(self._connector, ReadingContext.sample_periodic)
        await self._answer(
            self.charger.meter_values(self.options.connector_id, values=values), "MeterValues"
        )
        seen = ", ".join(
            f"{v['measurand']}{'.' + v['phase'] if 'phase' in v else ''} {v['value']} {v['unit']}"
            for v in values
        )
        return f"answered ({seen})"

    @_step("remote-stop", needs=("token", "transaction"), waits=2)
    async def _remote_stop(self):
        self._online()
        body = {"transaction_id": self.transaction_id}
        await self._command_through_api(
            f"chargers/{self._quoted_id}/remote-stop/", body, Action.remote_stop_transaction
        )
        return (
            f"RemoteStopTransaction received for transaction {self.transaction_id}, answered "
            "Accepted; API HTTP 200 (its StopTransaction goes out after the reconnect)"
        )

    @_step("malformed-frames", needs=("registered",), waits=2)
    async def _malformed_frames(self):
        """OCPP-J §4.2.3: a CALLERROR for each, and the connection stays usable."""
        self._online()
        suffix = secrets.token_hex(4)
        bad_json, unknown = f"check-json-{suffix}", f"check-action-{suffix}"
        await self.charger.send_raw(f'[2,"{bad_json}","Heartbeat",{{')  # JSON cut short
        await self.charger.send_raw(json.dumps([2, unknown, "CheckUnknownAction", {}]))
        replies = await asyncio.gather(self._raw_reply(bad_json), self._raw_reply(unknown))
        expected = (
            ("invalid JSON", "invalid_json_code", FORMATION_CODES),
            ("an unknown action", "unknown_action_code", UNKNOWN_ACTION_CODES),
        )
        problems, data = [], {}
        for (what, key, wanted), reply in zip(expected, replies):
            data[key], problem = self._judge_error_reply(reply, what, wanted)
            if problem:
                problems.append(problem)
        try:
            await self._answer(self.charger.heartbeat(), "a Heartbeat after them")
        except StepFailed as failed:
            problems.append(failed.detail)
        if problems:
            raise StepFailed("; ".join(problems), **data)
        return (
            f"invalid JSON -> CALLERROR {data['invalid_json_code']}, unknown action -> CALLERROR "
            f"{data['unknown_action_code']}; a Heartbeat after them was answered", data
        )

    async def _raw_reply(self, unique_id: str) -> list | None:
        try:
            return await self.charger.next_raw_reply(unique_id, self.timeout)
        except asyncio.TimeoutError:
            return None

    def _judge_error_reply(
        self, reply: list | None, what: str, wanted: tuple[str, ...]
    ) -> tuple[str | None, str | None]:
        """(the CALLERROR code, the problem or None) of the reply to a malformed frame."""
        if reply is None:
            return None, f"{what}: no answer within {self.timeout:g} s"
        if reply[0] != 4:
            return None, f"{what}: answered with a CALLRESULT, not a CALLERROR"
        code = reply[2]
        if code not in wanted:
            kind = "" if code in OCPP16_ERROR_CODES else " (not an OCPP-J 1.6 error code)"
            return code, f"{what}: CALLERROR {code}{kind}, expected {' or '.join(wanted)}"
        return code, None

    @_step("reconnect-without-boot", needs=("registered",), waits=2)
    async def _reconnect_without_boot(self):
        await self.charger.disconnect(1000, "commissioning check: reconnect")
        await self._reopen()
        await self._answer(
            self.charger.heartbeat(), "the Heartbeat after reconnecting without a BootNotification"
        )
        return "disconnected and reconnected without a BootNotification; Heartbeat answered"

    @_step("stop-after-reconnect", needs=("transaction",), waits=2)
    async def _stop_after_reconnect(self):
        again = ""
        if not self.charger.connected:
            await self._reopen()
            again = " (reconnected again, without a BootNotification)"
        self.meter_stop = self.charger._read_meter(self._connector)
        self.have.add("stop sent")
        stop = self.charger.stop_transaction(
            transaction_id=self.transaction_id,
            reason=Reason.remote,
            meter_stop=self.meter_stop,
            id_tag=self.options.id_tag,
        )
        try:
            result = await self._answer(stop, "StopTransaction")
        except StepFailed as failed:
            failed.data["meter_stop"] = self.meter_stop
            raise
        info = result.id_tag_info
        said = f"idTagInfo {info.get('status')}" if info else "no idTagInfo"
        return (
            f"StopTransaction for transaction {self.transaction_id} (meterStop {self.meter_stop} "
            f"Wh) answered, {said}{again}", {"meter_stop": self.meter_stop}
        )

    @_step("transaction-closed", needs=("token", "stop sent"))
    async def _transaction_closed(self):
        path = f"transactions/?charger={self._quoted_id}&limit=100"
        answer = await self._api("GET", path)
        items = answer.json.get("items") if isinstance(answer.json, dict) else None
        if answer.status == 404 or (answer.status == 200 and not isinstance(items, list)):
            raise StepSkipped(
                f"GET {self.rest.url(path)} answered HTTP {answer.status} without evedge's "
                "transaction list: this API is not evedge's"
            )
        if answer.status != 200:
            raise StepFailed(f"GET {self.rest.url(path)}: HTTP {answer.status}: "
                             f"{answer.error_text()}")
        row = next((i for i in items if isinstance(i, dict) and i.get("id") == self.transaction_id),
                   None)
        if row is None:
            raise StepFailed(f"transaction {self.transaction_id} is not listed for "
                             f"{self.options.charger_id}")
        if row.get("active") is not False or row.get("stop_time") is None:
            raise StepFailed(f"transaction {self.transaction_id} is still open")
        if row.get("meter_stop") != self.meter_stop:
            raise StepFailed(
                f"transaction {self.transaction_id} stopped with meter_stop "
                f"{row.get('meter_stop')}, but the StopTransaction said {self.meter_stop}"
            )
        return (
            f"transaction {self.transaction_id} stopped ({row.get('stop_reason')}), meter_stop "
            f"{self.meter_stop} Wh, energy {row.get('energy_wh')} Wh",
            {"transaction": row},
        )
