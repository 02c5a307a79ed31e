"""Time handling: naive UTC inside evedge, RFC 3339 with ``Z`` on the wire."""

from __future__ import annotations

import datetime as dt
import re

UTC = dt.timezone.utc


def utcnow() -> dt.datetime:
    """Now, as a naive datetime in UTC (how every time is stored)."""
    return dt.datetime.now(UTC).replace(tzinfo=None)


def to_rfc3339(value: dt.datetime | None) -> str | None:
    """``2026-11-24T02:07:04.123Z``: RFC 3339 in UTC, millisecond precision."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


class TimeOutOfRange(ValueError):
    """A charger time that parses but lies outside years 1..9999 once converted to UTC."""


# RFC 3339 §5.6 date-time as OCPP 1.6 writes it (zone required; upper-case T and Z: the
# lower-case forms RFC 3339 also allows are read leniently and recorded).
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
                      r"(?:Z|[+-][0-9]{2}:[0-9]{2})\Z")


def read_charger_time(value: object) -> dt.datetime | None:
    """Parse a charger's timestamp leniently; None when it is not a time at all.

    The 1.6 schemas declare ``format: date-time`` but firmwares send ``+00:00``,
    no zone at all, or a space instead of ``T``. A time without a zone is taken
    as UTC, since OCPP 1.6 §3.11 asks chargers to use UTC. Raises TimeOutOfRange
    for a time that parses but cannot be held in UTC (``0001-01-01T00:00:00+01:00``).
    """
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        except (OverflowError, ValueError):
            raise TimeOutOfRange(f"{value[:40]} is outside years 1..9999 in UTC") from None
    return parsed


def parse_charger_time(value: object) -> dt.datetime | None:
    """Like read_charger_time, but never raises: junk and out-of-range times are None,
    so the caller falls back to the receive time, which is always stored next to it."""
    try:
        return read_charger_time(value)
    except ValueError:
        return None


def is_rfc3339_time(text: str) -> bool:
    """True for an RFC 3339 date-time with a zone that converts to UTC within years 1..9999.

    On every timestamp of every message (the strict validator's date-time format), so
    kept to a regular expression and one C-level parse, about 0.5 us.
    """
    if _RFC3339.match(text) is None:
        return False
    try:
        dt.datetime.fromisoformat(text).astimezone(UTC)   # reads "Z" and any fraction
    except (ValueError, OverflowError):
        return False
    return True


def parse_api_time(value: str) -> dt.datetime:
    """Parse a time given to the REST API (raises ValueError with a readable message:
    not a time, or one outside years 1..9999 once converted to UTC)."""
    parsed = read_charger_time(value)   # TimeOutOfRange is a ValueError with its reason
    if parsed is None:
        raise ValueError("expected an RFC 3339 time such as 2026-01-31T12:00:00Z")
    return parsed


def stored_time(value: str | dt.datetime | None) -> dt.datetime | None:
    """A time read back by hand-written SQL: text on SQLite, a datetime on PostgreSQL."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return parse_charger_time(value)


def db_time(value: dt.datetime | None) -> str | None:
    """The text form peewee's DateTimeField stores, for statements written by hand."""
    return None if value is None else value.isoformat(" ")
