"""Checks of JSON values that name the field path in every error (``circuits[2].parent``).

The messages read ``<field>: <problem>`` so that an integrator's script can show them
as they are; ``BadRequest.field`` carries the same path for a form to highlight.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from .. import errors


def bad(field: str, problem: str) -> errors.BadRequest:
    if not field:
        return errors.BadRequest(problem)
    return errors.BadRequest(f"{field}: {problem}", field=field)


def path(field: str, key: str | int) -> str:
    """``path("circuits", 2)`` is ``circuits[2]``; ``path("circuits[2]", "id")`` is
    ``circuits[2].id``."""
    if isinstance(key, int):
        return f"{field}[{key}]"
    return f"{field}.{key}" if field else key


def describe(value: Any) -> str:
    """A JSON value's kind in JSON's words, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "an array"
    return "an object"


def json_object(value: Any, field: str, allowed: Iterable[str],
                required: Iterable[str] = ()) -> dict[str, Any]:
    """A JSON object with only ``allowed`` keys (a typo must not pass silently)."""
    if not isinstance(value, dict):
        raise bad(field, f"must be a JSON object, not {describe(value)}")
    allowed = tuple(allowed)
    for key in value:
        if key not in allowed:
            raise bad(path(field, str(key)),
                      f"unknown key {key!r} (known keys: {', '.join(allowed)})")
    for key in required:
        if key not in value:
            raise bad(path(field, key), "is required")
    return value


def json_array(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad(field, f"must be a JSON array, not {describe(value)}")
    return value


def number(value: Any, field: str) -> float:
    """A finite JSON number (true and false are not numbers here, unlike in Python)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(field, f"must be a number, not {describe(value)}")
    if not math.isfinite(value):
        raise bad(field, "must be a finite number")
    return value


def positive(value: Any, field: str) -> float:
    if number(value, field) <= 0:
        raise bad(field, f"must be greater than 0, not {value!r}")
    return value


def non_negative(value: Any, field: str) -> float:
    if number(value, field) < 0:
        raise bad(field, f"must not be negative, not {value!r}")
    return value


def integer(value: Any, field: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(field, f"must be an integer, not {describe(value)}")
    if low is not None and value < low:
        raise bad(field, f"must be {low} or more, not {value}")
    if high is not None and value > high:
        raise bad(field, f"must be {high} or less, not {value}")
    return value


def one_of(value: Any, field: str, options: Iterable[Any]) -> Any:
    options = tuple(options)
    if isinstance(value, bool) or value not in options:
        shown = ", ".join(repr(option) for option in options)
        raise bad(field, f"must be one of {shown}, not {describe(value)}")
    return value


def name(value: Any, field: str, max_length: int = 100) -> str:
    """An identifier: 1..max_length printable characters, no leading or trailing blanks."""
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise bad(field, f"must be a string of 1 to {max_length} characters, not {describe(value)}")
    if not value.isprintable() or value != value.strip():
        raise bad(field, "must be printable, without leading or trailing blanks")
    return value
