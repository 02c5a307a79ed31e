"""Tolerance derived from the OCPP 1.6 JSON schemas, not from a list of known quirks.

Quirky firmware must never strand a charger: a refused BootNotification reboots it
forever, a refused StopTransaction is retried forever (OCPP 1.6 §4.10), a refused
MeterValues loses the reading. So a charger-initiated payload goes through:

1. the strict validator (the library's schema, compiled once, plus the ranges below):
   a valid message costs one compiled call and nothing else;
2. only when that fails, a tolerant walk over the payload, guided by the same schema,
   that repairs every deviation whose meaning is still clear and records each
   repair as a :class:`Repair`;
3. validation against a relaxed schema derived from the original (longer strings,
   raw text for descriptive enums, empty arrays), as a safety net for the walk.

What cannot be understood keeps the CALLERROR of OCPP-J 1.6 §4.2.3, with the code
``protocol._KEYWORD_ERRORS`` gives the schema keyword: a required field missing
(OccurenceConstraintViolation), a value that cannot be coerced to its type
(TypeConstraintViolation), a value outside what can be stored
(PropertyConstraintViolation). A StopTransaction is always answered: what it
cannot carry becomes "unknown" (None) or is dropped, with a record.

Ranges, enforced in every mode (today's schemas let them through and they then break
a read or a whole commit batch): integers within signed 64 bits; no floats where an
integer is required (an identifier such as connectorId 5.0 is refused, as a strict
reading of the spec says; only meterStart/meterStop are rounded, a documented quirk);
no NaN/Infinity; date-times that convert to UTC within years 1..9999.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import fastjsonschema
import orjson
from ocpp.exceptions import (
    OccurenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
)

from ..timeutil import TimeOutOfRange, is_rfc3339_time, read_charger_time
from . import protocol

INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1
WHOLE_FLOAT_LIMIT = 2 ** 53      # floats beyond this are not exact whole numbers
INFO_BOUND = 500                 # informational strings are kept up to this length
IDENTIFIER_BOUND = 255           # identifiers too, up to this one
EXAMPLE_LENGTH = 60              # of the original value, in a Repair
DRAFT_04 = "http://json-schema.org/draft-04/schema#"  # the schemas' own: 5.0 is no integer

# Strings that identify something (matched, not just shown); every other over-long
# CiString is informational (serial numbers, firmware version, info, vendorErrorCode...).
IDENTIFIERS = frozenset({"idTag", "parentIdTag", "vendorId", "messageId"})
# Integers that are meter readings in Wh: a fraction is rounded, not refused. A refused
# StopTransaction is retried forever and the session never closes (field quirk of
# several firmwares sending 1234.5 or "1234.5").
ROUNDED_INTEGERS = frozenset({"meterStart", "meterStop"})
# StopTransaction fields that become None ("unknown") instead of a CALLERROR (§4.10).
STOP_UNKNOWN = frozenset({"transactionId", "meterStop", "timestamp"})
STOP_ACTION = "StopTransaction"


@dataclass(frozen=True, slots=True)
class Repair:
    """One deviation that was repaired: a stable ``kind``, where (``meterValue[0].
    sampledValue[1].unit``) and a short ``example`` of what the charger sent."""

    kind: str
    path: str
    example: str

    @property
    def field(self) -> str:
        """The path without array indexes (``meterValue[].sampledValue[].unit``): one
        field however many samples deviate, the key to count repairs under."""
        return _INDEX.sub("[]", self.path)


NO_REPAIRS: tuple[Repair, ...] = ()
_INDEX = re.compile(r"\[[0-9]+\]")


# --- enum values outside the list -------------------------------------------------------------

def _keep_in_vendor_error_code(status: dict, word: str) -> None:
    """§7 ChargePointErrorCode: OtherError means "more information in vendorErrorCode"."""
    if not status.get("vendorErrorCode"):
        status["vendorErrorCode"] = word[:INFO_BOUND]
        return
    info = status.get("info") or ""
    status["info"] = (f"{info}; errorCode {word}" if info else f"errorCode {word}")[:INFO_BOUND]


@dataclass(frozen=True)
class CatchAll:
    value: str
    keep: Callable[[dict, str], None] | None = None   # where the charger's own word goes


# Enums whose list has a catch-all (OCPP 1.6 §7), by property name. Every other enum
# of the charger-initiated messages is descriptive and has none (measurand, unit,
# location, phase, format, Diagnostics/Firmware status, connector status): there the
# charger's raw text is kept, so a reading or a fault is never lost.
CATCH_ALLS: dict[str, CatchAll] = {
    # ChargePointErrorCode "OtherError": the text moves to vendorErrorCode (else info).
    "errorCode": CatchAll("OtherError", _keep_in_vendor_error_code),
    # Reason "Other: any other reason" (StopTransaction).
    "reason": CatchAll("Other"),
    # ReadingContext "Other: value for any other situations" (sampledValue).
    "context": CatchAll("Other"),
}


def _normal(text: str) -> str:
    """Case and punctuation folded: "charging", "L1N", "sample.periodic" still match."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


@functools.lru_cache(maxsize=64)
def _folded_enum(values: tuple[str, ...]) -> dict[str, str]:
    """Folded text -> listed value, leaving out folds two values share."""
    folded: dict[str, str | None] = {}
    for value in values:
        key = _normal(value)
        folded[key] = None if key in folded else value   # ambiguous: no folding
    return {key: value for key, value in folded.items() if value is not None}


# --- numbers from text ---------------------------------------------------------------------------

# The JSON number grammar (RFC 8259 §6), ASCII digits only. Python's int()/float() also
# take " 12 ", "1_000", "²"-like digits, "inf" and "nan": none of those is a reading.
_NUMBER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")
_INT64_DIGITS = 19
_A = {"integer": "an integer", "number": "a number"}


class Refusal(Exception):
    """A deviation whose meaning is not clear: the CALLERROR ``error`` for ``path``."""

    def __init__(self, error: type[OCPPError], path: tuple, problem: str):
        super().__init__(problem)
        self.error = error
        self.path = path
        self.problem = problem

    def callerror(self) -> OCPPError:
        where = format_path(self.path) or "payload"
        return self.error(details={"cause": f"{where} {self.problem}"[:250]})


def number_from_text(text: str, path: tuple = (), kind: str = "number") -> int | float:
    """The number a string holds, read as JSON would read it; Refusal otherwise."""
    match = _NUMBER_TEXT.match(text)
    if match is None:
        raise Refusal(TypeConstraintViolationError, path,
                      f"must be {_A[kind]}, not the text {example(text)!r}")
    if match.group(1) is None and match.group(2) is None:
        if len(text) - text.startswith("-") > _INT64_DIGITS:   # no int() of 5,000 digits
            raise Refusal(PropertyConstraintViolationError, path,
                          "is outside the signed 64-bit integer range")
        return int(text)
    return float(text)


# --- the walk ----------------------------------------------------------------------------------

class _Walk:
    """One tolerant pass over one payload (mutates it in place, as to_snake does)."""

    def __init__(self, stop: bool):
        self.repairs: list[Repair] = []
        self.stop = stop                 # StopTransaction: drop or "unknown", never refuse
        self.unknown: set[str] = set()   # StopTransaction fields already made unknown
        self.words: list[tuple[CatchAll, str]] = []

    def record(self, kind: str, path: tuple, original: Any) -> None:
        self.repairs.append(Repair(kind, format_path(path), example(original)))

    def value(self, schema: dict, value: Any, path: tuple, name: str) -> Any:
        kind = schema.get("type")
        if kind == "object":
            return self.object(schema, value, path)
        if kind == "array":
            return self.array(schema, value, path, name)
        if kind == "string":
            return self.string(schema, value, path, name)
        if kind in ("integer", "number"):
            return self.number(kind, value, path, name)
        if kind == "boolean" and type(value) is not bool:
            raise Refusal(TypeConstraintViolationError, path, "must be true or false")
        return value

    # objects: unknown properties dropped, null optional ones absent, required ones there

    def object(self, schema: dict, value: Any, path: tuple) -> dict:
        if type(value) is not dict:
            raise Refusal(TypeConstraintViolationError, path, "must be an object")
        properties = schema.get("properties", {})
        required = schema.get("required", ())
        mark = len(self.words)
        for key in list(value):
            self.property(schema, properties.get(key), value, key, path, key in required)
        for key in required:
            if value.get(key) is None:
                self.missing(value, key, path)
        for catch_all, word in self.words[mark:]:
            if catch_all.keep is not None:
                catch_all.keep(value, word)
        del self.words[mark:]
        return value

    def property(self, schema: dict, sub: dict | None, parent: dict, key: str, path: tuple,
                 required: bool) -> None:
        here = path + (key,)
        if sub is None:
            if schema.get("additionalProperties", True) is False:
                self.record("unknown_property", here, parent.pop(key))
            return
        item = parent[key]
        if item is None:
            if not required:   # optional and null: as if absent
                self.record("null_optional", here, parent.pop(key))
            return             # required and null: reported as missing
        try:
            parent[key] = self.value(sub, item, here, key)
        except Refusal:
            if not self.stop:
                raise
            if not path and key in STOP_UNKNOWN:
                parent[key] = None
                self.unknown.add(key)
                self.record("stop_value_unknown", here, item)
            elif required:
                raise
            else:
                self.record("stop_value_dropped", here, parent.pop(key))

    def missing(self, parent: dict, key: str, path: tuple) -> None:
        if self.stop and not path and key in STOP_UNKNOWN:
            if key in self.unknown:
                return
            self.record("stop_value_unknown", path + (key,), parent.get(key, "(missing)"))
            parent[key] = None
            return
        sent = " (sent as null)" if key in parent else ""
        raise Refusal(OccurenceConstraintViolationError, path + (key,), "is required" + sent)

    # arrays: an object for an array of objects, empty where one item is the minimum

    def array(self, schema: dict, value: Any, path: tuple, name: str) -> list:
        items = schema.get("items", {})
        if type(value) is dict and items.get("type") == "object":
            self.record("object_as_array", path, value)
            value = [value]
        elif type(value) is not list:
            raise Refusal(TypeConstraintViolationError, path, "must be an array")
        if not value and schema.get("minItems", 0) > 0:
            self.record("empty_array", path, value)
        kept = []
        for index, item in enumerate(value):
            try:
                kept.append(self.value(items, item, path + (index,), name))
            except Refusal:
                if not self.stop:   # a StopTransaction loses the one sample, not the stop
                    raise
                self.record("stop_value_dropped", path + (index,), item)
        return kept

    # strings: numbers as text, CiString lengths, enums, date-times

    def string(self, schema: dict, value: Any, path: tuple, name: str) -> str:
        text = self.text(value, path)
        enum = schema.get("enum")
        if enum is not None and text not in enum:
            return self.unlisted(enum, text, path, name)
        limit = schema.get("maxLength")
        if limit is not None and len(text) > limit:
            text = self.long(text, limit, path, name)
        if schema.get("format") == "date-time":
            self.time(text, path)
        return text

    def text(self, value: Any, path: tuple) -> str:
        kind = type(value)
        if kind is str:
            return value
        if kind is int or (kind is float and math.isfinite(value)):
            self.record("string_from_number", path, value)
            return repr(value)   # the shortest text that reads back as the same number
        if kind is float:
            raise Refusal(PropertyConstraintViolationError, path, "is not a finite number")
        raise Refusal(TypeConstraintViolationError, path, "must be a string")

    def unlisted(self, enum: list[str], text: str, path: tuple, name: str) -> str:
        listed = _folded_enum(tuple(enum)).get(_normal(text)) if len(text) <= 64 else None
        if listed is not None:
            self.record("enum_normalised", path, text)
            return listed
        catch_all = CATCH_ALLS.get(name)
        if catch_all is not None:
            self.record("enum_catch_all", path, text)
            self.words.append((catch_all, text))
            return catch_all.value
        self.record("enum_raw", path, text)
        return text if len(text) <= INFO_BOUND else self.long(text, INFO_BOUND, path, name)

    def long(self, text: str, limit: int, path: tuple, name: str) -> str:
        bound = max(limit, IDENTIFIER_BOUND if name in IDENTIFIERS else INFO_BOUND)
        if len(text) <= bound:
            self.record("string_too_long", path, text)
            return text
        self.record("string_truncated", path, text)
        return text[:bound]

    def time(self, text: str, path: tuple) -> None:
        if is_rfc3339_time(text):
            return
        try:
            parsed = read_charger_time(text)
        except TimeOutOfRange:
            raise Refusal(PropertyConstraintViolationError, path,
                          "is outside years 1..9999 once converted to UTC") from None
        # Unreadable: the handler falls back to the receive time (timeutil).
        self.record("timestamp_unreadable" if parsed is None else "timestamp_lenient",
                    path, text)

    # numbers: from text, fractions of meter readings rounded, ranges

    def number(self, kind: str, value: Any, path: tuple, name: str) -> int | float:
        if type(value) is str:
            original = value
            value = number_from_text(value, path, kind)
            self.record("number_from_string", path, original)
        elif type(value) not in (int, float):
            raise Refusal(TypeConstraintViolationError, path, f"must be {_A[kind]}")
        if type(value) is float and not math.isfinite(value):
            raise Refusal(PropertyConstraintViolationError, path, "is not a finite number")
        if kind == "integer":
            value = self.integer(value, path, name)
        return value

    def integer(self, value: int | float, path: tuple, name: str) -> int:
        if type(value) is float:
            if abs(value) >= 2 ** 63:
                raise Refusal(PropertyConstraintViolationError, path,
                              "is outside the signed 64-bit integer range")
            if name not in ROUNDED_INTEGERS:
                raise Refusal(TypeConstraintViolationError, path,
                              f"must be an integer, not {value!r}")
            if abs(value) >= WHOLE_FLOAT_LIMIT:
                raise Refusal(PropertyConstraintViolationError, path,
                              "is too large for a reading in whole Wh")
            self.record("fraction_rounded", path, value)
            value = int(round(value))
        if not INT64_MIN <= value <= INT64_MAX:
            raise Refusal(PropertyConstraintViolationError, path,
                          "is outside the signed 64-bit integer range")
        return value


# --- NUL characters -------------------------------------------------------------------------

# orjson writes U+0000 as this escape (JSON cannot hold it raw: RFC 8259 §7).
_NUL_ESCAPE = b"\\u0000"
REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """``text`` with every NUL as U+FFFD: PostgreSQL cannot store U+0000 in text columns,
    and one such value fails the whole group commit (every charger of the batch gets
    InternalError and retries it forever)."""
    return text.replace("\x00", REPLACEMENT) if "\x00" in text else text


def replace_nul(value: Any, path: tuple) -> list[Repair]:
    """Replace NUL in every string of a (schema-shaped, so shallow) payload, in place.

    Done in every mode, strict too: the schemas allow U+0000 in any string, the
    database does not. The charger's word is kept with the replacement character
    where the NUL was, and the repair recorded.
    """
    repairs = []
    items = value.items() if type(value) is dict else enumerate(value)
    for key, item in list(items):
        if type(item) is str and "\x00" in item:
            value[key] = storable(item)
            repairs.append(Repair("nul_replaced", format_path(path + (key,)), example(item)))
        elif type(item) in (dict, list):
            repairs += replace_nul(item, path + (key,))
    return repairs


# --- paths and examples ----------------------------------------------------------------------

def format_path(path: Iterable[str | int]) -> str:
    """("meterValue", 0, "unit") -> "meterValue[0].unit"."""
    out = ""
    for part in path:
        if type(part) is int:
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part[:40]
    return storable(out)   # property names come from the charger and may hold NUL


def example(value: Any) -> str:
    """A short text of an original value, cut with an ellipsis."""
    text = value if isinstance(value, str) else preview(value, EXAMPLE_LENGTH + 1)
    text = storable(text)   # examples are stored in anomaly rows
    return text if len(text) <= EXAMPLE_LENGTH else text[:EXAMPLE_LENGTH - 1] + "…"


def preview(value: Any, budget: int) -> str:
    """JSON-like text of ``value``, stopped once ``budget`` characters are written.

    Iterative, and only as long as the budget: a charger may send 1,000 nested
    arrays, and ``json.dumps`` or ``repr`` of those overflow the recursion limit
    (issue 10); a megabyte-long value costs no more than a short one.
    """
    pieces: list[str] = []
    size = 0
    todo: list[Any] = [value]
    while todo and size < budget:
        item = todo.pop()
        if isinstance(item, _Text):
            piece = item
        elif type(item) is dict:
            piece = "{"
            entries = list(itertools.islice(item.items(), budget))
            todo.append(_Text("}"))
            for position in range(len(entries) - 1, -1, -1):   # a stack: last one first
                key, sub = entries[position]
                todo += [sub, _Text(_scalar(str(key)) + ":")] + [_Text(",")] * (position > 0)
        elif type(item) is list:
            piece = "["
            todo.append(_Text("]"))
            for position in range(min(len(item), budget) - 1, -1, -1):
                todo += [item[position]] + [_Text(",")] * (position > 0)
        else:
            piece = _scalar(item)
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces)[:budget]


class _Text(str):
    """Punctuation queued by :func:`preview` (written as it is)."""


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value[:EXAMPLE_LENGTH], ensure_ascii=False)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return repr(value)[:EXAMPLE_LENGTH]


# --- schemas: strict (with ranges) and relaxed ----------------------------------------------

def _with_ranges(node: dict) -> dict:
    """The schema with every integer bounded to signed 64 bits (draft-04 semantics)."""
    node = dict(node)
    kind = node.get("type")
    if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
        node.setdefault("minimum", INT64_MIN)
        node.setdefault("maximum", INT64_MAX)
    if "properties" in node:
        node["properties"] = {k: _with_ranges(v) for k, v in node["properties"].items()}
    if "items" in node:
        node["items"] = _with_ranges(node["items"])
    return node


def _relaxed(node: dict, name: str = "", top: bool = False, stop: bool = False) -> dict:
    """What the tolerant walk may leave: longer strings up to the bounds, raw text for
    descriptive enums, empty arrays, and None for StopTransaction's unknowns."""
    node = dict(node)
    kind = node.get("type")
    if kind == "string" and "enum" in node and name in CATCH_ALLS:
        if CATCH_ALLS[name].value not in node["enum"]:   # the table follows the schemas
            raise ValueError(f"catch-all {CATCH_ALLS[name].value} is not a listed {name}")
    elif kind == "string" and "enum" in node:
        del node["enum"]
        node["maxLength"] = INFO_BOUND
    elif kind == "string" and "maxLength" in node:
        bound = IDENTIFIER_BOUND if name in IDENTIFIERS else INFO_BOUND
        node["maxLength"] = max(node["maxLength"], bound)
    node.pop("minItems", None)
    if "items" in node:
        node["items"] = _relaxed(node["items"], name)
    if "properties" in node:
        node["properties"] = {k: _relaxed(v, k) for k, v in node["properties"].items()}
        if top and stop:
            for key in STOP_UNKNOWN:
                node["properties"][key]["type"] = [node["properties"][key]["type"], "null"]
    return node


def _readable_or_unreadable(text: str) -> bool:
    """The relaxed date-time check: only a time that parses out of range is wrong."""
    try:
        read_charger_time(text)
    except TimeOutOfRange:
        return False
    return True


@dataclass(frozen=True)
class _Schemas:
    schema: dict                    # the library's, walked by the tolerant pass
    strict_schema: dict             # with the ranges
    strict: Callable[[Any], Any]
    relaxed: Callable[[Any], Any]


_compiled: dict[str, _Schemas] = {}


def _load(action: str) -> _Schemas:
    if action not in protocol.OCPP16_ACTIONS:
        raise protocol.unknown_action_error(action)
    schema = protocol.load_schema(action)
    schema["$schema"] = DRAFT_04
    strict = _with_ranges(schema)
    relaxed = _with_ranges(_relaxed(copy.deepcopy(schema), top=True, stop=action == STOP_ACTION))
    found = _compiled[action] = _Schemas(
        schema, strict,
        fastjsonschema.compile(strict, formats={"date-time": is_rfc3339_time}),
        fastjsonschema.compile(relaxed, formats={"date-time": _readable_or_unreadable}))
    return found


def strict_schema(action: str) -> dict:
    """A copy of what a valid ``action`` payload is: the library's schema with the
    ranges (e.g. to generate valid payloads from, in tests)."""
    return copy.deepcopy((_compiled.get(action) or _load(action)).strict_schema)


# --- the entry point ----------------------------------------------------------------------------

def check(action: str, payload: dict, strict: bool = False) -> tuple[Repair, ...] | list[Repair]:
    """Validate a charger's CALL payload for ``action``, repairing it in place.

    Returns the repairs made (``NO_REPAIRS`` for a valid payload, the hot path: one
    compiled validator call). Raises the OCPPError of OCPP-J 1.6 §4.2.3 for what
    cannot be understood; with ``strict`` (setting ``strict_validation``, for
    conformance runs) for every deviation.
    """
    schemas = _compiled.get(action) or _load(action)
    try:
        schemas.strict(payload)
        repairs: tuple[Repair, ...] | list[Repair] = NO_REPAIRS
    except fastjsonschema.JsonSchemaValueException as exc:
        if strict:
            raise protocol.schema_error(exc) from None
        repairs = _tolerate(action, schemas, payload)
    if _NUL_ESCAPE in orjson.dumps(payload):   # about 1 us; NUL is all but never sent
        repairs = [*repairs, *replace_nul(payload, ())]
    return repairs


def _tolerate(action: str, schemas: _Schemas, payload: dict) -> list[Repair]:
    walk = _Walk(stop=action == STOP_ACTION)
    try:
        walk.object(schemas.schema, payload, ())
    except Refusal as refusal:
        raise refusal.callerror() from None
    try:
        schemas.relaxed(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise protocol.schema_error(exc) from None
    return walk.repairs


# --- recording, until repairs are stored per charger --------------------------------------

MAX_RECORDED_PER_CONNECTION = 256   # keys come from outside (unknown property names)


def new_repairs(seen: set[tuple[str, str, str]], action: str,
                repairs: Iterable[Repair]) -> list[Repair]:
    """The repairs whose (kind, action, field) was not seen on this connection yet;
    adds them to ``seen`` (bounded)."""
    new = []
    for repair in repairs:
        key = (repair.kind, action, repair.field)
        if key not in seen and len(seen) < MAX_RECORDED_PER_CONNECTION:
            seen.add(key)
            new.append(repair)
    return new


def describe(action: str, repair: Repair) -> str:
    """One line for an anomaly row: ``MeterValues meterValue[0]...unit: enum_raw (kwh)``."""
    # Paths carry the charger's property names, which may hold NUL too.
    return storable(f"{action} {repair.path or 'payload'}: {repair.kind} ({repair.example})")
