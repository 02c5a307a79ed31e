"""OCPP-J 1.6 framing, schema validation and error codes, done once and cheaply.

The ocpp library (2.1.0) validates with jsonschema in a thread pool, converts
keys with regular expressions on every message, sends no CALLERROR for
malformed frames, swaps NotImplemented and NotSupported, and spells the 1.6
``FormationViolation`` as 2.0's ``FormatViolation`` (docs/library-notes.md §1.2).
This module keeps the library's schema files, dataclasses and exception
classes, and replaces that per-message machinery:

* validators compiled once per action with fastjsonschema from the library's
  own ``ocpp/v16/schemas/*.json`` (about 20 us for a 4-sample MeterValues,
  against 200-300 us for jsonschema);
* memoised camelCase <-> snake_case key conversion;
* CALLERROR codes as OCPP-J 1.6 §4.2.3 defines them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import fields, is_dataclass
from typing import Any, Callable

import fastjsonschema
import ocpp
import ocpp.messages
import orjson
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.exceptions import (
    FormationViolationError,
    NotImplementedError as OcppNotImplemented,
    NotSupportedError,
    OccurenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)
from ocpp.v16.enums import Action

CALL, CALLRESULT, CALLERROR = 2, 3, 4
SCHEMA_DIR = os.path.join(os.path.dirname(os.path.realpath(ocpp.__file__)), "v16", "schemas")
OCPP16_ACTIONS = frozenset(a.value for a in Action)

# OCPP-J 1.6 §4.2.3 names one error per kind of schema violation. The mapping
# follows the spec's wording; lengths count as data type constraints because
# 1.6 defines CiString20Type and friends as types (§7, "CiStringXType").
_KEYWORD_ERRORS: dict[str, type[OCPPError]] = {
    "type": TypeConstraintViolationError,
    "maxLength": TypeConstraintViolationError,
    "minLength": TypeConstraintViolationError,
    "required": OccurenceConstraintViolationError,   # 1.6 spelling, one "r"
    "minItems": OccurenceConstraintViolationError,
    "maxItems": OccurenceConstraintViolationError,
    "enum": PropertyConstraintViolationError,
    "minimum": PropertyConstraintViolationError,
    "maximum": PropertyConstraintViolationError,
    "multipleOf": PropertyConstraintViolationError,
    "pattern": PropertyConstraintViolationError,
    "format": PropertyConstraintViolationError,
    "additionalProperties": FormationViolationError,
}


# errorDescription texts as OCPP-J 1.6 §4.2.3 words them (the library's differ in places).
SPEC_DESCRIPTIONS = {
    "NotImplemented": "Requested Action is not known by receiver",
    "NotSupported": "Requested Action is recognized but not supported by the receiver",
    "InternalError": "An internal error occurred and the receiver was not able to process the "
                     "requested Action successfully",
    "ProtocolError": "Payload for Action is incomplete",
    "SecurityError": "During the processing of Action a security issue occurred preventing "
                     "receiver from completing the Action successfully",
    "FormationViolation": "Payload for Action is syntactically incorrect or not conform the PDU "
                          "structure for Action",
    "PropertyConstraintViolation": "Payload is syntactically correct but at least one field "
                                   "contains an invalid value",
    "OccurenceConstraintViolation": "Payload for Action is syntactically correct but at least one "
                                    "of the fields violates occurence constraints",
    "TypeConstraintViolation": "Payload for Action is syntactically correct but at least one of "
                               "the fields violates data type constraints",
    "GenericError": "Any other error not covered by the previous ones",
}


class FrameError(Exception):
    """A frame that cannot be processed; ``unique_id`` is None when none was recoverable."""

    def __init__(self, unique_id: str | None, error: OCPPError):
        super().__init__(error.description)
        self.unique_id = unique_id
        self.error = error


# --- validation ---------------------------------------------------------------------------

_validators: dict[str, Callable[[Any], Any]] = {}


def load_schema(schema_name: str) -> dict[str, Any]:
    """The library's official OCPP 1.6 schema ``<schema_name>.json``, as a fresh dict."""
    with open(os.path.join(SCHEMA_DIR, schema_name + ".json"), encoding="utf-8-sig") as fh:
        schema = json.load(fh)
    schema.pop("$schema", None)  # fastjsonschema would fetch the draft-04 meta schema
    return schema


def validator(schema_name: str) -> Callable[[Any], Any]:
    """The compiled validator for ``<schema_name>.json`` (e.g. "MeterValues")."""
    compiled = _validators.get(schema_name)
    if compiled is None:
        # date-time formats are parsed leniently by the rules instead (timeutil).
        compiled = fastjsonschema.compile(load_schema(schema_name), use_formats=False)
        _validators[schema_name] = compiled
    return compiled


def validate(schema_name: str, payload: Any) -> None:
    """Raise the OCPP-J 1.6 CALLERROR exception matching the first schema violation."""
    try:
        validator(schema_name)(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise schema_error(exc) from None


def schema_error(exc: fastjsonschema.JsonSchemaValueException) -> OCPPError:
    """The OCPP-J 1.6 §4.2.3 CALLERROR for a schema violation, naming the field."""
    error = _KEYWORD_ERRORS.get(exc.rule, FormationViolationError)
    return error(details={"cause": describe(exc)[:250]})


def field_path(exc: fastjsonschema.JsonSchemaValueException) -> str:
    """``meterValue[0].sampledValue[1].unit``-style path of the offending field."""
    return exc.name[5:] if exc.name.startswith("data.") else ""


def describe(exc: fastjsonschema.JsonSchemaValueException) -> str:
    """A short human sentence naming the field, e.g. "chargePointModel is required"."""
    path = field_path(exc)
    if exc.rule == "required" and isinstance(exc.value, dict):
        missing = [key for key in exc.rule_definition if key not in exc.value]
        prefix = path + "." if path else ""
        return ", ".join(prefix + key for key in missing) + " is required"
    message = exc.message
    if message.startswith(exc.name):
        message = message[len(exc.name):].strip()
    return f"{path or 'payload'} {message}"


def prepare_library() -> None:
    """Configure the ocpp library for evedge and check its schema files are there.

    Validation of CS->CP calls runs inline: the library's thread-pool hop costs more
    than it saves and brings fork+thread trouble (mobilityhouse/ocpp#676,
    docs/library-notes.md).
    """
    ocpp.messages.ASYNC_VALIDATION = False
    self_check()


def self_check() -> None:
    """Fail loudly when the schema files are missing (e.g. a broken one-file build).

    Without them every CALL would be answered NotImplemented, which looks like a
    protocol problem rather than a packaging one (docs/library-notes.md §5).
    """
    validate("BootNotification", {"chargePointVendor": "evedge", "chargePointModel": "check"})
    validate("BootNotificationResponse",
             {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 300})


# --- key conversion -----------------------------------------------------------------------

_snake_keys: dict[str, str] = {}
_camel_keys: dict[str, str] = {}


def _snake_key(key: str) -> str:
    name = _snake_keys.get(key)
    if name is None:
        name = next(iter(camel_to_snake_case({key: None})))
        if len(_snake_keys) < 4096:  # bounded: keys come from the outside
            _snake_keys[key] = name
    return name


def to_snake(value: Any) -> Any:
    """camelCase keys -> snake_case, recursively and IN PLACE (memoised per key).

    In place because the payload was just parsed and belongs to the caller: most
    nested keys of a MeterValues (value, unit, measurand...) are the same in both
    cases, and not copying those dicts is half the cost.
    """
    if type(value) is dict:
        renamed = None
        for key, item in value.items():
            kind = type(item)
            if kind is dict or kind is list:
                to_snake(item)
            name = _snake_keys.get(key) or _snake_key(key)
            if name != key:
                renamed = [(key, name)] if renamed is None else renamed + [(key, name)]
        if renamed:
            for key, name in renamed:
                value[name] = value.pop(key)
    elif type(value) is list:
        for item in value:
            kind = type(item)
            if kind is dict or kind is list:
                to_snake(item)
    return value


def to_camel(value: Any) -> Any:
    """snake_case keys -> camelCase, dropping None values (as the library's remove_nones)."""
    if is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in fields(value)}
    if type(value) is dict:
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            name = _camel_keys.get(key)
            if name is None:
                name = _camel_keys[key] = next(iter(snake_to_camel_case({key: None})))
            nested = isinstance(item, (dict, list)) or is_dataclass(item)
            out[name] = to_camel(item) if nested else item
        return out
    if type(value) is list:
        return [to_camel(item) for item in value if item is not None]
    return value


# --- frames -------------------------------------------------------------------------------

# The start of a frame that is not JSON as a whole: "[", a message type, then the unique
# id as a JSON string (escapes included: \u001f is as good an id as any). Ids are up to
# 36 characters (§4.1.3); a thousand is room for escapes, and bounds the search.
_UNIQUE_ID = re.compile(r'\s*\[\s*-?[0-9]+\s*,\s*("(?:[^"\\]|\\.){0,1000}")')


def parse_frame(raw: str | bytes) -> list:
    """Decode one OCPP-J frame and check its envelope (OCPP-J 1.6 §4.1).

    Returns the frame as a list; raises FrameError for anything that is not a
    well-formed CALL, CALLRESULT or CALLERROR.
    """
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        frame = _decode_huge_numbers(raw)
        if frame is None:
            raise FrameError(recover_unique_id(raw), FormationViolationError(
                details={"cause": "frame is not valid JSON"}))
    if type(frame) is not list or not frame:
        raise FrameError(None, FormationViolationError(
            details={"cause": "frame is not a JSON array"}))
    unique_id = frame[1] if len(frame) > 1 and isinstance(frame[1], (str, int)) else None
    if isinstance(unique_id, bool):
        unique_id = None
    kind = frame[0]
    if kind not in (CALL, CALLRESULT, CALLERROR) or type(kind) is not int:
        raise FrameError(unique_id, FormationViolationError(
            details={"cause": f"unknown MessageTypeId {short_text(kind)}"}))
    expected = {CALL: 4, CALLRESULT: 3, CALLERROR: 5}[kind]
    if unique_id is None:
        raise FrameError(None, FormationViolationError(details={"cause": "bad UniqueId"}))
    if len(frame) < expected:
        raise FrameError(unique_id, ProtocolError(
            details={"cause": f"message type {kind} needs {expected} elements"}))
    if len(frame) > expected and kind != CALLERROR:
        raise FrameError(unique_id, FormationViolationError(
            details={"cause": f"message type {kind} has {len(frame)} elements, not {expected}"}))
    if kind == CALL:
        if not isinstance(frame[2], str):
            raise FrameError(unique_id, FormationViolationError(
                details={"cause": "Action must be a string"}))
        if type(frame[3]) is not dict:
            raise FrameError(unique_id, FormationViolationError(
                details={"cause": "payload must be a JSON object"}))
    return frame


def recover_unique_id(raw: str | bytes) -> str | None:
    """The unique id of a frame that is not valid JSON, when its start is readable
    (§4.2.3: a CALLERROR then; without an id, nothing can be answered)."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    match = _UNIQUE_ID.match(text)
    if match is None:
        return None
    try:
        unique_id = orjson.loads(match.group(1))
    except orjson.JSONDecodeError:   # a bad escape, a lone surrogate
        return None
    return unique_id or None


def short_text(value: Any, limit: int = 40) -> str:
    """A short, safe text of a value from a frame, for errors and logs.

    Never ``repr`` of a container: a charger's ``[[[...]]]`` 1,000 levels deep parses
    (orjson allows 1,024) but overflows the recursion limit in ``repr``, and the
    exception escaped the frame engine and dropped the connection (issue 10).
    """
    if isinstance(value, (list, dict)):
        return "a JSON " + ("array" if isinstance(value, list) else "object")
    if isinstance(value, str):
        return repr(value[:limit])
    return repr(value)[:limit]


def _decode_huge_numbers(raw: str | bytes) -> Any | None:
    """A frame orjson refused only for a number beyond double range (``1e999``, 400 digits).

    Such numbers are valid JSON (RFC 8259 §6 lets a parser limit them); read as +-inf,
    they reach the schema checks, which answer naming the field (and a StopTransaction
    still closes). None for a frame broken otherwise: NaN/Infinity are not JSON, and
    what orjson would not write back (lone surrogates) stays refused.
    """
    try:
        frame = json.loads(raw, parse_int=_int_or_float, parse_constant=_not_json)
        orjson.dumps(frame)
    except (ValueError, TypeError, RecursionError):
        return None
    return frame


def _int_or_float(text: str) -> int | float:
    return int(text) if len(text) <= 20 else float(text)   # no int() of 5,000 digits


def _not_json(text: str) -> None:
    raise ValueError(f"{text} is not JSON")


def unknown_action_error(action: str) -> OCPPError:
    """OCPP-J 1.6 §4.2.3: NotImplemented for an unknown action, NotSupported for a known one."""
    if action in OCPP16_ACTIONS:
        return NotSupportedError(
            details={"cause": f"{action} is not supported by this Central System"})
    return OcppNotImplemented(details={"cause": f"{action} is not an OCPP 1.6 action"})


def call_result_frame(unique_id: Any, payload: dict) -> bytes:
    return orjson.dumps([CALLRESULT, unique_id, payload])


def call_error_frame(unique_id: Any, error: OCPPError) -> bytes:
    details = error.details if isinstance(error.details, dict) else {}
    description = SPEC_DESCRIPTIONS.get(error.code, error.description or "")
    return orjson.dumps([CALLERROR, unique_id, error.code, description, details], default=str)
