"""The REST fuzzer: schemathesis against the real server's own /api/openapi.json.

Every documented operation gets schema-valid (positive) and schema-violating
(negative) requests, with a bearer token of the admin, and with values the campaign
found trouble with mixed in: ids known to exist, 5,000-character and NUL-bearing
strings, 20-digit numbers, times in year 1 and 9999 with a zone that pushes them out
of range, path parameters that are no file name. For every answer:

* no 500, and a 5xx only where the document lists it (503 for an offline charger);
* status code, content type and body as the document says (schemathesis' checks);
* every 4xx of the JSON API is ``{"error": "..."}`` (with ``field`` a string when
  present), and every JSON body is valid JSON (no NaN or Infinity);
* nothing logged at ERROR or with a traceback.

Generated headers that frame the HTTP message itself (Transfer-Encoding, Content-Length,
Host...) are dropped: those reach Tornado's HTTP parser, not the API.

The server runs in a thread (server_thread.py), since schemathesis' client blocks.
Accounts the fuzzer needs stay out of its reach: PATCH /api/users/<id>/ aimed at the
admin or the logout account goes to a third one, and each logout spends a fresh
login of its own. POST /ui/run-simulator/ is left out: it starts simulated chargers
that dial the configured port and act on the commands the fuzzer sends.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import hypothesis.errors
import pytest
import schemathesis
import schemathesis.checks
import websockets
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from schemathesis import GenerationMode

from fuzz_kit import strict_json
from server_thread import ServerThread

PASSWORD = "correct-horse-battery"
# Headers that frame the HTTP message: generated ones (``Transfer-Encoding: 4.``) test
# Tornado's HTTP parser, which answers a bare 400 before any handler, not the API.
FRAMING_HEADERS = {"transfer-encoding", "content-length", "host", "connection", "expect"}
SKIPPED = {"POST /ui/run-simulator/"}
CHECKS = [schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance,
          schemathesis.checks.response_schema_conformance]
# Strings that broke routes: too long for a file name, NUL (PostgreSQL), lone surrogates
# (no driver encodes them), numbers beyond int64, times at the edge of years 1..9999.
NASTY_TEXT = ["C" * 5000, "\x00", "a\x00b", "\ud800", "9" * 20, "-1", "0", "",
              "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00",
              "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59.999999Z", "..", ".", "%",
              " ", "\u00e9" * 300, "\U0001f50c" * 64, "a/b", "1e999", "NaN", "true"]
NASTY_VALUES = [*NASTY_TEXT, 2 ** 63, -2 ** 63 - 1, 10 ** 30, 1e308, -0.0, True, None, [],
                {}, [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]], {"": {"\x00": 1}}]
NASTY_QUERY = [text for text in NASTY_TEXT if text != "\ud800"]   # requests encodes UTF-8
NASTY_PATH = [text for text in NASTY_TEXT if text]   # an empty value is another path
# The normal round draws the same cases every run (conftest's hypothesis profile);
# the long fuzz (-m slow) explores new ones every run.
FUZZ = settings(max_examples=3, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck))
LONG_FUZZ = settings(FUZZ, max_examples=60, derandomize=False)
T0 = "2026-11-20T10:00:00Z"


@dataclass
class Seeds:
    """What the fuzzer's server holds before the first request, and how to reach it."""

    token: str
    known: dict[str, list[str]]
    protected_users: set[str]
    spare_user: str
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


async def _seed(running) -> Seeds:
    api = running.api
    token = (await api.register("alice", PASSWORD))["access"]
    for username, role in (("lou", "viewer"), ("victim", "operator")):
        created = await api.post("/api/users/", {"username": username, "password": PASSWORD,
                                                 "role": role}, token=token)
        assert created.status == 201, created.body
    users = {u["username"]: str(u["id"]) for u in (await api.get("/api/users/", token=token))
             .body["items"]}
    assert (await api.post("/api/id-tags/", {"id_tag": "TAG-1"}, token=token)).status == 201
    transactions = await _seed_charger(running, token)
    firmware = await api.request("PUT", "/api/firmware/fw.bin", raw=b"firmware", token=token,
                                 headers={"Content-Type": "application/octet-stream"})
    assert firmware.status == 201, firmware.body
    location = (await api.get("/api/diagnostics/location/CP-REST/", token=token)).body
    upload_path = location["location"].removeprefix(api.base) + "diag.log"
    uploaded = await api.request("PUT", upload_path, raw=b"log",
                                 headers={"Content-Type": "text/plain"})
    assert uploaded.status == 201, uploaded.body
    known = {"charger_id": ["CP-REST"], "charge_point_id": ["CP-REST"], "id_tag": ["TAG-1"],
             "name": ["fw.bin", "diag.log"], "transaction_id": transactions,
             "user_id": [users["victim"]]}
    return Seeds(token, known, {users["alice"], users["lou"]}, users["victim"])


async def _seed_charger(running, token: str) -> list[str]:
    """A charger with a finished and a running transaction, meter samples and a status."""
    async with websockets.connect(f"{running.ocpp_url}/CP-REST", subprotocols=["ocpp1.6"],
                                  open_timeout=5) as ws:
        async def call(action: str, payload: dict) -> dict:
            await ws.send(json.dumps([2, action, action, payload]))
            reply = json.loads(await ws.recv())
            assert reply[0] == 3, reply
            return reply[2]
        await call("BootNotification", {"chargePointVendor": "Fz", "chargePointModel": "R"})
        await call("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                          "status": "Charging"})
        ids = []
        for connector in (1, 2):
            started = await call("StartTransaction", {"connectorId": connector,
                                                      "idTag": "TAG-1", "meterStart": 0,
                                                      "timestamp": T0})
            ids.append(started["transactionId"])
            await call("MeterValues", {"connectorId": connector, "transactionId": ids[-1],
                                       "meterValue": [{"timestamp": T0, "sampledValue": [
                                           {"value": "1234"}]}]})
        await call("StopTransaction", {"transactionId": ids[0], "meterStop": 1500,
                                       "timestamp": T0})
    return [str(i) for i in ids]


@pytest.fixture(scope="module")
def rest_server(tmp_path_factory):
    server = ServerThread(tmp_path_factory.mktemp("rest-fuzz")).start()
    server.seeds = server.run(lambda: _seed(server.running))
    server.schema = schemathesis.openapi.from_url(server.running.http_url + "/api/openapi.json")
    yield server
    server.stop()
    statuses = dict(sorted(server.seeds.statuses.items()))
    print(f"\n{server.seeds.cases} REST cases, statuses {statuses}")


def operations(schema) -> list[Any]:
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label not in SKIPPED:
            found.append(operation)
    return found


# --- one case ----------------------------------------------------------------------------

def mix_in(case: Any, data: st.DataObject, seeds: Seeds) -> None:
    """Replace some of the generated values with known ids or with nasty ones."""
    for name in list(case.headers or {}):
        if name.lower() in FRAMING_HEADERS:
            del case.headers[name]
    for name in list(case.path_parameters or {}):
        choice = data.draw(st.sampled_from(["generated", "known", "nasty"]), label=name)
        if choice == "known" and name in seeds.known:
            case.path_parameters[name] = quote(data.draw(st.sampled_from(seeds.known[name])))
        elif choice == "nasty":
            value = data.draw(st.sampled_from(NASTY_PATH), label=name)
            case.path_parameters[name] = path_value(value)
    for parameter in case.operation.query:
        if data.draw(st.integers(0, 3), label=parameter.name) == 0:
            case.query = {**(case.query or {}),
                          parameter.name: data.draw(st.sampled_from(NASTY_QUERY))}
    json_body = (case.media_type or "").startswith("application/json")
    if json_body and isinstance(case.body, dict) and case.body and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(case.body)), label="body key")
        case.body[key] = data.draw(st.sampled_from(NASTY_VALUES), label=key)
    user = (case.path_parameters or {}).get("user_id")
    if user is not None and str(user) in seeds.protected_users:
        case.path_parameters["user_id"] = seeds.spare_user


def path_value(text: str) -> str:
    """``text`` percent-encoded as one path segment, dots too (``..`` would be resolved
    by the client into another path), lone surrogates as the bytes Python gives them."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="").replace(".", "%2E")


def headers_for(server: ServerThread, case: Any) -> dict[str, str]:
    token = server.seeds.token
    if case.operation.label == "POST /api/auth/logout/":
        accounts = server.running.services.accounts
        _, tokens = server.run(lambda: accounts.login("lou", PASSWORD, "fuzz-logout"))
        token = tokens.access
    return {"Authorization": f"Bearer {token}"}


def check(case: Any, response: Any, caplog) -> None:
    label = case.operation.label
    assert response.status_code != 500, (label, response.text[:300], case.as_curl_command())
    case.validate_response(response, checks=CHECKS)
    media = response.headers.get("Content-Type", "")
    if media.startswith("application/json") and response.content:
        body = strict_json(response.content)
        if 400 <= response.status_code < 500:
            assert isinstance(body, dict) and isinstance(body.get("error"), str), (label, body)
            assert isinstance(body.get("field", ""), str), (label, body)
    # Tornado's access log writes every 5xx (a documented 503 too) at ERROR: the status
    # is checked above; here, anything else at ERROR, and any traceback.
    errors = [r.getMessage()[:300] for r in caplog.records if r.exc_info or (
        r.levelno >= logging.ERROR and r.name != "tornado.access")]
    assert not errors, (label, errors)


def fuzz_operation(server: ServerThread, operation: Any, mode: GenerationMode, rules,
                   caplog) -> None:
    base = server.running.http_url
    seeds = server.seeds

    @rules
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def one_case(case: Any, data: st.DataObject) -> None:
        caplog.clear()   # what is logged from here on is this case's
        mix_in(case, data, seeds)
        case.headers = {**(case.headers or {}), **headers_for(server, case)}
        response = case.call(base_url=base, timeout=20)
        seeds.cases += 1
        seeds.statuses[response.status_code] = seeds.statuses.get(response.status_code, 0) + 1
        check(case, response, caplog)

    try:
        one_case()
    except hypothesis.errors.Unsatisfiable:
        pass   # nothing about the operation can be made invalid (no parameters, no body)


def run_fuzz(server: ServerThread, rules, caplog) -> None:
    failures = []
    for operation in operations(server.schema):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(server, operation, mode, rules, caplog)
            except (AssertionError, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])
    assert not failures, "\n\n".join(failures)


def test_every_documented_operation_survives_fuzzed_requests(rest_server, caplog):
    run_fuzz(rest_server, FUZZ, caplog)


@pytest.mark.slow
@pytest.mark.skipif("'slow' not in config.getoption('markexpr')",
                    reason="long fuzz: select it with -m slow")
@pytest.mark.timeout(1800)
def test_long_rest_fuzz(rest_server, caplog):
    run_fuzz(rest_server, LONG_FUZZ, caplog)
