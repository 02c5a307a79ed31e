"""Hypothesis strategies for valid OCPP 1.6 payloads, generated from the schemas themselves.

A small generator for the subset of JSON schema the 1.6 files use (object, array,
string with maxLength/enum/date-time, integer with the ranges tolerance.py adds).
hypothesis-jsonschema 0.23.1, the latest release, fails on current hypothesis
(it calls a removed internal, ``many.more``), hence this.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from evedge.chargers import tolerance

# Times the strict check accepts: RFC 3339 with a zone, within years 1..9999 in UTC.
RFC3339_TIMES = st.builds(
    lambda moment, zone: moment.isoformat(timespec="seconds") + zone,
    st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31)),
    st.sampled_from(["Z", "+00:00", "+05:30", "-08:00"]))

# Any character but NUL (PostgreSQL text cannot hold it) and lone surrogates (not UTF-8).
TEXT_CHARACTERS = st.characters(min_codepoint=1, blacklist_categories=("Cs",))


def from_schema(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties", {})
        required = set(node.get("required", ()))
        return st.fixed_dictionaries(
            {key: from_schema(sub) for key, sub in properties.items() if key in required},
            optional={key: from_schema(sub) for key, sub in properties.items()
                      if key not in required})
    if kind == "array":
        return st.lists(from_schema(node.get("items", {})), min_size=node.get("minItems", 0),
                        max_size=3)
    if kind == "string":
        if "enum" in node:
            return st.sampled_from(node["enum"])
        if node.get("format") == "date-time":
            return RFC3339_TIMES
        return st.text(TEXT_CHARACTERS, max_size=node.get("maxLength", 60))
    if kind == "integer":
        return st.integers(node.get("minimum"), node.get("maximum"))
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    raise ValueError(f"no strategy for schema type {kind!r}")


def valid_payloads(action: str) -> st.SearchStrategy[dict]:
    """Payloads the strict schema of ``action`` accepts."""
    return from_schema(tolerance.strict_schema(action))


# --- deviations ----------------------------------------------------------------------------------
#
# One deviation changes one place of a valid payload and says what the tolerant pass must
# make of it, written from the rules (the README's "Tolerance from the schema"), not from
# tolerance.py: either the value expected after the repair, or the CALLERROR code.

ABSENT = object()        # expected: the property is gone
REMOVE = object()        # sent: the property is left out
INFO_BOUND, IDENTIFIER_BOUND = 500, 255
IDENTIFIERS = {"idTag", "parentIdTag", "vendorId", "messageId"}
METER_READINGS = {"meterStart", "meterStop"}
CATCH_ALLS = {"errorCode": "OtherError", "reason": "Other", "context": "Other"}
STOP_UNKNOWN = {"transactionId", "meterStop", "timestamp"}
TYPE, PROPERTY, OCCURRENCE = ("TypeConstraintViolation", "PropertyConstraintViolation",
                              "OccurenceConstraintViolation")
# Numeric text no JSON reader takes for a number, and text of numbers beyond 64 bits.
NOT_NUMBERS = ["²", "inf", "nan", " 12 ", "0x10", "1_000", "١٢", "+1", "01", "", "NaN"]
BEYOND_RANGE = ["1e999", "1" * 5000, "-1e999", "99999999999999999999"]
OUT_OF_RANGE_TIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@dataclass(frozen=True)
class Deviation:
    kind: str
    path: tuple
    sent: Any
    expected: Any = None          # after the repair (ABSENT: gone)
    error: str | None = None      # the CALLERROR code instead


@dataclass(frozen=True)
class Site:
    path: tuple
    schema: dict
    name: str
    required: bool


def sites(schema: dict, value: Any, path: tuple = (), name: str = "",
          required: bool = True) -> list[Site]:
    """Every place of a valid payload, with the schema node that describes it."""
    found = [Site(path, schema, name, required)]
    if schema.get("type") == "object":
        for key, item in value.items():
            found += sites(schema["properties"][key], item, path + (key,), key,
                           key in schema.get("required", ()))
    elif schema.get("type") == "array":
        for index, item in enumerate(value):
            found += sites(schema["items"], item, path + (index,), name, True)
    return found


def _normal(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())


Option = tuple[str, st.SearchStrategy[Deviation]]   # (the kind of its deviations, them)


def _refused_kind(site: Site, stop: bool, code: str) -> str:
    if stop and len(site.path) == 1:
        return "stop_value_unknown" if site.name in STOP_UNKNOWN else "stop_value_dropped"
    return code


def _refused(site: Site, stop: bool, code: str, values: st.SearchStrategy) -> Option:
    """An unusable value: its CALLERROR, or in a StopTransaction "unknown" / dropped."""
    kind = _refused_kind(site, stop, code)
    if kind == code:
        return kind, values.map(lambda sent: Deviation(kind, site.path, sent, error=code))
    expected = None if kind == "stop_value_unknown" else ABSENT
    return kind, values.map(lambda sent: Deviation(kind, site.path, sent, expected))


def _repaired(kind: str, site: Site, values: st.SearchStrategy,
              expect: Any = lambda sent: sent) -> Option:
    """A deviation the tolerant pass repairs: what is sent, and what must come of it."""
    return kind, values.map(lambda sent: Deviation(kind, site.path, sent, expect(sent)))


def _integer_deviations(site: Site, value: int, stop: bool, repairs_only: bool) -> list[Option]:
    out = [_repaired("number_from_string", site, st.just(str(value)), lambda _: value)]
    if site.name in METER_READINGS:
        whole = st.integers(-2 ** 40, 2 ** 40)
        fractions = st.builds(lambda n, f: n + f, whole, st.sampled_from([0.25, -0.25, 0.75, 0.0]))
        out.append(_repaired("fraction_rounded", site, fractions | whole.map(lambda n: f"{n}.75"),
                             lambda sent: round(float(sent))))
    if repairs_only:
        return out
    out += [_refused(site, stop, TYPE, st.sampled_from(NOT_NUMBERS)),
            _refused(site, stop, PROPERTY,
                     st.sampled_from(BEYOND_RANGE + [2 ** 63, -2 ** 63 - 1, 1e308]))]
    if site.name not in METER_READINGS and abs(value) < 2 ** 50:   # identifiers: no floats
        out.append(_refused(site, stop, TYPE, st.sampled_from([float(value), value + 0.5])))
    return out


def _enum_deviations(site: Site, value: str) -> list[Option]:
    folded = [_normal(member) for member in site.schema["enum"]]
    catch_all = CATCH_ALLS.get(site.name)
    words = st.text("QXZqxz-", max_size=12).map(lambda t: "Zq" + t)
    out = [_repaired("enum_catch_all" if catch_all else "enum_raw", site, words,
                     lambda word: catch_all or word)]
    variant = value.swapcase()
    if variant != value and folded.count(_normal(value)) == 1:
        out.append(_repaired("enum_normalised", site, st.just(variant), lambda _: value))
    return out


def _text_deviations(site: Site, value: str) -> list[Option]:
    out = [_repaired("string_from_number", site,
                     st.floats(allow_nan=False, allow_infinity=False), repr)]
    limit = site.schema.get("maxLength")
    if limit is not None:
        bound = IDENTIFIER_BOUND if site.name in IDENTIFIERS else INFO_BOUND
        longer = value + "x" * (bound + 40)
        if limit < bound:
            out.append(_repaired("string_too_long", site,
                                 st.integers(limit + 1, bound).map(lambda size: longer[:size])))
        out += [_repaired("string_truncated", site,
                          st.integers(bound + 1, bound + 40).map(lambda size: longer[:size]),
                          lambda sent: sent[:bound])]
    return out


def _time_deviations(site: Site, value: str, stop: bool, repairs_only: bool) -> list[Option]:
    out = [_repaired("timestamp_unreadable", site, st.sampled_from(["not-a-date", "2026-02-30"]))]
    if value.endswith("Z") or value.endswith("+00:00"):   # the same moment without its zone
        out.append(_repaired("timestamp_lenient", site, st.just(value[:19])))
    if not repairs_only:
        out.append(_refused(site, stop, PROPERTY, st.sampled_from(OUT_OF_RANGE_TIMES)))
    return out


def _shape_deviations(site: Site, stop: bool, repairs_only: bool) -> list[Option]:
    """Null, left out, or of another JSON type altogether."""
    if not site.path or not isinstance(site.path[-1], str):
        return []
    out = []
    if not site.required:
        out.append(_repaired("null_optional", site, st.none(), lambda _: ABSENT))
    elif not repairs_only:
        out.append(_refused(site, stop, OCCURRENCE, st.sampled_from([REMOVE, None])))
    kind = site.schema.get("type")
    if kind != "object" and not repairs_only:
        out.append(_refused(site, stop, TYPE, st.just("soon" if kind == "array" else {"x": [1]})))
    return out


def site_deviations(site: Site, value: Any, stop: bool) -> list[Option]:
    """What may be done to one place of a valid payload. Inside a StopTransaction's
    transactionData only repairs: a refused sample is dropped there, which moves the
    indexes of every later one."""
    repairs_only = stop and len(site.path) > 1
    kind = site.schema.get("type")
    out = _shape_deviations(site, stop, repairs_only)
    if kind == "object":
        keys = st.text("abc", min_size=1, max_size=4).map(lambda key: "x-" + key)
        out.append(("unknown_property", st.builds(
            lambda key, item: Deviation("unknown_property", site.path + (key,), item, ABSENT),
            keys, st.integers() | st.text(max_size=5) | st.none())))
    elif kind == "integer":
        out += _integer_deviations(site, value, stop, repairs_only)
    elif kind == "string" and "enum" in site.schema:
        out += _enum_deviations(site, value)
    elif kind == "string" and site.schema.get("format") == "date-time":
        out += _time_deviations(site, value, stop, repairs_only)
    elif kind == "string":
        out += _text_deviations(site, value)
    elif kind == "array" and site.schema["items"].get("type") == "object":
        if len(value) == 1:
            out.append(_repaired("object_as_array", site, st.just(value[0]), lambda _: value))
        if site.schema.get("minItems"):
            out.append(_repaired("empty_array", site, st.just([])))
    return out


# --- applying them -------------------------------------------------------------------------------

@dataclass
class Deviated:
    """A valid payload with deviations: what to send, and what must come of it."""

    action: str
    sent: dict
    expected: dict | None          # the repaired payload (None when refused)
    error: str | None              # the CALLERROR code when refused
    deviations: list[Deviation]


def _overlaps(path: tuple, others: list[Deviation]) -> bool:
    return any(path[:len(o.path)] == o.path or o.path[:len(path)] == path for o in others)


def _put(root: Any, path: tuple, value: Any) -> None:
    parent = root
    for part in path[:-1]:
        parent = parent[part]
    if value is ABSENT or value is REMOVE:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = copy.deepcopy(value)


def _keep_error_code_word(status: dict, word: str) -> None:
    """The OtherError rule: the charger's word goes to vendorErrorCode, else info."""
    if not status.get("vendorErrorCode"):
        status["vendorErrorCode"] = word[:INFO_BOUND]
    else:
        info = status.get("info") or ""
        status["info"] = (f"{info}; errorCode {word}" if info
                          else f"errorCode {word}")[:INFO_BOUND]


@st.composite
def deviated(draw, action: str, valid: dict, max_deviations: int = 4) -> Deviated:
    """``valid`` with 1..max_deviations deviations at places that do not overlap, at
    most one of them refused. Each is drawn by kind first, then place, so that rare
    kinds (an empty array, a fraction) come up as often as an unknown property."""
    stop = action == "StopTransaction"
    schema = tolerance.strict_schema(action)
    by_kind: dict[str, list[st.SearchStrategy[Deviation]]] = {}
    for site in sites(schema, valid):
        for kind, option in site_deviations(site, _at(valid, site.path), stop):
            by_kind.setdefault(kind, []).append(option)
    chosen: list[Deviation] = []
    for _ in range(draw(st.integers(1, max_deviations))):
        kind = draw(st.sampled_from(sorted(by_kind)))
        deviation = draw(st.one_of(by_kind[kind]))
        refused = deviation.error and any(d.error for d in chosen)
        if not _overlaps(deviation.path, chosen) and not refused:
            chosen.append(deviation)
    return _apply(action, valid, chosen)


def _at(root: Any, path: tuple) -> Any:
    for part in path:
        root = root[part]
    return root


def _apply(action: str, valid: dict, chosen: list[Deviation]) -> Deviated:
    sent, expected = copy.deepcopy(valid), copy.deepcopy(valid)
    for deviation in chosen:
        _put(sent, deviation.path, deviation.sent)
        _put(expected, deviation.path, deviation.expected)
    for deviation in chosen:
        if deviation.kind == "enum_catch_all" and deviation.path == ("errorCode",):
            _keep_error_code_word(expected, deviation.sent)
    if action == "StopTransaction":
        for key in STOP_UNKNOWN:
            expected.setdefault(key, None)
    error = next((d.error for d in chosen if d.error), None)
    return Deviated(action, sent, None if error else expected, error, chosen)
