"""GET /api/openapi.json: a valid OpenAPI 3.1 document, true to the router and to real answers.

The route check works from the outside in: each documented path, filled with
sample values, must be routed by Tornado's own regexes to a handler that
implements the documented method; and every (route, method) of ``make_app``
must be reached by some documented operation. The answer checks validate real
answers against the documented schemas, made strict (no undocumented keys).
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import tornado.web
import tornado.websocket
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from openapi_spec_validator import validate

import evedge
from evedge.chargers.catalog import COMMANDS
from evedge.storage.models import IdTag
from evedge.web import openapi
from evedge.web.app import make_app
from evedge.web.base import NotFoundApiHandler

VERBS = ("get", "head", "post", "put", "patch", "delete", "options")
T0 = "2026-11-20T10:00:00Z"


@pytest.fixture
async def document(api) -> dict:
    response = await api.get("/api/openapi.json")
    assert response.status == 200, response.body
    return response.body


def operations(document: dict):
    for path, item in document["paths"].items():
        for verb, op in item.items():
            if verb in VERBS:
                yield path, verb, op


# --- the document itself -----------------------------------------------------------------------

async def test_document_is_served_without_auth_and_is_valid_openapi(server, api):
    # Built here too, so that a route the generator cannot document fails with its reason
    # (openapi.RouteError) rather than as a 500 from the endpoint.
    built = json.loads(json.dumps(openapi.build_document(make_app(server.services))))
    response = await api.get("/api/openapi.json")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert (await api.get("/api/openapi.json")).body == response.body
    document = response.body
    assert document == built
    validate(document)  # raises with the offending part
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == evedge.__version__
    assert "/ocpp/" in document["info"]["description"]


async def test_every_operation_is_described(document):
    ids = []
    for path, verb, op in operations(document):
        where = f"{verb.upper()} {path}"
        assert not op.get("x-evedge-undocumented"), f"{where}: add it to openapi.SPECS"
        assert op["summary"].strip() and op["tags"], where
        assert any(code.startswith("2") or code == "101" for code in op["responses"]), where
        if op.get("x-evedge-role"):
            assert op["security"] == [{"bearer": []}], where
            assert {"401", "403"} <= set(op["responses"]), where
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids))


async def test_each_command_has_its_own_schemas_in_snake_case(document):
    schemas = document["components"]["schemas"]
    for slug, command in COMMANDS.items():
        op = document["paths"][f"/api/chargers/{{charger_id}}/{slug}/"]["post"]
        assert op["x-ocpp-action"] == command.action
        body = op["requestBody"]["content"]["application/json"]["schema"]
        request = schemas[body["$ref"].rsplit("/", 1)[-1]]
        # The payload dataclass of the ocpp library is an independent source of the names.
        assert set(request["properties"]) == set(command.payload_class.__dataclass_fields__)
        assert set(request.get("required", ())) <= set(request["properties"])
        assert "$schema" not in request and "id" not in request
        answer = op["responses"]["200"]["content"]["application/json"]["schema"]
        response = schemas[answer["$ref"].rsplit("/", 1)[-1]]
        result_class = getattr(call_result, command.action)
        assert set(result_class.__dataclass_fields__) <= set(response["properties"])
    assert all(not re.search("[A-Z]", name)
               for schema in schemas.values() for name in _property_names(schema))


def _property_names(schema: Any):
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties":
                yield from value
            yield from _property_names(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _property_names(value)


# --- the document against the route table ------------------------------------------------------

def served_verbs(handler: type) -> set[str]:
    """The verbs evedge code implements (Tornado's defaults answer 405; a WebSocket, GET)."""
    if issubclass(handler, tornado.websocket.WebSocketHandler):
        return {"get"}
    return {verb for verb in VERBS
            if getattr(getattr(handler, verb), "__module__", "").startswith("evedge")}


def is_ours(rule) -> bool:
    return rule.target not in (tornado.web.StaticFileHandler, NotFoundApiHandler)


def path_samples(path: str, op: dict) -> dict[str, str]:
    """A distinct sample value per path parameter, a number where the schema says integer."""
    kinds = {p["name"]: p["schema"].get("type") for p in op.get("parameters", ())
             if p["in"] == "path"}
    names = re.findall(r"\{(\w+)\}", path)
    return {name: f"{70 + i}" if kinds[name] == "integer" else f"p{i}-x"
            for i, name in enumerate(names)}


def sample_url(path: str, op: dict) -> str:
    samples = path_samples(path, op)
    return re.sub(r"\{(\w+)\}", lambda m: samples[m.group(1)], path)


def first_rule(rules: list, url: str) -> int | None:
    """The rule Tornado's router picks: the first whose regex matches the whole path."""
    return next((i for i, rule in enumerate(rules) if rule.matcher.regex.match(url)), None)


async def test_document_and_router_agree_both_ways(server, document):
    rules = make_app(server.services).wildcard_router.rules
    served = {(i, verb) for i, rule in enumerate(rules) if is_ours(rule)
              for verb in served_verbs(rule.target)}
    assert all(served_verbs(rule.target) for rule in rules if is_ours(rule))
    reached = set()
    for path, verb, op in operations(document):
        url = sample_url(path, op)
        index = first_rule(rules, url)
        assert index is not None and is_ours(rules[index]), \
            f"{verb.upper()} {path} is documented but nothing serves {url}"
        # Each parameter must be one whole group of the route, not a part of one.
        groups = rules[index].matcher.regex.match(url).groups()
        samples = list(path_samples(path, op).values())
        assert [g for g in groups if g in samples] == samples, \
            f"{path} does not line up with {rules[index].matcher.regex.pattern}"
        assert all(g in samples or f"/{g}/" in path for g in groups), path
        handler = rules[index].target
        assert verb in served_verbs(handler), \
            f"{verb.upper()} {path} is documented but {handler.__name__} has no {verb}()"
        reached.add((index, verb))
    missing = sorted(f"{verb.upper()} {rules[i].matcher.regex.pattern}"
                     for i, verb in served - reached)
    assert not missing, f"served but not documented: {missing}"


async def test_every_documented_operation_reaches_its_handler_over_http(api, document):
    """Without a token or a body, each documented operation answers one of its documented
    statuses, from its own handler (not 405, not a 404 for an unknown path)."""
    for path, verb, op in operations(document):
        response = await api.request(verb.upper(), sample_url(path, op))
        where = f"{verb.upper()} {path} -> {response.status} {response.body!r}"
        assert response.status != 405, where
        assert str(response.status) in op["responses"], where
        if isinstance(response.body, dict):
            assert not response.body.get("error", "").startswith("no such endpoint"), where
        else:
            assert "404: Not Found" not in (response.body or ""), where


# --- real answers against the documented schemas ----------------------------------------------

def strict(schema: Any) -> Any:
    """No undocumented keys: objects with properties get additionalProperties false
    unless the document says otherwise (the Error schema allows details)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) if key != "properties" else
           {name: strict(sub) for name, sub in value.items()} for key, value in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class Answers:
    """Checks real answers against the document: status documented, body valid."""

    def __init__(self, document: dict):
        self.document = document
        self.components = strict(document["components"]["schemas"])
        self.checked: list[str] = []

    def check(self, method: str, path: str, response) -> Any:
        op = self.document["paths"][path][method.lower()]
        documented = op["responses"].get(str(response.status))
        assert documented is not None, \
            f"{method} {path} answered {response.status}, not documented: {response.body}"
        if "$ref" in documented:
            documented = self.document["components"]["responses"][
                documented["$ref"].rsplit("/", 1)[-1]]
        schema = documented["content"]["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator(
            {**strict(schema), "components": {"schemas": self.components}},
            format_checker=jsonschema.FormatChecker())
        problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                    for e in validator.iter_errors(response.body)]
        assert not problems, f"{method} {path} {response.status}: {problems}"
        self.checked.append(f"{method} {path} {response.status}")
        return response.body


class ObligingCharger(ChargePoint):
    """Accepts what the answer checks send, answering optional fields as chargers often do."""

    @on(Action.get_configuration)
    def on_get_configuration(self, **kwargs):
        return call_result.GetConfiguration(configuration_key=[
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"}])

    @on(Action.reserve_now)
    def on_reserve_now(self, **kwargs):
        return call_result.ReserveNow(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(self, **kwargs):
        return call_result.DataTransfer(status="Accepted")  # no data: null in our answer

    @on(Action.remote_start_transaction)
    def on_remote_start(self, **kwargs):
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.send_local_list)
    def on_send_local_list(self, **kwargs):
        return call_result.SendLocalList(status="Accepted")

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, **kwargs):
        return call_result.SetChargingProfile(status="Accepted")


async def test_account_answers_match_their_schemas(api, document):
    answers = Answers(document)
    creds = {"username": "alice", "password": "correct-horse"}
    answers.check("GET", "/api/auth/setup/", await api.get("/api/auth/setup/"))
    answers.check("POST", "/api/auth/register/", await api.post(
        "/api/auth/register/", {**creds, "setup_code": "WRONG-CODE"}))
    session = answers.check("POST", "/api/auth/register/", await api.post(
        "/api/auth/register/", {**creds, "setup_code": api.setup_code()}))
    token = session["access"]
    answers.check("POST", "/api/auth/login/", await api.post("/api/auth/login/", creds))
    answers.check("POST", "/api/auth/login/",
                  await api.post("/api/auth/login/", {**creds, "password": "wrong-horse"}))
    answers.check("GET", "/api/auth/me/", await api.get("/api/auth/me/", token=token))
    answers.check("POST", "/api/auth/refresh/",
                  await api.post("/api/auth/refresh/", {"refresh": session["refresh"]}))
    user = answers.check("POST", "/api/users/", await api.post(
        "/api/users/", {"username": "vic", "password": "viewer-pass"}, token=token))
    answers.check("GET", "/api/users/", await api.get("/api/users/", token=token))
    answers.check("GET", "/api/users/{user_id}/",
                  await api.get(f"/api/users/{user['id']}/", token=token))
    answers.check("GET", "/api/users/{user_id}/", await api.get("/api/users/99/", token=token))
    answers.check("POST", "/api/id-tags/", await api.post(
        "/api/id-tags/", {"id_tag": "CARD-1", "expiry_date": "2099-01-01T00:00:00Z"},
        token=token))
    answers.check("POST", "/api/id-tags/", await api.post(
        "/api/id-tags/", {"id_tag": "CARD-1"}, token=token))
    answers.check("GET", "/api/id-tags/", await api.get("/api/id-tags/", token=token))
    answers.check("GET", "/api/id-tags/{id_tag}/",
                  await api.get("/api/id-tags/CARD-1/", token=token))
    answers.check("POST", "/api/id-tags/import/", await api.post(
        "/api/id-tags/import/", {"csv": "id_tag,status\nCARD-2,Blocked\n"}, token=token))
    answers.check("GET", "/api/chargers/", await api.get("/api/chargers/"))
    answers.check("GET", "/healthz", await api.get("/healthz"))
    answers.check("GET", "/api/firmware/", await api.get("/api/firmware/", token=token))
    uploaded = await api.request("PUT", "/api/firmware/fw-1.bin", raw=b"\x00" * 64, token=token,
                                 headers={"Content-Type": "application/octet-stream"})
    answers.check("PUT", "/api/firmware/{name}", uploaded)
    answers.check("GET", "/api/firmware/{name}", await api.get("/api/firmware/fw-1.bin",
                                                               token=token))


async def test_charger_and_command_answers_match_their_schemas(api, document, library_charger):
    answers = Answers(document)
    token = (await api.register())["access"]
    IdTag.create(id_tag="CARD-1", status="Accepted")
    commands = "/api/chargers/{charger_id}/%s/"

    async def command(slug: str, body: dict):
        response = await api.post(f"/api/chargers/CP-DOC/{slug}/", body, token=token)
        return answers.check("POST", commands % slug, response)

    async with library_charger("CP-DOC", cls=ObligingCharger) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="X1"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                              status="Charging"))
        start = await cp.call(call.StartTransaction(connector_id=1, id_tag="CARD-1",
                                                    meter_start=1000, timestamp=T0))
        await cp.call(call.MeterValues(connector_id=1, transaction_id=start.transaction_id,
                                       meter_value=[{"timestamp": T0, "sampled_value": [
                                           {"value": "1500", "unit": "Wh"},
                                           {"value": "7.2", "unit": "kW",
                                            "measurand": "Power.Active.Import"}]}]))

        configuration = await command("get-configuration", {})
        assert "unknown_key" not in configuration  # not sent by the charger: left out
        reservation = await command("reserve-now", {
            "connector_id": 1, "expiry_date": "2099-01-01T00:00:00Z", "id_tag": "CARD-1",
            "reservation_id": 41})
        assert reservation == {"status": "Accepted", "reservation_id": 41}
        assert "data" not in (await command("data-transfer", {"vendor_id": "acme"}))
        await command("set-charging-profile", {"connector_id": 1, "cs_charging_profiles": {
            "charging_profile_id": 5, "stack_level": 0,
            "charging_profile_purpose": "TxDefaultProfile", "charging_profile_kind": "Relative",
            "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [
                {"start_period": 0, "limit": 16.0}]}}})
        await command("reset", {})  # 400: type is required
        answers.check("POST", "/api/chargers/start/{charger_id}/", await api.post(
            "/api/chargers/start/CP-DOC/", {"connector_id": 1, "id_tag": "CARD-1"}, token=token))
        answers.check("POST", "/api/chargers/{charger_id}/local-list/sync/", await api.post(
            "/api/chargers/CP-DOC/local-list/sync/", {"mode": "full"}, token=token))

        [charger] = answers.check("GET", "/api/chargers/", await api.get("/api/chargers/",
                                                                         token=token))
        assert charger["online"] and charger["active_transaction"]["power_w"] == 7200
        detail = answers.check("GET", "/api/chargers/{charger_id}/",
                               await api.get("/api/chargers/CP-DOC/", token=token))
        assert detail["configuration"] and detail["reservations"]
        assert detail["charging_profiles"]
        await cp.call(call.StopTransaction(meter_stop=2000, timestamp=T0,
                                           transaction_id=start.transaction_id))

    answers.check("POST", commands % "clear-cache", await api.post(
        "/api/chargers/CP-DOC/clear-cache/", {}, token=token))  # 503: offline now
    answers.check("GET", "/api/chargers/{charger_id}/local-list/",
                  await api.get("/api/chargers/CP-DOC/local-list/", token=token))
    answers.check("GET", "/api/transactions/", await api.get("/api/transactions/", token=token))
    transaction = answers.check("GET", "/api/transactions/{transaction_id}/", await api.get(
        f"/api/transactions/{start.transaction_id}/", token=token))
    assert transaction["meter_samples"] and not transaction["active"]
    answers.check("GET", "/api/command-log/", await api.get("/api/command-log/", token=token))
    granted = answers.check("GET", "/api/diagnostics/location/{charger_id}/",
                            await api.get("/api/diagnostics/location/CP-DOC/", token=token))
    location = granted["location"].removeprefix(api.base)
    answers.check("PUT", "/diagnostics/{charger_id}/{token}/{name}", await api.request(
        "PUT", location + "diag.zip", raw=b"PK", headers={
            "Content-Type": "application/octet-stream"}))
    answers.check("PUT", "/diagnostics/{charger_id}/{token}", await api.request(
        "PUT", "/diagnostics/CP-DOC/diag.zip", raw=b"PK", headers={
            "Content-Type": "application/octet-stream"}))  # no grant: 403
    answers.check("GET", "/api/diagnostics/", await api.get("/api/diagnostics/", token=token))
    answers.check("PATCH", "/api/chargers/{charger_id}/", await api.request(
        "PATCH", "/api/chargers/CP-DOC/", {"label": "bay 3"}, token=token))
    answers.check("POST", "/api/chargers/", await api.post(
        "/api/chargers/", {"id": "CP-NEW", "registration_status": "Pending"}, token=token))


async def test_answers_are_checked_strictly(document):
    """The strict check refuses a key the document does not name (so it can catch drift)."""
    answers = Answers(document)

    class Fake:
        status, body = 200, {"id": 1, "username": "a", "role": "admin", "surprise": 1}

    with pytest.raises(AssertionError, match="surprise"):
        answers.check("GET", "/api/auth/me/", Fake)
