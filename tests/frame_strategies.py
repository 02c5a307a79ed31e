"""Hypothesis strategies for garbage OCPP-J frames: every kind a broken charger sends.

Each strategy yields a :class:`Frame`: the bytes or text to send, how (text or binary
WebSocket frame), and what the protocol obliges the central system to do with it:

* ``answer_id``: the unique id an answer must carry when one comes (None: the frame
  has no recoverable id, so nothing may be answered);
* ``must_answer``: a CALL, or a malformed frame whose id is recoverable (§4.2.3);
* ``action``: the action whose response schema a CALLRESULT must satisfy;
* ``closes``: the frame must close the connection (invalid UTF-8 in a text frame:
  1007, RFC 6455 §8.1).

Raw JSON that Python's json module cannot write (``1e999``, 400-digit integers) is
spliced in through placeholder strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from schema_strategies import valid_payloads

ACTIONS = ("Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
           "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
           "StatusNotification", "StopTransaction")
# OCPP-J 1.6 §4.2.3, spelled as 1.6 spells them (FormationViolation, Occurence...).
ERROR_CODES = frozenset({
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
    "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
    "TypeConstraintViolation", "GenericError"})

# Numbers valid in JSON (RFC 8259 §6) that no double or int64 holds, and their kin.
HUGE_NUMBERS = ("1e999", "-1e999", "9" * 400, "-" + "9" * 400, "18446744073709551616",
                "9223372036854775808", "-9223372036854775809", "1e-400", "-0",
                "0." + "0" * 300 + "1", "123456789012345678901234567890.5", "1E+308",
                "9223372036854775807", "-9223372036854775808")   # and the int64 extremes
NASTY_TEXT = ("", "\x00", "a\x00b", "x" * 5000, "\u00e9" * 300, "\u2028\u2029",
              "\ufeff", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00",
              "0001-01-01T00:00:00+05:00", "2026-13-45T25:61:61Z", "1e309", "NaN", "-0",
              " 12 ", "12,5", "\U0001f50c", "../../etc/passwd", "%s%n", "'; DROP TABLE x;--")
_RAW = "\ue000raw{}\ue000"   # a private-use placeholder no generated text contains
ANY_ID = object()   # a numeric unique id: evedge may answer it as it read it, or not at all
# Where a mutated CALL names a transaction: the fuzzer puts in the last one it started.
KNOWN_TRANSACTION = json.dumps("\ue000transaction\ue000")


@dataclass
class Frame:
    data: str | bytes
    binary: bool = False
    answer_id: Any = None
    must_answer: bool = False
    action: str | None = None
    closes: bool = False
    kind: str = ""
    raws: list[str] = field(default_factory=list, repr=False)


def dump(value: Any, raws: list[str] = ()) -> str:
    """JSON text of ``value`` with each placeholder replaced by its raw token."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for index, raw in enumerate(raws):
        text = text.replace(json.dumps(_RAW.format(index), ensure_ascii=False), raw, 1)
    return text


texts = st.one_of(st.text(max_size=12), st.sampled_from(NASTY_TEXT))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                    st.floats(allow_nan=False, allow_infinity=False), texts)
json_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                     st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12)
unique_ids = st.one_of(st.text(min_size=1, max_size=36), st.sampled_from(NASTY_TEXT[1:]))


def expected_id(frame: Any) -> tuple[Any, bool]:
    """(id an answer must carry, whether one is due) for a frame as parsed JSON.

    A CALLRESULT or CALLERROR is never answered; anything else with a string id at
    [1] gets its CALLERROR (or, a well-formed CALL, its CALLRESULT).
    """
    if not isinstance(frame, list) or len(frame) < 2:
        return None, False
    uid = frame[1]
    if isinstance(uid, bool) or not isinstance(uid, (str, int)):
        return None, False
    if isinstance(uid, int):   # not an OCPP id (a string, §4.1.3): answering it is optional
        return uid, False
    answers = frame[0] not in (3, 4) or type(frame[0]) is not int
    return uid, answers


@st.composite
def random_json(draw) -> Frame:
    value = draw(json_values)
    uid, due = expected_id(value)
    return Frame(dump(value), answer_id=uid, must_answer=due, kind="random JSON")


@st.composite
def wrong_envelopes(draw) -> Frame:
    """Lists shaped almost like an OCPP-J message: wrong type ids, lengths, element types."""
    kind = draw(st.one_of(st.sampled_from([0, 1, 2, 3, 4, 5, -2, 2.0, True, "2", None, 99]),
                          scalars))
    uid = draw(st.one_of(unique_ids, scalars))
    action = draw(st.one_of(st.sampled_from(ACTIONS + ("Reset", "FooBar", "")), scalars))
    payload = draw(st.one_of(st.just({}), json_values))
    extra = draw(st.lists(json_values, max_size=3))
    frame = draw(st.sampled_from([[kind], [kind, uid], [kind, uid, action],
                                  [kind, uid, action, payload],
                                  [kind, uid, action, payload, *extra]]))
    answer_id, due = expected_id(frame)
    return Frame(dump(frame), answer_id=answer_id, must_answer=due, kind="wrong envelope")


@st.composite
def huge_numbers(draw) -> Frame:
    """A CALL with a number beyond double or int64 range somewhere in it."""
    action = draw(st.sampled_from(ACTIONS))
    payload = dict(draw(valid_payloads(action)))
    raw = draw(st.sampled_from(HUGE_NUMBERS))
    place = draw(st.sampled_from(["payload", "type", "id"] + sorted(payload)))
    uid = draw(unique_ids)
    frame: list[Any] = [2, uid, action, payload]
    if place == "type":
        frame[0] = _RAW.format(0)
    elif place == "id":
        frame[1] = _RAW.format(0)
    elif place == "payload":
        payload["extra"] = _RAW.format(0)
    else:
        payload[place] = _RAW.format(0)
    numeric_id = place == "id"
    return Frame(dump(frame, [raw]), answer_id=ANY_ID if numeric_id else uid,
                 must_answer=not numeric_id, action=action, kind="huge number")


@st.composite
def deep_nesting(draw) -> Frame:
    """Arrays or objects 500-3,000 levels deep: the whole frame, inside a CALL's payload
    (valid or unknown property), or cut off."""
    depth = draw(st.integers(500, 3000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    nest = opener * depth + "1" + closer * depth
    uid = draw(unique_ids)
    encoded_id = json.dumps(uid, ensure_ascii=False)
    shape = draw(st.sampled_from(["frame", "payload", "property", "value", "cut"]))
    if shape == "frame":
        text = "[" * depth + "]" * depth if opener == "[" else nest
        return Frame(text, kind="deep nesting")
    if shape == "cut":   # not JSON: the id is recovered from the start (up to 1,000 chars)
        uid = draw(st.text(min_size=1, max_size=36))
        encoded = json.dumps(uid, ensure_ascii=draw(st.booleans()))
        return Frame(f'[2,{encoded},"Heartbeat",' + opener * depth, answer_id=uid,
                     must_answer=True, kind="deep nesting, cut off")
    action = draw(st.sampled_from(ACTIONS))
    if shape == "payload":
        text = f"[2,{encoded_id},{json.dumps(action)},{nest}]"
    else:
        payload = dict(draw(valid_payloads(action)))
        key = "nested" if shape == "property" or not payload else draw(
            st.sampled_from(sorted(payload)))
        payload[key] = _RAW.format(0)
        text = dump([2, uid, action, payload], [nest])
    # Deeper than the parser goes (orjson: 1,024), the frame is not JSON: its id is read
    # from the start of the text, if it is at most 1,000 characters long.
    return Frame(text, answer_id=uid, must_answer=len(uid) <= 1000, action=action,
                 kind="deep nesting")


@st.composite
def bad_utf8(draw) -> Frame:
    """A text frame whose bytes are not UTF-8: the connection closes with 1007."""
    good = dump([2, draw(unique_ids), "Heartbeat", {}]).encode()
    junk = draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                                 b"\xe2\x82", b"\x80"]))
    at = draw(st.integers(0, len(good)))
    return Frame(good[:at] + junk + good[at:], closes=True, kind="bad UTF-8")


@st.composite
def binary_frames(draw) -> Frame:
    """Binary WebSocket frames: a well-formed CALL's bytes, or random bytes."""
    if draw(st.booleans()):
        return Frame(draw(st.binary(max_size=64)), binary=True, kind="binary junk")
    uid = draw(unique_ids)
    return Frame(dump([2, uid, "Heartbeat", {}]).encode(), binary=True, answer_id=uid,
                 must_answer=True, action="Heartbeat", kind="binary CALL")


@st.composite
def mutated_calls(draw, action: str | None = None) -> Frame:
    """A valid CALL of one of the ten actions, one to three of its values mutated."""
    action = action or draw(st.sampled_from(ACTIONS))
    payload = draw(valid_payloads(action))
    # Mostly ids the box takes, so that the mutated values reach the database.
    if "connectorId" in payload and draw(st.integers(0, 3)):
        payload["connectorId"] = draw(st.integers(0, 3))
    if "transactionId" in payload and draw(st.integers(0, 3)):
        payload["transactionId"] = json.loads(KNOWN_TRANSACTION)
    raws: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        _mutate(draw, payload, raws)
    uid = draw(unique_ids)
    return Frame(dump([2, uid, action, payload], raws), answer_id=uid, must_answer=True,
                 action=action, kind=f"mutated {action}", raws=raws)


def _mutate(draw, payload: dict, raws: list[str]) -> None:
    """Replace, drop or add one value somewhere in ``payload`` (in place)."""
    parent, key = _somewhere(draw, payload)
    how = draw(st.sampled_from(["value", "huge", "drop", "add"]))
    if how == "drop" and key is not None and isinstance(parent, dict):
        parent.pop(key, None)
    elif how == "add" and isinstance(parent, dict):
        parent[draw(texts)] = draw(json_values)
    elif how == "huge" and key is not None:
        parent[key] = _RAW.format(len(raws))
        raws.append(draw(st.sampled_from(HUGE_NUMBERS)))
    elif key is not None:
        parent[key] = draw(json_values)


def _somewhere(draw, payload: dict) -> tuple[Any, Any]:
    """A (container, key) pair anywhere in the payload; key None for an empty container."""
    node: Any = payload
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return node, None
        key = draw(st.sampled_from(keys))
        child = node[key]
        if not isinstance(child, (dict, list)) or not child or draw(st.booleans()):
            return node, key
        node = child


@st.composite
def unknown_answers(draw) -> Frame:
    """CALLRESULT and CALLERROR frames for calls the box never made: never answered."""
    uid = draw(unique_ids)
    if draw(st.booleans()):
        frame = [3, uid, draw(json_values)]
    else:
        frame = [4, uid, draw(st.one_of(st.sampled_from(sorted(ERROR_CODES)), texts)),
                 draw(texts), draw(st.one_of(st.just({}), json_values))]
    return Frame(dump(frame), kind="answer to nothing")


def frames() -> st.SearchStrategy[Frame]:
    """Every kind of frame, mutated CALLs weighted up (they reach the storage)."""
    return st.one_of(random_json(), wrong_envelopes(), huge_numbers(), deep_nesting(),
                     bad_utf8(), binary_frames(), unknown_answers(),
                     *[mutated_calls(action) for action in ACTIONS])
