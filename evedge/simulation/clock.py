"""Time for the simulated charger: UTC now, RFC 3339 formatting and strict parsing, and the
simulated clock that can run faster than real time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
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


class SimClock:
    """Simulated seconds, running ``speed`` times faster than real time (``speed`` 60: one
    simulated minute per second).

    It drives what happens in the physical world: energy, a car's battery, reaction delays and
    ramps, a driver's idle and dwell times, faults. Protocol timing stays real: heartbeats,
    MeterValues intervals, timeouts, and the wall-clock times of charging schedules.
    """

    def __init__(self, speed: float = 1.0):
        if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not speed > 0:
            raise ValueError(f"speed must be a number above 0: {speed!r}")
        self.speed = float(speed)
        self._origin = time.monotonic()

    def now(self) -> float:
        """Simulated seconds since the clock was made."""
        return (time.monotonic() - self._origin) * self.speed

    def real(self, simulated_seconds: float) -> float:
        """How many real seconds ``simulated_seconds`` take."""
        return max(0.0, simulated_seconds) / self.speed

    async def sleep(self, simulated_seconds: float) -> None:
        await asyncio.sleep(self.real(simulated_seconds))
