"""Time for the simulated charger: UTC now, and RFC 3339 formatting and strict parsing."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def rfc3339(moment: dt.datetime) -> str:
    """UTC with millisecond precision and a trailing Z, e.g. ``2025-05-01T12:00:00.000Z``."""
    text = moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_rfc3339(text: Any) -> dt.datetime:
    """Parse an RFC 3339 date-time. Raise ValueError for anything else.

    The library never checks the schemas' ``format: date-time``, so the simulator checks it here.
    """
    if not isinstance(text, str) or not _RFC3339.fullmatch(text):
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    return dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))


def _whole_seconds(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0)


def _ceil_seconds(moment: dt.datetime) -> dt.datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + dt.timedelta(seconds=1)
