"""Time handling: naive UTC inside evedge, RFC 3339 with ``Z`` on the wire."""

from __future__ import annotations

import datetime as dt

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


def parse_charger_time(value: object) -> dt.datetime | None:
    """Parse a charger's timestamp leniently; None when it is not a time at all.

    The 1.6 schemas declare ``format: date-time`` but firmwares send ``+00:00``,
    no zone at all, or a space instead of ``T``. A time without a zone is taken
    as UTC, since OCPP 1.6 §3.11 asks chargers to use UTC. Junk is reported as
    None so the caller can fall back to the receive time, which is always stored
    next to it.
    """
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def parse_api_time(value: str) -> dt.datetime:
    """Parse a time given to the REST API (raises ValueError with a readable message)."""
    parsed = parse_charger_time(value)
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
