"""Per-connection fairness for chargers: a token bucket that slows reading, never drops.

A charger that sends faster than a generous sustained rate is read more slowly: the
socket handler returns a short sleep from ``on_message`` and Tornado reads the next
frame only after it, so the charger's own TCP window fills and it waits. Nothing it
sent is refused or lost. The burst is large enough for an offline queue replayed
after an outage (a few hundred messages) to go through at full speed.

A frame costs one unit plus one per 4 KiB, so a flood of large frames is paced by
its bytes as well as its count.
"""

from __future__ import annotations

import time

BYTES_PER_UNIT = 4096


class TokenBucket:
    __slots__ = ("rate", "burst", "_tokens", "_at")

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self._tokens = burst
        self._at = time.monotonic()

    def take(self, size: int) -> float:
        """Spend what a frame of ``size`` bytes costs; returns the seconds to wait before
        reading the next one (0.0 within the rate)."""
        now = time.monotonic()
        tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        tokens -= 1 + size // BYTES_PER_UNIT
        self._tokens = tokens
        return 0.0 if tokens >= 0 else -tokens / self.rate
