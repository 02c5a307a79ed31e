"""The 19 commands a Central System can send in OCPP 1.6, as the REST API names them.

``check(command, body)`` validates a snake_case JSON body against the action's
official request schema (and the rules the schema cannot express), so that a
bad body is a 400 naming the field and nothing is ever sent to the charger.
Date-time fields are checked strictly here (RFC 3339 with a zone): lenient
parsing is for what chargers send, not for what we send them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import fastjsonschema
from ocpp.v16 import call

from .. import errors
from . import protocol


@dataclass(frozen=True)
class Command:
    slug: str
    action: str
    payload_class: type


COMMANDS: dict[str, Command] = {
    slug: Command(slug, cls.__name__, cls) for slug, cls in (
        ("remote-start", call.RemoteStartTransaction),
        ("remote-stop", call.RemoteStopTransaction),
        ("reset", call.Reset),
        ("unlock-connector", call.UnlockConnector),
        ("change-availability", call.ChangeAvailability),
        ("get-configuration", call.GetConfiguration),
        ("change-configuration", call.ChangeConfiguration),
        ("clear-cache", call.ClearCache),
        ("trigger-message", call.TriggerMessage),
        ("data-transfer", call.DataTransfer),
        ("send-local-list", call.SendLocalList),
        ("get-local-list-version", call.GetLocalListVersion),
        ("reserve-now", call.ReserveNow),
        ("cancel-reservation", call.CancelReservation),
        ("set-charging-profile", call.SetChargingProfile),
        ("clear-charging-profile", call.ClearChargingProfile),
        ("get-composite-schedule", call.GetCompositeSchedule),
        ("update-firmware", call.UpdateFirmware),
        ("get-diagnostics", call.GetDiagnostics),
    )
}


def lookup(slug: str) -> Command:
    command = COMMANDS.get(slug)
    if command is None:
        raise errors.NotFound(f"unknown command {slug!r}; one of: {', '.join(COMMANDS)}")
    return command


_strict: dict[str, Any] = {}


def _strict_validator(action: str):
    """The request schema with ``format: date-time`` enforced (for what we send)."""
    compiled = _strict.get(action)
    if compiled is None:
        compiled = _strict[action] = fastjsonschema.compile(protocol.load_schema(action))
    return compiled


_INDEX = re.compile(r"\[\d+\]")


def _snake_path(path: str) -> str:
    """``chargingProfile.chargingSchedule[0]`` -> ``charging_profile.charging_schedule[0]``."""
    def convert(part: str) -> str:
        index = "".join(_INDEX.findall(part))
        name = _INDEX.sub("", part)
        return (next(iter(protocol.to_snake({name: None}))) if name else "") + index
    return ".".join(convert(part) for part in path.split(".")) if path else ""


def validate_body(action: str, body: dict[str, Any]) -> dict[str, Any]:
    """Validate a snake_case REST body; returns the OCPP (camelCase) payload."""
    payload = protocol.to_camel(body)
    try:
        _strict_validator(action)(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        field = _snake_path(protocol.field_path(exc))
        if exc.rule == "required" and isinstance(exc.value, dict):
            missing = [key for key in exc.rule_definition if key not in exc.value]
            field = ".".join(filter(None, [field, _snake_path(missing[0])]))
            message = f"{field} is required"
        elif exc.rule == "additionalProperties":
            extra = sorted(set(exc.value) - set(exc.definition.get("properties", {})))
            field = ".".join(filter(None, [field, _snake_path(extra[0])])) if extra else field
            message = f"{field} is not a field of {action}"
        elif exc.rule == "format":
            message = (f"{field} must be an RFC 3339 date-time with a zone, "
                       "e.g. 2026-01-31T12:00:00Z")
        else:
            message = protocol.describe(exc).replace(protocol.field_path(exc), field, 1)
        raise errors.BadRequest(message, field=field or None) from None
    return payload


# Fields evedge fills in itself when the caller leaves them out (operations.prepare).
FILLED_BY_EVEDGE = {"ReserveNow": {"reservation_id": 0}}


def check(command: Command, body: dict[str, Any]) -> None:
    """Validate a snake_case body for ``command``: 400 naming the field, else nothing."""
    known = command.payload_class.__dataclass_fields__
    for key in body:
        if key not in known:
            snake = protocol.to_snake({key: 0}).popitem()[0]
            hint = " (keys are snake_case)" if key != snake else ""
            raise errors.BadRequest(f"{key} is not a field of {command.action}{hint}", field=key)
    complete = {**FILLED_BY_EVEDGE.get(command.action, {}), **body}
    validate_body(command.action, complete)
    _check_semantics(command.action, complete)


def _check_semantics(action: str, body: dict[str, Any]) -> None:
    """Rules the 1.6 schemas do not express but the spec text does."""
    if action == "RemoteStartTransaction" and body.get("connector_id") is not None \
            and body["connector_id"] < 1:
        # OCPP 1.6 §5.11: "connectorId SHALL be > 0".
        raise errors.BadRequest("connector_id must be 1 or more", field="connector_id")
    if action in ("RemoteStartTransaction", "ReserveNow") and not body.get("id_tag"):
        raise errors.BadRequest("id_tag must not be empty", field="id_tag")
    for name in ("connector_id", "duration", "retries", "retry_interval"):
        value = body.get(name)
        if isinstance(value, int) and value < 0:
            raise errors.BadRequest(f"{name} must not be negative", field=name)
