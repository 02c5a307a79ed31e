"""What each endpoint reads and answers, for the OpenAPI document (``openapi.py``).

Schemas are small JSON-schema dicts keyed by the verb that reads or writes them
(``Class.verb``); the 19 OCPP commands take theirs from the official 1.6 schemas,
converted to snake_case. ``tests/test_openapi.py`` validates real answers
against these schemas, so they cannot drift silently.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from typing import Any

from .. import rehearsal
from ..chargers import catalog, protocol
from ..domain.read_models import TRANSACTION_SORTS as SORTS
from ..domain.reports import GROUPS as REPORT_GROUPS

Schema = dict[str, Any]


# --- schema building blocks ----------------------------------------------------------------

def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """`schema` or null: what an optional field looks like when it is sent as null."""
    out = dict(schema)
    if isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    if "$ref" in out:
        return {"anyOf": [schema, {"type": "null"}]}
    return out


def obj(required: str | tuple[str, ...] = "*", **properties: Schema) -> Schema:
    """An object schema; `required="*"` (answers) means every property is always there."""
    names = list(properties) if required == "*" else list(required)
    schema: Schema = {"type": "object", "properties": properties}
    if names:
        schema["required"] = names
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def enum_int(*values: int) -> Schema:
    return {"type": "integer", "enum": list(values)}


def extend(base: Schema, **properties: Schema) -> Schema:
    """`base` with more (or narrower) properties, always there."""
    return {**base, "properties": {**base["properties"], **properties},
            "required": list(dict.fromkeys([*base.get("required", ()), *properties]))}


def page(item: str) -> Schema:
    return obj(items=array(ref(item)), total=INT, limit=INT, offset=INT)


STR, INT, NUM = {"type": "string"}, {"type": "integer"}, {"type": "number"}
BOOL = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
ROLE = enum("admin", "operator", "viewer")
REGISTRATION = enum("Accepted", "Pending", "Rejected")
TAG_STATUS = enum("Accepted", "Blocked", "Expired")
ANY: Schema = {}
BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}

TRANSACTION = obj(
    id=INT, charger_id=STR, connector_id=INT, id_tag=STR, auth_status=STR,
    reservation_id=nullable(INT), meter_start=INT, meter_stop=nullable(INT),
    start_time=TIME, start_received_at=TIME, stop_time=nullable(TIME),
    stop_received_at=nullable(TIME), stop_reason=nullable(STR), stop_id_tag=nullable(STR),
    energy_wh=nullable(NUM), stop_inferred=BOOL, note=STR, active=BOOL)
# Active transactions also carry the latest readings from their meter samples.
TRANSACTION["properties"].update(power_w=nullable(NUM), meter_now=nullable(NUM),
                                 last_meter_at=nullable(TIME))
TRANSACTION["description"] = ("Times are RFC 3339 UTC; `*_time` is the charger's clock, "
                              "`*_received_at` ours. `power_w`, `meter_now` and "
                              "`last_meter_at` (when its newest meter sample was received) "
                              "are there while the transaction is active.")

CONNECTOR = obj(connector_id=INT, status=STR, error_code=STR, info=STR,
                vendor_error_code=STR, status_at=nullable(TIME), updated_at=nullable(TIME),
                active_transaction=nullable(ref("Transaction")))

CHARGER = obj(
    id=STR, label=STR, location=STR, registration_status=REGISTRATION, online=BOOL,
    last_seen=nullable(TIME), last_boot_at=nullable(TIME), connected_at=nullable(TIME),
    disconnected_at=nullable(TIME), vendor=STR, model=STR, serial_number=STR,
    charge_box_serial_number=STR, firmware_version=STR, firmware_status=STR,
    diagnostics_status=STR, has_password=BOOL, connectors=array(ref("Connector")),
    active_transaction=nullable(ref("Transaction")),
    active_transactions=array(ref("Transaction")))

# The connector's latest Energy.Active.Import.Register reading, in a transaction or not.
LAST_METER = nullable(obj(
    energy_wh=nullable(NUM), raw_value=nullable(STR), timestamp=TIME, received_at=TIME,
    transaction_id=nullable(INT)))

CHARGER_DETAIL = extend(
    CHARGER,
    connectors=array(ref("ConnectorDetail")),
    configuration={"type": "object", "description": "from the last get-configuration answers",
                   "additionalProperties": obj(("readonly",), value=nullable(STR),
                                               readonly=nullable(BOOL))},
    local_list_version=nullable(INT),
    reservations=array(obj(reservation_id=INT, connector_id=INT, id_tag=STR,
                           expiry_date=TIME, status=STR)),
    charging_profiles={**array(obj(
        charging_profile_id=INT, connector_id=INT, stack_level=INT, purpose=STR,
        transaction_id={**nullable(INT), "description": "a TxProfile's transaction; null "
                        "while the transaction of a remote start has not started"},
        profile={"type": "object", "description": "csChargingProfiles as sent (snake_case)"},
        sent_at=TIME)),
        "description": "the profiles in force on the charger: a SetChargingProfile with the "
                       "same id, or the same connector, stack_level and purpose, replaces "
                       "one (OCPP 1.6 §5.16.3); a TxProfile ends with its transaction; a "
                       "clear-charging-profile the charger accepted removes what it "
                       "matches; one past its valid_to is left out"},
    repairs={**array(obj(
        action=STR, field={**STR, "description": "the field's path without array indexes, "
                           "e.g. meterValue[].sampledValue[].unit"},
        kind={**STR, "description": "the kind of repair (evedge/chargers/tolerance.py), e.g. "
              "enum_raw, unknown_property, number_from_string"},
        repair={**STR, "description": "what evedge did, in words"},
        count=INT, first_seen_at=TIME, last_seen_at=TIME,
        example={**STR, "description": "what the charger sent the first time, cut short"})),
        "description": "the firmware deviations evedge repaired for this charger, most "
                       "recently seen first (docs/decisions.md D22)"})

TAG_FIELDS = dict(
    status=TAG_STATUS, expiry_date=nullable(TIME), parent_id_tag=nullable(STR),
    max_active_transactions=nullable({"type": "integer", "minimum": 1, "maximum": 100_000}),
    note={"type": "string", "maxLength": 200})
ID_TAG = {"type": "string", "minLength": 1, "maxLength": 20}

VECTOR = {**array(NUM), "minItems": 3, "maxItems": 3,
          "description": "amperes per site phase: [L1, L2, L3]"}
CURRENT_LIMIT = {"anyOf": [NUM, VECTOR, {"type": "null"}]}
SITE_CIRCUIT = obj(id=STR, parent=nullable(STR), max_current_a=CURRENT_LIMIT,
                   max_power_kw=nullable(NUM), margin_a=NUM, phases=enum_int(1, 3),
                   phase=nullable(enum("L1", "L2", "L3")), voltage_v=NUM)
SITE_CHARGER = obj(charger_id=STR, connector_id=nullable(INT), circuit=STR,
                   min_current_a=NUM, max_current_a=NUM, phases=enum_int(1, 3),
                   phase_rotation=enum("RST", "RTS", "SRT", "STR", "TRS", "TSR"), priority=INT)
GRID_METER = obj(("circuit", "source"), circuit=STR, source=enum("charger", "rest", "modbus"),
                 charger_id=STR, connector_id=INT, host=STR, port=INT, unit_id=INT,
                 register=INT, scale=NUM)
SITE_MODEL = obj(circuits=array(ref("SiteCircuit")), chargers=array(ref("SiteCharger")),
                 tag_priorities={"type": "object", "additionalProperties": INT},
                 grid_meters=array(ref("GridMeter")))
SITE_MODEL_BODY = {**obj(("circuits", "chargers"), circuits=array(ANY), chargers=array(ANY),
                         tag_priorities={"type": "object"}, grid_meters=array(ANY)),
                   "description": "The site model (docs/load-management.md): defaults may be "
                                  "left out; unknown keys are a 400 naming them."}
ALLOCATED_CIRCUIT = obj(
    id=STR, limit_a=VECTOR, allocated_a=VECTOR, measured_a=nullable(VECTOR),
    headroom_a=VECTOR, overcommitted=BOOL, fixed_a=VECTOR, other_a=VECTOR,
    limit_kw=nullable(NUM), allocated_kw=NUM,
    grid_meter=nullable(obj(source=STR, status=enum("ok", "stale", "missing"),
                            reading_a=nullable(VECTOR), age_s=nullable(NUM))))
ALLOCATED_SESSION = obj(
    ("charger_id", "connector_id", "transaction_id", "circuit", "state", "allocated_a"),
    charger_id=STR, connector_id=INT, transaction_id=INT, circuit=STR,
    state=enum("charging", "queued"), allocated_a=VECTOR, measured_a=nullable(VECTOR),
    profile_status=nullable(STR), priority=INT, fixed=BOOL, fixed_reason=STR,
    hypothetical=BOOL, demand_a=nullable(NUM))
UNMANAGED = obj(charger_id=STR, connector_id=nullable(INT), transaction_id=nullable(INT))
WHAT_IF = obj(circuits=array(ref("AllocatedCircuit")), sessions=array(ref("AllocatedSession")),
              unmanaged=array(UNMANAGED))
SITE_ALLOCATION = extend(
    WHAT_IF, enabled=BOOL, version=INT, computed_at=nullable(NUM),
    site_source=enum("database", "file"),
    chargers=array(obj(charger_id=STR, online=BOOL, state=STR,
                       profile_purpose=nullable(enum("TxProfile", "TxDefaultProfile")),
                       max_profile=nullable(obj(target_a=nullable(NUM),
                                                accepted_a=nullable(NUM),
                                                profile_status=STR)))))
WHAT_IF_BODY = {**obj(("circuit", "extra_sessions"), circuit=STR,
                      extra_sessions={"type": "integer", "minimum": 0, "maximum": 1000},
                      template={**obj((), min_current_a=NUM, max_current_a=NUM,
                                      phases=enum_int(1, 3), phase_rotation=STR, priority=INT),
                                "additionalProperties": False,
                                "description": "the chargers the extra sessions are on "
                                               "(default 6-32 A, the circuit's phases)"}),
                "additionalProperties": False}
GRID_READING = {**obj(("current_a",), current_a=VECTOR), "additionalProperties": False}

SCHEMAS: dict[str, Schema] = {
    "Error": {**obj(("error",), error=STR, field=STR), "additionalProperties": True,
              "description": "Every 4xx/5xx answer. `field` names the offending input when "
                             "there is one; some errors add details (e.g. the charger's "
                             "`status`, a CSV `line` and `errors`)."},
    "Credentials": obj(("username", "password"), username=STR,
                       password={"type": "string", "minLength": 8}),
    "Registration": obj(("username", "password"), username=STR,
                        password={"type": "string", "minLength": 8},
                        setup_code={"type": "string", "description": "the one-time code the "
                                    "server prints while it has no admin (any case, dashes "
                                    "optional)"}),
    "Session": obj(message=STR, username=STR, role=ROLE, access=STR, refresh=STR),
    "Tokens": obj(access=STR, refresh=STR),
    "Me": obj(id=INT, username=STR, role=ROLE),
    "User": obj(id=INT, username=STR, role=ROLE, is_active=BOOL, created_at=TIME,
                last_login_at=nullable(TIME)),
    "NewUser": obj(("username", "password"), username=STR,
                   password={"type": "string", "minLength": 8},
                   role={**ROLE, "default": "viewer"}),
    "UserChange": {**obj((), role=ROLE, is_active=BOOL,
                         password={"type": "string", "minLength": 8}),
                   "additionalProperties": False},
    "IdTag": obj(id_tag=STR, **TAG_FIELDS,
                 effective_status={**TAG_STATUS, "description": "what a charger is told for "
                                   "the tag itself: Accepted past expiry_date is Expired"},
                 created_at=TIME, updated_at=TIME),
    "NewIdTag": {**obj(("id_tag",), id_tag=ID_TAG, **TAG_FIELDS), "additionalProperties": False},
    "IdTagChange": {**obj((), id_tag={**ID_TAG, "description": "ignored when it is the tag's "
                                                               "own id; cannot be changed"},
                          **TAG_FIELDS), "additionalProperties": False},
    "ImportResult": obj(created=INT, updated=INT),
    "LocalList": obj(charger_id=STR, list_version=nullable(INT), total=INT, entries=array(obj(
        id_tag=STR, status=STR, expiry_date=nullable(TIME), parent_id_tag=nullable(STR)))),
    "LocalListSync": obj(
        charger_id=STR, status=STR, applied=BOOL, list_version=INT,
        update_type=enum("differential", "full"), entries=INT,
        fallback_from=nullable(obj(update_type=STR, list_version=INT, status=STR))),
    "Connector": CONNECTOR,
    "ConnectorDetail": extend(CONNECTOR, last_meter=LAST_METER),
    "Transaction": TRANSACTION,
    "MeterSample": obj(timestamp=TIME, received_at=TIME, connector_id=INT, measurand=STR,
                       phase=nullable(STR), unit=nullable(STR), context=nullable(STR),
                       location=nullable(STR), value=nullable(NUM), raw_value=nullable(STR)),
    "TransactionDetail": extend(TRANSACTION, samples_total=INT,
                                meter_samples=array(ref("MeterSample"))),
    "Charger": CHARGER,
    "ChargerDetail": CHARGER_DETAIL,
    "NewCharger": {**obj(("id",), id={"type": "string", "minLength": 1, "maxLength": 64},
                         label={"type": "string", "maxLength": 100},
                         location={"type": "string", "maxLength": 200},
                         registration_status=REGISTRATION,
                         password=nullable({"type": "string", "minLength": 8, "maxLength": 64})),
                   "additionalProperties": False},
    "ChargerChange": {**obj((), label={"type": "string", "maxLength": 100},
                            location={"type": "string", "maxLength": 200},
                            registration_status=REGISTRATION,
                            password={**nullable({"type": "string", "minLength": 8,
                                                  "maxLength": 64}),
                                      "description": "HTTP Basic password for the charger "
                                                     "(security profile 1); null removes it"}),
                      "additionalProperties": False},
    "RemoteStartResult": obj(status=STR, charger_id=STR, connector_id=nullable(INT), id_tag=STR),
    "StatusEvent": obj(connector_id=INT, status=STR, error_code=STR, info=STR, vendor_id=STR,
                       vendor_error_code=STR, charger_time=nullable(TIME), received_at=TIME),
    "Anomaly": obj(kind=STR, detail=STR, received_at=TIME),
    "CommandLogEntry": obj(id=INT, charger_id=STR, username=STR, action=STR, request=ANY,
                           outcome=STR, response=ANY, sent_at=TIME,
                           answered_at=nullable(TIME)),
    "FirmwareFile": obj(name=STR, size=INT, sha256=STR, modified_at=TIME,
                        url={"type": "string", "description": "give it to update-firmware "
                                                              "as location"}),
    "DiagnosticsFile": obj(charger_id=STR, name=STR, size=INT, sha256=STR, received_at=TIME,
                           url=STR),
    "Health": obj(status=enum("ok"), time=TIME, chargers_online=INT),
    "TransactionPage": extend(page("Transaction"), totals=obj(
        count=INT, energy_wh={**NUM, "description": "sum over the finished sessions"},
        running={**INT, "description": "running sessions (counted in count, not in "
                                       "energy_wh)"})),
    "SiteCircuit": SITE_CIRCUIT,
    "SiteCharger": SITE_CHARGER,
    "GridMeter": GRID_METER,
    "SiteModel": SITE_MODEL,
    "AllocatedCircuit": ALLOCATED_CIRCUIT,
    "AllocatedSession": ALLOCATED_SESSION,
    "SiteAllocation": SITE_ALLOCATION,
    "WhatIf": WHAT_IF,
    "EnergyReport": obj(
        group=enum("day", "charger", "id_tag"),
        items=array(obj(key={**STR, "description": "UTC day (YYYY-MM-DD), charger id or "
                                                   "id tag"},
                        energy_wh=INT, sessions=INT)),
        total_energy_wh=INT,
        running_sessions={**INT, "description": "running sessions the filter matched; "
                                                "not counted until they stop"}),
}

RESPONSES: dict[int, str] = {
    400: "The request is invalid; `field` names the input at fault.",
    401: "No valid bearer access token.",
    403: "The account's role is not enough for this.",
    404: "No such resource.",
    409: "Conflicts with the current state (exists already, in use, charger not Accepted).",
    413: "The body is larger than allowed (`limit_bytes`).",
    415: "The body is not of a media type this endpoint reads (see `Content-Type`).",
    416: "The Range asked for is not in the file.",
    429: "Too many failed attempts, or one still being checked: wait `Retry-After` seconds.",
    502: "The charger answered with a CALLERROR (`code` and `description`).",
    503: "The charger is not connected, or the box is too busy checking passwords "
         "(then with `Retry-After`).",
    504: "The charger did not answer in time.",
    507: "Not enough free storage for the file.",
}
COMMAND_ERRORS = (400, 404, 409, 502, 503, 504)


# --- what each verb reads and answers --------------------------------------------------------

@dataclass
class Spec:
    """What a verb reads and answers; paths, methods and roles come from the handler."""

    ok: dict[int, Any] = field(default_factory=lambda: {200: None})  # status -> schema or content
    body: Any = None                # JSON schema, or {media type: schema}
    body_required: bool = True
    query: tuple[Schema, ...] = ()
    errors: tuple[int, ...] = ()
    headers: dict[str, Schema] = field(default_factory=dict)
    bearer: bool = False            # a bearer token is needed although permissions do not say so
    summary: str | None = None      # when the verb has no docstring
    note: str | None = None
    action: str | None = None       # the OCPP command this path sends
    error_text: dict[int, str] = field(default_factory=dict)  # instead of RESPONSES[status]


def query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def limit(default: int, maximum: int = 1000) -> Schema:
    return query("limit", {"type": "integer", "minimum": 1, "maximum": maximum,
                           "default": default}, "page size")


OFFSET = query("offset", {"type": "integer", "minimum": 0, "default": 0}, "items to skip")
CHARGER_Q = query("charger", STR, "only this charger's")
OVERWRITE = query("overwrite", BOOL, "replace an existing file of that name (1/true)")
TOTAL = {"X-Total-Count": {"schema": INT, "description": "items in all pages"}}
PROTOCOL_Q = query("protocol", enum("http", "ftp"),
                   "this protocol; without it, the charger's reported "
                   "SupportedFileTransferProtocols decides (HTTP when nothing is known)")
TRANSFER = {"location": {"type": "string", "format": "uri"},
            "protocol": {**enum("http", "ftp"), "description": "what the location uses"},
            "reason": {**STR, "description": "why that protocol, for the operator"}}
TRANSFER_NOTE = ("409 (`field` protocol) when only FTP would do and the box has no FTP server "
                 "(setting `ftp_port`). An ftp:// location carries its login: user "
                 "`firmware` or `diagnostics`, a token as password.")
FILE_OK = {200: {"application/octet-stream": {"schema": BINARY}},
           206: {"application/octet-stream": {"schema": BINARY}}, 304: {}}
HEAD_OK = {200: {}, 206: {}, 304: {}}
UPLOAD_BODY = {"multipart/form-data": {"schema": obj(("file",), file=BINARY)},
               "application/octet-stream": {"schema": BINARY}}

HTML = {200: {"text/html": {"schema": STR}}}
SIMULATED_CONNECTOR = obj(
    connector_id=INT, status=STR, error_code=STR, info=STR,
    plugged_in={**BOOL, "description": "a car is plugged in by a rehearsal (plug-in)"},
    transaction_id=nullable(INT))
SIMULATOR = obj(charger_id=STR, connected=BOOL, registration_status=nullable(STR),
                connectors=INT, power_w=NUM, meter_interval=NUM, started_at=TIME,
                held_offline={**BOOL, "description": "kept off the network by go-offline"},
                back_at={**nullable(TIME), "description": "when a timed go-offline ends"},
                connector_states={**array(SIMULATED_CONNECTOR), "description": "as the "
                                  "simulator itself knows them, connector 0 first"})
SIMULATOR_ACTED = extend(
    SIMULATOR, action=enum(*rehearsal.ACTIONS), connector_id=nullable(INT),
    authorization={**nullable(STR), "description": "swipe: the idTagInfo status the charger "
                   "acted on (null when the tag stopped its own session)"},
    transaction_id={**nullable(INT), "description": "swipe: the transaction started, or "
                    "stopped"},
    stopped={**BOOL, "description": "swipe: the tag stopped its own session"})


def simulator_action(summary: str, body: Schema | None, note: str) -> Spec:
    """The Spec of one rehearsal action (POST /ui/simulators/<charger_id>/<action>/)."""
    if body is not None:
        body = {**body, "additionalProperties": False}
    return Spec({200: SIMULATOR_ACTED}, body, body_required=bool(body and body.get("required")),
                errors=(400, 404, 409), summary=f"Rehearsal: {summary}",
                note=note + " 404 when no simulator of that id runs; 409 (saying why) when the "
                "action does not apply now; nothing is sent then.")


OUTLET = {"type": "integer", "minimum": 1, "description": "a connector of the simulator"}
ANY_CONNECTOR = {"type": "integer", "minimum": 0, "description": "0: the whole charger"}
SIMULATOR_START = obj(
    ("charger_id",), charger_id={"type": "string", "minLength": 1, "maxLength": 64},
    connectors={"type": "integer", "minimum": 1, "maximum": 8, "default": 1},
    power_w={"type": "number", "minimum": 100, "maximum": 350000, "default": 11000},
    meter_interval={"type": "number", "minimum": 1, "maximum": 3600, "default": 10,
                    "description": "seconds between MeterValues while charging"},
    password={"type": "string", "minLength": 8, "maxLength": 64,
              "description": "HTTP Basic password, for a charger that has one"})
SIMULATOR_START["additionalProperties"] = False
PAGE_NOTE = ("An HTML shell: its script calls the REST API with the bearer token kept in "
             "the browser's localStorage.")

SPECS: dict[str, Spec] = {
    # health, openapi
    "HealthHandler.get": Spec({200: ref("Health"), 503: obj(status=enum("error"), error=STR)}),
    "MetricsHandler.get": Spec(
        {200: {"text/plain": {"schema": STR}, "application/openmetrics-text": {"schema": STR}}},
        note="Prometheus text format (or OpenMetrics when `Accept` asks for it). Besides a "
             "user's access token, the bearer token may be the setting `metrics_token`, "
             "for Prometheus."),
    "OpenApiHandler.get": Spec({200: {"type": "object", "description": "this document"}}),
    # auth
    "RegisterHandler.post": Spec(
        {201: ref("Session")}, ref("Registration"), errors=(400, 403, 409, 429, 503),
        note="With `setup_code` while the box has no admin (`GET /api/auth/setup/`): the "
             "first admin; a wrong code is a 403 and is throttled like a failed login (429 "
             "with `Retry-After`); the code works once. Without it: 403 while the box has no "
             "admin or `registration` is `closed` (the default), else an account of "
             "`registration_role`."),
    "SetupHandler.get": Spec({200: obj(("setup_required",), setup_required=BOOL)}),
    "LoginHandler.post": Spec(
        {200: ref("Session")}, ref("Credentials"), errors=(400, 401, 429, 503),
        note="Failed logins are throttled per user name and per client address: after a few, "
             "429 with `Retry-After` (doubling, at most 5 minutes); a success clears the "
             "user name's count. 503 with `Retry-After` when too many password checks wait."),
    "LogoutHandler.post": Spec({200: obj(message=STR)}, obj((), refresh=STR), False, bearer=True),
    "RefreshHandler.post": Spec({200: ref("Tokens")}, obj(("refresh",), refresh=STR),
                                errors=(400, 401)),
    "MeHandler.get": Spec({200: ref("Me")}),
    # users
    "UsersHandler.get": Spec({200: obj(items=array(ref("User")))}),
    "UsersHandler.post": Spec({201: ref("User")}, ref("NewUser"), errors=(400, 409)),
    "UserHandler.get": Spec({200: ref("User")}, errors=(404,)),
    "UserHandler.patch": Spec({200: ref("User")}, ref("UserChange"), errors=(400, 404, 409)),
    # id tags
    "IdTagsHandler.get": Spec({200: page("IdTag")}, query=(
        query("q", STR, "substring of the id or the note, any case"),
        query("status", TAG_STATUS, "only tags with this effective status"), limit(50), OFFSET),
        errors=(400,)),
    "IdTagsHandler.post": Spec({201: ref("IdTag")}, ref("NewIdTag"), errors=(400, 409)),
    "IdTagHandler.get": Spec({200: ref("IdTag")}, errors=(404,)),
    "IdTagHandler.patch": Spec({200: ref("IdTag")}, ref("IdTagChange"), errors=(400, 404)),
    "IdTagHandler.delete": Spec({200: obj(deleted=STR)}, errors=(404, 409)),
    "ExportHandler.get": Spec({200: {"text/csv": {"schema": STR}}}),
    "ImportHandler.post": Spec(
        {200: ref("ImportResult")},
        {"text/csv": {"schema": STR}, "application/json": {"schema": obj(("csv",), csv=STR)}},
        errors=(400,), note="Columns: id_tag,status,expiry_date,parent_id_tag,"
                            "max_active_transactions,note (only id_tag is required). All rows "
                            "or none: a 400 names the first bad `line` and `field` and "
                            "lists all of them in `errors`."),
    "LocalListHandler.get": Spec({200: ref("LocalList")}, errors=(404,)),
    "LocalListSyncHandler.post": Spec(
        {200: ref("LocalListSync")}, obj((), mode={**enum("differential", "full"),
                                                   "default": "differential"}),
        False, errors=COMMAND_ERRORS),
    # files
    "FirmwareListHandler.get": Spec({200: obj(items=array(ref("FirmwareFile")))}),
    "FirmwareListHandler.post": Spec(
        {201: ref("FirmwareFile"), 200: ref("FirmwareFile")},
        {"multipart/form-data": UPLOAD_BODY["multipart/form-data"]},
        query=(query("name", STR, "store under this name instead of the file's own"),
               OVERWRITE), errors=(400, 409, 413, 507)),
    "FirmwareFileHandler.get": Spec({200: ref("FirmwareFile")}, errors=(400, 404)),
    "FirmwareFileHandler.put": Spec(
        {201: ref("FirmwareFile"), 200: ref("FirmwareFile")},
        {"application/octet-stream": UPLOAD_BODY["application/octet-stream"]},
        query=(OVERWRITE,), errors=(400, 409, 413, 507)),
    "FirmwareFileHandler.delete": Spec({204: {}}, errors=(400, 404)),
    "FirmwareLocationHandler.get": Spec(
        {200: obj(name=STR, **TRANSFER, expires_at={
            **nullable(TIME), "description": "when an ftp:// location stops working; null "
                                             "for the HTTP url, which does not expire"})},
        query=(PROTOCOL_Q,), errors=(400, 404, 409), note=TRANSFER_NOTE),
    "FirmwareDownloadHandler.get": Spec(FILE_OK, errors=(400, 404, 416)),
    "FirmwareDownloadHandler.head": Spec(HEAD_OK, errors=(400, 404, 416),
                                         summary="A firmware image's headers, without the body."),
    "DiagnosticsListHandler.get": Spec({200: obj(items=array(ref("DiagnosticsFile")))},
                                       query=(CHARGER_Q, limit(100), OFFSET), errors=(400,),
                                       headers=TOTAL),
    "DiagnosticsLocationHandler.get": Spec(
        {200: obj(**TRANSFER, expires_at=TIME)}, query=(PROTOCOL_Q,), errors=(400, 404, 409),
        note=TRANSFER_NOTE),
    "DiagnosticsFileHandler.get": Spec(FILE_OK, errors=(400, 404, 416)),
    "DiagnosticsFileHandler.head": Spec(HEAD_OK, errors=(400, 404, 416),
                                        summary="A diagnostics file's headers, without the body."),
    "DiagnosticsFileHandler.delete": Spec({204: {}}, errors=(400, 404)),
    "DiagnosticsUploadHandler.put": Spec({201: ref("DiagnosticsFile")}, UPLOAD_BODY,
                                         errors=(400, 403, 404, 409, 413, 507)),
    "DiagnosticsUploadHandler.post": Spec({201: ref("DiagnosticsFile")}, UPLOAD_BODY,
                                          errors=(400, 403, 404, 409, 413, 507)),

    # transactions
    "TransactionsHandler.get": Spec({200: ref("TransactionPage")}, query=(
        query("charger", STR, "only this charger's (any case)"),
        query("id_tag", STR, "only this id tag's (any case)"),
        query("q", STR, "a substring of the id tag or the charger id, any case"),
        query("since", TIME, "started at or after (RFC 3339)"),
        query("until", TIME, "started before (RFC 3339)"),
        query("active", BOOL, "true: still open; false: stopped"),
        query("sort", {**enum(*SORTS, *(f"-{name}" for name in SORTS)), "default": "-id"},
              "order by this field; a leading - for descending"),
        limit(50), OFFSET),
        errors=(400,)),
    "EnergyReportHandler.get": Spec(
        {200: {"application/json": {"schema": ref("EnergyReport")},
               "text/csv": {"schema": STR}}},
        query=(query("group", {**enum(*REPORT_GROUPS), "default": "day"},
                     "day (UTC, by start), charger or id_tag (any case)"),
               query("since", TIME, "started at or after (RFC 3339)"),
               query("until", TIME, "started before (RFC 3339)"),
               query("charger", STR, "only this charger's (any case)"),
               query("id_tag", STR, "only this id tag's (any case)"),
               query("format", {**enum("json", "csv"), "default": "json"},
                     "csv: the items as CSV; cells starting with = + - @ get a leading '")),
        errors=(400,),
        note="Counts finished sessions' energy_wh; running sessions are left out (see "
             "`running_sessions`)."),
    "TransactionHandler.get": Spec({200: ref("TransactionDetail")}, query=(query(
        "samples_limit", {"type": "integer", "minimum": 0, "maximum": 100000, "default": 1000},
        "meter samples to include"), query("newest", BOOL, "the last samples, not the first"),
        query("measurand", STR, "only samples of this measurand")), errors=(400, 404)),
    # commands
    "RemoteStartHandler.post": Spec({200: ref("RemoteStartResult")},
                                    ref("RemoteStartTransactionRequest"), errors=COMMAND_ERRORS,
                                    note="409 also when the charger answers Rejected "
                                         "(`status` in the body)."),
    "CommandLogHandler.get": Spec({200: page("CommandLogEntry")},
                                  query=(CHARGER_Q, limit(50), OFFSET), errors=(400,)),
    # chargers
    "ChargersHandler.get": Spec({200: array(ref("Charger"))}, query=(limit(1000), OFFSET),
                                errors=(400,), headers=TOTAL),
    "ChargersHandler.post": Spec({201: ref("ChargerDetail")}, ref("NewCharger"),
                                 errors=(400, 409)),
    "ChargerHandler.get": Spec({200: ref("ChargerDetail")}, errors=(404,)),
    "StatusLogHandler.get": Spec({200: page("StatusEvent")}, query=(limit(50), OFFSET),
                                 errors=(400, 404)),
    "AnomaliesHandler.get": Spec({200: page("Anomaly")}, query=(limit(50), OFFSET),
                                 errors=(400, 404)),
    "ChargerHandler.patch": Spec({200: ref("ChargerDetail")}, ref("ChargerChange"),
                                 errors=(400, 404)),
    "ChargerHandler.delete": Spec({200: obj(("deleted",), deleted=STR)}, errors=(404, 409),
                                  error_text={409: "The charger is connected."}),
    # site load management
    "SiteHandler.get": Spec({200: ref("SiteModel")}),
    "SiteHandler.put": Spec(
        {200: ref("SiteModel")}, SITE_MODEL_BODY, errors=(400, 409, 413),
        note="Answered with the canonical model (every default filled in) once it is stored; "
             "the allocation follows at once. 409 naming `site_model_file` when that setting "
             "names the model. `{\"circuits\": [], \"chargers\": []}` turns load "
             "management off (the profiles evedge gave are cleared). The body may be up to "
             "`max_site_model_bytes` (1 MiB), larger than other JSON bodies: it is read only "
             "after the admin's token is checked."),
    "AllocationHandler.get": Spec({200: ref("SiteAllocation")}),
    "WhatIfHandler.post": Spec(
        {200: ref("WhatIf")}, WHAT_IF_BODY, errors=(400, 409),
        note="The extra sessions are listed as `what-if-1`, ... with `hypothetical`: true, "
             "queued behind everyone of their priority. Nothing is sent. 409 without a site "
             "model."),
    "GridMeterHandler.put": Spec(
        {200: obj(circuit=STR, current_a=VECTOR, max_age_s=NUM)}, GRID_READING,
        errors=(400, 404, 409),
        note="For a grid meter of source `rest`: the circuit's measured total per site "
             "phase. Trusted for `grid_meter_max_age` seconds; after that the circuit counts "
             "as fully loaded until the next reading. 404: the circuit has no grid meter; "
             "409: its meter has another source."),
    # the OCPP socket (a WebSocket; OpenAPI can only show its handshake)
    "OcppSocketHandler.open": Spec(
        {101: {}}, errors=(400, 401, 404), summary="OCPP-J 1.6 WebSocket of a charge point.",
        error_text={400: "Not a WebSocket upgrade, or an invalid charge point id.",
                    401: "The charger has a password and HTTP Basic auth failed.",
                    404: "Unknown charge point id and admission policy `reject`."},
        note="Upgrade to a WebSocket with subprotocol `ocpp1.6` (`ws://` or `wss://`). "
             "Unknown ids get 404 when the admission policy is `reject`; a charger with a "
             "password must send HTTP Basic auth with its id as the user name (security "
             "profile 1), else 401."),
    # dashboard pages, the dashboard socket, simulated chargers
    "RootHandler.get": Spec(HTML, note="Refreshes to `/ui/` (an HTML meta refresh)."),
    "LoginPageHandler.get": Spec(HTML, note=PAGE_NOTE),
    "DashboardPageHandler.get": Spec(HTML, note=PAGE_NOTE),
    "ChargerPageHandler.get": Spec(HTML, note=PAGE_NOTE + " Answers 200 for any id; the "
                                   "page shows what the API says about it."),
    "IdTagsPageHandler.get": Spec(HTML, note=PAGE_NOTE),
    "TransactionsPageHandler.get": Spec(HTML, note=PAGE_NOTE),
    "TransactionPageHandler.get": Spec(HTML, note=PAGE_NOTE + " Answers 200 for any id; the "
                                       "page shows what the API says about it."),
    "ReportsPageHandler.get": Spec(HTML, note=PAGE_NOTE),
    "UsersPageHandler.get": Spec(HTML, note=PAGE_NOTE),
    "FilesPageHandler.get": Spec(HTML, note=PAGE_NOTE),
    "SitePageHandler.get": Spec(HTML, note=PAGE_NOTE),
    "DashboardSocketHandler.open": Spec(
        {101: {}}, errors=(400,), bearer=True,
        error_text={400: "Not a WebSocket upgrade.",
                    401: "Sent as close code 4401 (no, bad or expired token)."},
        note="The first message must be `{\"type\": \"auth\", \"token\": \"<access>\"}`, "
             "within 5 s (the token is never put in the URL); else the socket closes with "
             "code 4401. Then the server sends `{\"type\": \"snapshot\", \"chargers\": "
             "[...]}` (as GET /api/chargers/) and the live frames `{\"events\": [...]}`. A "
             "later auth message replaces the token. Same-origin browsers only."),
    "RunSimulatorHandler.post": Spec(
        {200: SIMULATOR}, SIMULATOR_START, errors=(400, 409),
        note="The simulator connects to this box's own OCPP endpoint and is recorded like "
             "a real charger. 409 when it runs already, when a real charger with that id "
             "is connected, or when 50 simulators run."),
    "StopSimulatorHandler.post": Spec({200: SIMULATOR}, obj(("charger_id",), charger_id=STR),
                                      errors=(400, 409),
                                      note="409 when no simulator of that id runs."),
    "SimulatorsHandler.get": Spec({200: obj(items=array(SIMULATOR), limit=INT)}),
    "SimulatorActionHandler.post[plug-in]": simulator_action(
        "a car is plugged into a connector of the simulator",
        obj(("connector_id",), connector_id=OUTLET),
        "A car is plugged in: StatusNotification Preparing (a Reserved connector stays so). "
        "409 when the connector has a car or is Faulted, Unavailable, Finishing."),
    "SimulatorActionHandler.post[plug-out]": simulator_action(
        "the car is unplugged",
        obj(("connector_id",), connector_id=OUTLET),
        "The car is unplugged: a running session ends (StopTransaction reason EVDisconnected), "
        "then Available. 409 when no car is plugged in."),
    "SimulatorActionHandler.post[swipe]": simulator_action(
        "a driver swipes an ID tag at a connector",
        obj(("connector_id", "id_tag"), connector_id=OUTLET, id_tag=ID_TAG),
        "A tag at the reader: Authorize and, if Accepted, StartTransaction and Charging; "
        "the tag of the running session stops it (reason Local). 409 with no car plugged in, "
        "while offline, or for another tag than the running session's."),
    "SimulatorActionHandler.post[fault]": simulator_action(
        "a connector faults with the error code chosen",
        obj(("connector_id", "error_code"), connector_id=ANY_CONNECTOR,
            error_code=enum(*sorted(code.value for code in rehearsal.FAULT_CODES)),
            info={"type": "string", "minLength": 1, "maxLength": rehearsal.INFO_LENGTH}),
        "StatusNotification Faulted with the error code and info; a session on it goes on "
        "without energy until clear-fault. 409 when it is Faulted already."),
    "SimulatorActionHandler.post[clear-fault]": simulator_action(
        "the fault is repaired",
        obj(("connector_id",), connector_id=ANY_CONNECTOR),
        "The fault is repaired: Charging again for a session, Preparing with a car, else "
        "Available. 409 when the connector is not Faulted."),
    "SimulatorActionHandler.post[go-offline]": simulator_action(
        "the simulator loses its network connection",
        obj((), seconds={**nullable({"type": "number", "minimum": rehearsal.OFFLINE_SECONDS[0],
                                     "maximum": rehearsal.OFFLINE_SECONDS[1]}),
                         "description": "back after this long; absent or null: offline until "
                                        "go-online"},
            reboot={**BOOL, "default": False,
                    "description": "true: it restarts (running sessions end with reason "
                                   "Reboot) and sends a BootNotification when back"}),
        "The connection drops with no closing handshake, as when the network fails; it "
        "reconnects without a BootNotification (sessions go on) unless `reboot`. 409 when it "
        "is offline already."),
    "SimulatorActionHandler.post[go-online]": simulator_action(
        "the simulator's network is back",
        None, "It reconnects now. 409 when it is not held offline."),
}


# --- the 19 commands: official OCPP 1.6 schemas in snake_case --------------------------------

def _snake_name(name: str) -> str:
    return next(iter(protocol.to_snake({name: None})))


def snake_schema(schema: Any) -> Any:
    """An OCPP JSON schema with property names and `required` lists in snake_case."""
    if isinstance(schema, list):
        return [snake_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {_snake_name(name): snake_schema(sub) for name, sub in value.items()}
        elif key == "required":
            out[key] = [_snake_name(name) for name in value]
        elif key == "additionalProperties" and schema.get("type") != "object":
            continue  # the 1.6 schemas put it on strings, where it means nothing
        else:
            out[key] = snake_schema(value)
    return out


def ocpp_schema(name: str) -> Schema:
    with open(os.path.join(protocol.SCHEMA_DIR, name + ".json"), encoding="utf-8-sig") as fh:
        schema = json.load(fh)
    for key in ("$schema", "id", "$id"):
        schema.pop(key, None)
    return snake_schema(schema)


# What evedge adds to a charger's answer before it is returned.
RESPONSE_EXTRAS: dict[str, Schema] = {
    "ReserveNow": {"reservation_id": {"type": "integer",
                                      "description": "the reservation id that was sent"}},
}


def command_schemas(action: str) -> tuple[Schema, Schema]:
    """(request, answer) of one command, as the official schemas in snake_case."""
    request = ocpp_schema(action)
    filled = catalog.FILLED_BY_EVEDGE.get(action, {})
    if filled:  # evedge fills these in when the caller leaves them out
        request["required"] = [name for name in request["required"] if name not in filled]
    answer = ocpp_schema(action + "Response")
    required = answer.get("required", [])
    extras = RESPONSE_EXTRAS.get(action, {})
    answer["properties"].update(extras)
    if required or extras:
        answer["required"] = [*required, *extras]
    return request, answer


def command_spec(slug: str) -> Spec:
    action = catalog.COMMANDS[slug].action
    request = ref(action + "Request")
    return Spec({200: ref(action + "Response")}, request,
                body_required=bool(command_components()[action + "Request"].get("required")),
                errors=COMMAND_ERRORS, action=action,
                note=f"The body is OCPP 1.6 {action}.req in snake_case, checked against the "
                     "official schema (a bad body is a 400 naming the field, and nothing is "
                     f"sent); 200 carries {action}.conf in snake_case, whatever its status.")


@functools.cache
def command_components() -> dict[str, Schema]:
    """`<Action>Request` and `<Action>Response` of the 19 commands (read once, when needed)."""
    components = {}
    for command in catalog.COMMANDS.values():
        request, answer = command_schemas(command.action)
        components[command.action + "Request"] = request
        components[command.action + "Response"] = answer
    return components
