"""When a charging profile may go out: decreases at once, increases only where they fit.

Pure (an explicit clock, no asyncio). A **slot** is one profile evedge keeps on a charger:
a session's TxProfile (or TxDefaultProfile) or the charger's ChargePointMaxProfile. Each
slot knows the limit the allocation wants (``target``), the one the charger last
accepted, what is on its way, and its **ceiling**: the most the car may be drawing now.

* A car follows a lowered limit only after its reaction time (IEC 61851-1 allows it 5 s),
  so after a decrease is accepted the ceiling stays at the old value for
  ``reaction_time`` seconds. A limit that was sent and not answered counts as applied.
* A **decrease** (a target at or below the ceiling) is released at once: safety first.
* An **increase** is released only when, with every other steered session at its
  ceiling, it fits every limit on its path (the capacity the allocation left after the
  fixed and other loads), and at most once per ``increase_interval`` per charger, so a
  busy site does not flood its chargers. Increases are considered in service order, so
  the session that waited longest gets freed capacity first.
* A ChargePointMaxProfile increase goes with its charger's TxProfile increases (or alone
  when there are none), in the same round of the rate limit. Raising a maximum is an
  increase even while a decrease of it settles, and a session the charger has accepted
  no limit for counts what its maximum lets through (``Pacer.draw_ceiling``). A maximum
  rises only while every row its sessions are on is within capacity.

``Pacer.release`` grants each slot a value: the worker that sends a slot sends
``min(target, granted)``, so a target that grew after the grant (a newer allocation)
is not sent unchecked, and one that fell is sent as it now is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

from .units import UNIT

EPSILON = 0.05  # A: limits are multiples of 0.1 A, so anything closer is the same limit

SlotKey = tuple  # ("tx", charger, connector, transaction) or ("max", charger)


def tx_key(charger_id: str, connector_id: int, transaction_id: int) -> SlotKey:
    return ("tx", charger_id, connector_id, transaction_id)


def max_key(charger_id: str) -> SlotKey:
    return ("max", charger_id)


@dataclass
class Slot:
    charger_id: str
    connector_id: int
    transaction_id: int | None = None   # None: the ChargePointMaxProfile (connector 0)
    target: float | None = None         # what the allocation wants; None: nothing to keep
    number_phases: int | None = None
    initial: float = math.inf           # what the car may draw before any accepted limit
    hardware: float = math.inf          # the most it may draw at all (its assignment)
    accepted: float | None = None       # the limit the charger last accepted
    previous: float = 0.0               # the ceiling before the last accepted decrease ...
    settles_at: float = 0.0             # ... until then (the car's reaction time)
    doubt: float = 0.0                  # the highest limit sent and never answered
    granted: float | None = None        # released for sending, up to this value
    in_flight: float | None = None      # being sent now
    status: str = "pending"             # the charger's last answer (chargers/profiles.py)
    resend: bool = True                 # send even if the target equals ``accepted``

    @property
    def is_max(self) -> bool:
        return self.transaction_id is None

    @property
    def base(self) -> float:
        return self.initial if self.accepted is None else self.accepted

    def held(self) -> float:
        """The highest limit the charger holds or may hold now (accepted, unanswered,
        on its way), leaving out the cars' reaction time."""
        return max(self.base, self.doubt, self.granted or 0.0, self.in_flight or 0.0)

    def ceiling(self, now: float) -> float:
        """The most the car (or, for the maximum profile, the charger) may draw now."""
        held = self.held()
        return max(held, self.previous) if now < self.settles_at else held

    def wanted(self) -> bool:
        """Whether the target still has to be sent."""
        if self.target is None:
            return False
        return self.resend or self.accepted is None or abs(self.target - self.accepted) > EPSILON

    def is_increase(self, now: float) -> bool:
        if self.target is None:
            return False
        # A lowered maximum profile's reaction time is no room of its own: what the cars may
        # still draw is counted on their sessions' slots (Pacer.draw_ceiling), and a session
        # that starts meanwhile draws what the charger allows now. Raising it back is an
        # increase like any other.
        reference = self.held() if self.is_max else self.ceiling(now)
        return self.target > reference + EPSILON

    def sending(self, value: float) -> None:
        self.in_flight, self.granted = value, None

    def answered(self, status: str, now: float, reaction_time: float,
                 before: float | None = None) -> None:
        """The charger answered the limit in flight with ``status``; ``before`` is the
        most the car may have been drawing (default: this slot's ceiling)."""
        value, self.in_flight = self.in_flight, None
        self.status = status
        if value is None:
            return
        if status == "Accepted":
            before = self.ceiling(now) if before is None else before
            self.accepted, self.doubt, self.resend = value, 0.0, False
            if value < before - EPSILON:
                self.previous, self.settles_at = before, now + reaction_time
        elif status in ("timeout", "offline"):
            # It may have arrived: until the charger accepts a limit again, count the
            # higher of the two.
            self.doubt = max(self.doubt, value)
            self.resend = True
        else:
            self.resend = False  # refused: sending it again would be refused again


@dataclass
class Capacity:
    """What the allocation left for the steered sessions on each constraint row (micro-A),
    and each steered session's (row, coefficient) terms."""

    rows: list[int]
    terms: dict[SlotKey, tuple[tuple[int, int], ...]]
    order: dict[SlotKey, int] = field(default_factory=dict)  # service order of the sessions


def units(limit: float) -> int:
    """A limit in 0.1 A units, rounded up (a ceiling is never under-counted)."""
    return math.ceil(limit * 10 - 1e-9) if math.isfinite(limit) else 10 ** 9


class Slots(dict):
    """The slots by key, indexed by charger too: a worker asks for its charger's slots on
    every send, which with thousands of sessions must not scan them all."""

    def __init__(self) -> None:
        super().__init__()
        self.by_charger: dict[str, set] = {}

    def __setitem__(self, key: SlotKey, slot: Slot) -> None:
        super().__setitem__(key, slot)
        self.by_charger.setdefault(key[1], set()).add(key)

    def setdefault(self, key: SlotKey, slot: Slot) -> Slot:  # type: ignore[override]
        if key not in self:
            self[key] = slot
        return self[key]

    def pop(self, key: SlotKey, *default):  # type: ignore[override]
        keys = self.by_charger.get(key[1])
        if keys is not None:
            keys.discard(key)
        return super().pop(key, *default)

    def __delitem__(self, key: SlotKey) -> None:
        self.pop(key)


class Pacer:
    """The slots of every charger and the release rules (see the module docstring)."""

    def __init__(self, reaction_time: float, increase_interval: float):
        self.reaction_time = reaction_time
        self.increase_interval = increase_interval
        self.slots = Slots()
        self.last_increase: dict[str, float] = {}

    def of_charger(self, charger_id: str) -> list[tuple[SlotKey, Slot]]:
        return [(key, self.slots[key]) for key in self.slots.by_charger.get(charger_id, ())]

    def release(self, now: float, capacity: Capacity, online: Iterable[str]
                ) -> tuple[set[str], float | None]:
        """Grant what may be sent now; returns the chargers that have something granted
        and when to look again (an increase waiting for a ceiling to settle or for the
        rate limit), or None."""
        online = set(online)
        ready: set[str] = set()
        increases: dict[str, list[tuple[SlotKey, Slot]]] = {}
        for key, slot in self.slots.items():
            if slot.charger_id not in online or not slot.wanted() or slot.in_flight is not None:
                continue
            if slot.is_increase(now):
                increases.setdefault(slot.charger_id, []).append((key, slot))
            else:
                slot.granted = slot.ceiling(now)
                ready.add(slot.charger_id)
        wake = self._release_increases(now, capacity, increases, ready)
        return ready, wake

    def _release_increases(self, now: float, capacity: Capacity,
                           increases: dict[str, list[tuple[SlotKey, Slot]]],
                           ready: set[str]) -> float | None:
        used = self._usage(now, capacity)
        wakes = [slot.settles_at for slot in self.slots.values() if slot.settles_at > now]
        tx = sorted(((key, slot) for pairs in increases.values() for key, slot in pairs
                     if not slot.is_max), key=lambda pair: capacity.order.get(pair[0], 0))
        rounds: set[str] = set()
        for key, slot in tx:
            charger = slot.charger_id
            due = self.last_increase.get(charger, -math.inf) + self.increase_interval
            if charger not in rounds and now < due:
                wakes.append(due)
                continue
            if not self._fits(key, slot, now, capacity, used):
                continue
            slot.granted = slot.target
            rounds.add(charger)
        for charger, pairs in increases.items():
            due = self.last_increase.get(charger, -math.inf) + self.increase_interval
            waiting_tx = any(not s.is_max and s.granted is None for _, s in pairs)
            for _, slot in pairs:
                if not slot.is_max:
                    continue
                if not self._rows_within(charger, capacity, used):
                    continue  # woken when the ceilings that overfill them settle
                if charger in rounds or (not waiting_tx and now >= due):
                    slot.granted = slot.target
                    rounds.add(charger)
                elif now < due:
                    wakes.append(due)
        for charger in rounds:
            self.last_increase[charger] = now
            ready.add(charger)
        return min(wakes) if wakes else None

    def _rows_within(self, charger: str, capacity: Capacity, used: list[int]) -> bool:
        """Whether every row the charger's steered sessions are on is within its capacity.
        A raised maximum releases what its sessions' own slots count, and that must wait
        while a row is over: a session that began before its charger held a maximum may
        draw up to its hardware, so its first TxProfile goes out as a decrease, unchecked,
        while its car is really held by a lower maximum still on its way."""
        for key in self.slots.by_charger.get(charger, ()):
            for row, _ in capacity.terms.get(key, ()):
                if used[row] > capacity.rows[row]:
                    return False
        return True

    def draw_ceiling(self, slot: Slot, now: float) -> float:
        """The most a session's car may draw now. Until the charger accepted a limit of
        the session's own, its ChargePointMaxProfile is what holds the car: what that
        lets through now counts, however it rose since the session began (a maximum
        raised alone let a car draw 8 A its slot did not count)."""
        ceiling = slot.ceiling(now)
        if slot.is_max or slot.accepted is not None:
            return ceiling
        cap = self.slots.get(max_key(slot.charger_id))
        if cap is None:
            return ceiling
        return max(ceiling, min(slot.hardware, cap.ceiling(now)))

    def _usage(self, now: float, capacity: Capacity) -> list[int]:
        used = [0] * len(capacity.rows)
        for key, terms in capacity.terms.items():
            slot = self.slots.get(key)
            if slot is None:
                continue
            draw = units(self.draw_ceiling(slot, now)) * UNIT
            for row, coefficient in terms:
                used[row] += coefficient * draw
        return used

    def _fits(self, key: SlotKey, slot: Slot, now: float, capacity: Capacity,
              used: list[int]) -> bool:
        """Whether raising the slot to its target keeps every row on its path within the
        capacity; if so, the rows are charged with it."""
        terms = capacity.terms.get(key)
        if terms is None:
            return False  # not steered in this allocation: nothing to raise
        extra = max(0, units(slot.target) - units(self.draw_ceiling(slot, now))) * UNIT
        if any(used[row] + coefficient * extra > capacity.rows[row] for row, coefficient in terms):
            return False
        for row, coefficient in terms:
            used[row] += coefficient * extra
        return True
