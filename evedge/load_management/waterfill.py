"""The integer core of the allocator: admission in service order, then water filling.

Everything here is in whole units (0.1 A, the resolution of a charging profile's limit,
OCPP 1.6 §7.14), so the safety sums are exact. A constraint row ``r`` says
``sum(coefficient * units) <= capacity[r]``; each claim lists its (row, coefficient)
terms. Rows carry the site's current limits per circuit-phase and its power limits.

Water filling raises a level ``t``; a claim of the tier being filled draws
``clamp(t, low, high)`` until it freezes. Between two events every row's usage grows
linearly, so the loop jumps from event to event (a claim reaching its minimum or its
maximum, a row filling up) instead of stepping 0.1 A at a time. A row's usage is kept as
``used[r] + slope[r] * (t - anchor[r])`` and brought up to date only when its slope
changes; the level at which it fills sits in a heap.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from typing import Iterable

WAITING, RISING, FROZEN = 0, 1, 2


class Claim:
    """One session's demand on the rows, and (after ``admit`` and ``fill``) its units."""

    __slots__ = ("order", "tier", "terms", "low", "high", "units", "admitted", "state")

    def __init__(self, order: int, tier: int, terms: tuple[tuple[int, int], ...],
                 low: int, high: int):
        self.order = order    # position in service order (priority, then queue order)
        self.tier = tier      # priority: higher tiers are filled first
        self.terms = terms
        self.low = low        # minimum, in units; the claim runs at >= low or not at all
        self.high = max(high, low)
        self.units = 0
        self.admitted = False
        self.state = FROZEN


def admit(claims: list[Claim], capacity: list[int], bare_capacity: list[int]) -> list[int]:
    """Give claims their minimum in service order; return each row's usage.

    A claim that does not fit is queued and holds the limits it does not fit under: no
    later claim that counts on any of them may be admitted, so that capacity freed there
    goes to the queued one first. Later claims elsewhere (other feeders, other phases)
    still are. Unless it could not run even on an empty site (``bare_capacity``, the
    limits without any load): waiting for it would be forever.
    """
    used = [0] * len(capacity)
    held: set[int] = set()
    for claim in claims:
        low = claim.low
        short = [row for row, coefficient in claim.terms
                 if used[row] + coefficient * low > capacity[row]]
        if not short and held.isdisjoint(row for row, _ in claim.terms):
            for row, coefficient in claim.terms:
                used[row] += coefficient * low
            claim.units = low
            claim.admitted = True
        elif all(coefficient * low <= bare_capacity[row] for row, coefficient in claim.terms):
            held.update(short)
    return used


def fill(claims: Iterable[Claim], capacity: list[int], used: list[int]) -> None:
    """Raise the admitted claims above their minimum, tier by tier, highest tier first.

    A row that fills up while a tier rises stays closed to the lower tiers, even if a
    remainder smaller than one unit per rising claim is left on it: a lower tier gets
    more than its minimum only where no higher-tier claim can take more.
    """
    tiers: dict[int, list[Claim]] = defaultdict(list)
    for claim in claims:
        if claim.admitted:
            tiers[claim.tier].append(claim)
    closed = [False] * len(capacity)
    for tier in sorted(tiers, reverse=True):
        _Tier(tiers[tier], capacity, used, closed).run()


class _Tier:
    """Water filling of one tier; ``used`` and ``closed`` are updated in place."""

    def __init__(self, claims: list[Claim], capacity: list[int], used: list[int],
                 closed: list[bool]):
        self.capacity, self.used, self.closed = capacity, used, closed
        self.slope: dict[int, int] = defaultdict(int)
        self.anchor: dict[int, int] = {}
        self.version: dict[int, int] = defaultdict(int)
        self.row_heap: list[tuple[int, int, int]] = []   # (level it fills at, version, row)
        self.top_heap: list[tuple[int, int, Claim]] = []  # (high, order, claim) of rising
        self.members: dict[int, list[Claim]] = defaultdict(list)
        self.touched: set[int] = set()
        waiting = []
        for claim in claims:
            if claim.high > claim.low and not any(closed[row] for row, _ in claim.terms):
                claim.state = WAITING
                waiting.append(claim)
                for row, _ in claim.terms:
                    self.members[row].append(claim)
        waiting.sort(key=lambda claim: (claim.low, claim.order))
        self.waiting = waiting
        self.next_waiting = 0

    def run(self) -> None:
        while True:
            level = self._next_level()
            if level is None:
                return
            self._freeze_at_top(level)
            self._start_rising(level)
            self._refresh()
            self._close_full_rows(level)
            self._refresh()

    def _next_level(self) -> int | None:
        candidates = []
        while self.next_waiting < len(self.waiting) and \
                self.waiting[self.next_waiting].state != WAITING:
            self.next_waiting += 1
        if self.next_waiting < len(self.waiting):
            candidates.append(self.waiting[self.next_waiting].low)
        while self.top_heap and self.top_heap[0][2].state != RISING:
            heapq.heappop(self.top_heap)
        if self.top_heap:
            candidates.append(self.top_heap[0][0])
        while self.row_heap and not self._current(self.row_heap[0]):
            heapq.heappop(self.row_heap)
        if self.row_heap:
            candidates.append(self.row_heap[0][0])
        return min(candidates) if candidates else None

    def _current(self, entry: tuple[int, int, int]) -> bool:
        _, version, row = entry
        return self.version[row] == version and not self.closed[row]

    def _move(self, claim: Claim, level: int, direction: int) -> None:
        """Bring the claim's rows up to ``level`` and add (+1) or remove (-1) its slope."""
        used, slope, anchor = self.used, self.slope, self.anchor
        for row, coefficient in claim.terms:
            if slope[row]:
                used[row] += slope[row] * (level - anchor[row])
            anchor[row] = level
            slope[row] += direction * coefficient
            self.touched.add(row)

    def _freeze(self, claim: Claim, level: int) -> None:
        if claim.state == RISING:
            claim.units = level
            self._move(claim, level, -1)
        claim.state = FROZEN

    def _freeze_at_top(self, level: int) -> None:
        while self.top_heap and self.top_heap[0][0] == level:
            claim = heapq.heappop(self.top_heap)[2]
            if claim.state == RISING:
                self._freeze(claim, level)

    def _start_rising(self, level: int) -> None:
        while self.next_waiting < len(self.waiting) and \
                self.waiting[self.next_waiting].low == level:
            claim = self.waiting[self.next_waiting]
            self.next_waiting += 1
            if claim.state == WAITING:
                claim.state = RISING
                self._move(claim, level, +1)
                heapq.heappush(self.top_heap, (claim.high, claim.order, claim))

    def _refresh(self) -> None:
        """Push the level at which each touched row fills up with its new slope."""
        for row in self.touched:
            self.version[row] += 1
            slope = self.slope[row]
            if slope > 0 and not self.closed[row]:
                fills_at = self.anchor[row] + (self.capacity[row] - self.used[row]) // slope
                heapq.heappush(self.row_heap, (fills_at, self.version[row], row))
        self.touched.clear()

    def _close_full_rows(self, level: int) -> None:
        """Rows that cannot take one more unit per rising claim: their claims stop here."""
        while self.row_heap and self.row_heap[0][0] <= level:
            entry = heapq.heappop(self.row_heap)
            if not self._current(entry):
                continue
            row = entry[2]
            self.closed[row] = True
            for claim in self.members[row]:
                self._freeze(claim, level)
