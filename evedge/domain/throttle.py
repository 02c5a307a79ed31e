"""Exponential backoff for repeated failures, per key (a user name, a client address, a
charger id), in bounded memory.

A key may fail ``free_failures`` times in a row at no cost (typing mistakes). After that
each failure blocks the key for ``base_delay * 2 ** k`` seconds (k = 0, 1, 2, ... for the
failures beyond the free ones), at most ``max_delay``: a password guesser from one address
or against one account gets one guess per ``max_delay`` once warmed up. A success clears
the key; a key whose last failure is older than ``forget_after`` starts afresh.

The table holds at most ``max_keys`` keys. When it is full, the key that failed least
recently is forgotten first, so an attacker with many addresses can neither grow it
without limit nor, short of ``max_keys`` fresh failures between two of its guesses, push
out the key it is working on. No threads: the event loop calls it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable

# 2 ** 63 seconds is forever; beyond it the float would only overflow.
_MAX_DOUBLINGS = 63


@dataclass
class _Failures:
    count: int
    last: float           # clock() of the last failure
    blocked_until: float  # clock() before which check() refuses the key


class Throttle:
    def __init__(self, base_delay: float = 1.0, max_delay: float = 300.0,
                 free_failures: int = 3, forget_after: float = 900.0, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        if not 0 < base_delay <= max_delay:
            raise ValueError("need 0 < base_delay <= max_delay")
        if free_failures < 0 or max_keys < 1:
            raise ValueError("need free_failures >= 0 and max_keys >= 1")
        if forget_after < max_delay:
            raise ValueError("forget_after must be at least max_delay (a block must not "
                             "outlive the memory of it)")
        self.base_delay, self.max_delay = base_delay, max_delay
        self.free_failures, self.forget_after, self.max_keys = free_failures, forget_after, max_keys
        self._clock = clock
        self._keys: OrderedDict[Hashable, _Failures] = OrderedDict()  # least recent first

    def delay_after(self, failures: int) -> float:
        """Seconds a key is blocked after its ``failures``-th failure in a row."""
        beyond = failures - self.free_failures
        if beyond <= 0:
            return 0.0
        return min(self.max_delay, self.base_delay * 2.0 ** min(beyond - 1, _MAX_DOUBLINGS))

    def check(self, key: Hashable) -> float | None:
        """Seconds ``key`` must still wait before its next attempt, or None: go ahead."""
        now = self._clock()
        entry = self._current(key, now)
        if entry is None:
            return None
        wait = entry.blocked_until - now
        return wait if wait > 0 else None

    def failed(self, key: Hashable) -> float:
        """Record a failure; returns the seconds ``key`` is now blocked (0: not blocked)."""
        now = self._clock()
        entry = self._current(key, now) or _Failures(0, now, now)
        entry.count += 1
        entry.last = now
        delay = self.delay_after(entry.count)
        entry.blocked_until = now + delay
        self._keys[key] = entry
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return delay

    def succeeded(self, key: Hashable) -> None:
        """The key got it right: forget its failures."""
        self._keys.pop(key, None)

    def failures(self, key: Hashable) -> int:
        """Failures in a row recorded for ``key`` (0 once forgotten)."""
        entry = self._current(key, self._clock())
        return entry.count if entry is not None else 0

    def __len__(self) -> int:
        return len(self._keys)

    def _current(self, key: Hashable, now: float) -> _Failures | None:
        entry = self._keys.get(key)
        if entry is not None and now - entry.last >= self.forget_after:
            del self._keys[key]
            return None
        return entry


class OneAtATime:
    """Keys with an attempt in progress (a password being checked for this user or this
    address). A second attempt for a busy key is refused rather than queued, so that one
    flooding client holds at most one place in the bcrypt queue. The set empties as the
    attempts end, so it is bounded by the attempts running at once."""

    def __init__(self) -> None:
        self._busy: set[Hashable] = set()

    def busy(self, *keys: Hashable) -> bool:
        return any(key in self._busy for key in keys)

    def hold(self, *keys: Hashable) -> _Held:
        return _Held(self._busy, keys)


class _Held:
    def __init__(self, busy: set[Hashable], keys: tuple[Hashable, ...]):
        self._busy, self._keys = busy, keys

    def __enter__(self) -> None:
        self._busy.update(self._keys)

    def __exit__(self, *exc: object) -> None:
        self._busy.difference_update(self._keys)
