"""Live events for dashboards: the vocabulary, declared once, and the batching broadcaster.

Publishing is a dict insert; every ``interval`` seconds the batch is encoded
once and handed to each subscriber. Meter updates for one connector coalesce to
the latest within a batch. Subscribers are plain callables taking the encoded
frame; they must not block (the dashboard socket writes without awaiting).

Events describe what was committed: publishers hand them over only once the
data is durable (``publish_when_committed``, or the OCPP dispatcher, which holds
a message's events until its group commit succeeded).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Callable, Hashable, Protocol

log = logging.getLogger(__name__)

Subscriber = Callable[[str], None]
Observer = Callable[[str, dict], None]

# kind -> (fields every event of that kind carries, optional fields). The browser's list
# (static/js/store.js and dashboard.js) must be a subset (tests/test_events.py).
EVENTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "charger.connected": (frozenset({"charger_id"}), frozenset()),
    "charger.disconnected": (frozenset({"charger_id"}), frozenset()),
    "charger.boot": (frozenset({"charger_id", "status"}), frozenset({"vendor", "model"})),
    "charger.firmware": (frozenset({"charger_id", "status"}), frozenset()),
    "charger.diagnostics": (frozenset({"charger_id", "status"}), frozenset()),
    "charger.diagnostics_received": (frozenset({"charger_id", "name", "size"}), frozenset()),
    # info and the charger's own timestamp (RFC 3339 UTC; null when it sent none we could
    # read, D9): the dashboard shows a fault's details without refetching the charger.
    "connector.status": (frozenset({"charger_id", "connector_id", "status", "error_code"}),
                         frozenset({"info", "timestamp"})),
    "transaction.started": (frozenset({"charger_id", "connector_id", "transaction_id", "id_tag",
                                       "meter_start", "status"}), frozenset()),
    "transaction.stopped": (frozenset({"charger_id", "transaction_id"}),
                            frozenset({"energy_wh", "inferred"})),
    "meter": (frozenset({"charger_id", "connector_id", "transaction_id", "power_w", "energy_wh",
                         "session_energy_wh", "timestamp"}), frozenset({"current_a"})),
    # load management (load_management/live.py): a new allocation or new measurements,
    # at most a few a second; GET /api/site/allocation/ has the whole picture.
    "site.allocation": (frozenset({"version", "circuits", "charging", "queued"}), frozenset()),
}


class Committer(Protocol):
    def when_committed(self, ok: Callable[[], None], failed: Callable[[], None]) -> None: ...


def check_event(kind: str, data: dict[str, Any]) -> None:
    """ValueError unless ``kind`` is declared and ``data`` has exactly its fields."""
    declared = EVENTS.get(kind)
    if declared is None:
        raise ValueError(f"undeclared dashboard event kind {kind!r}")
    required, optional = declared
    keys = data.keys()
    if not required <= keys or not keys <= required | optional:
        raise ValueError(f"event {kind} carries {sorted(keys)}, declared {sorted(required)} "
                         f"(+ optional {sorted(optional)})")


class Broadcaster:
    def __init__(self, interval: float = 0.2, max_batch: int = 2000):
        self._interval = interval
        self._max_batch = max_batch
        self._subscribers: dict[int, Subscriber] = {}
        self._observers: list[Observer] = []
        self._pending: dict[Hashable, dict[str, Any]] = {}
        self._next_id = 0
        self._scheduled: asyncio.TimerHandle | None = None
        self.dropped = 0  # events not delivered: batch full, or a subscriber that failed

    def subscribe(self, subscriber: Subscriber) -> int:
        self._next_id += 1
        self._subscribers[self._next_id] = subscriber
        return self._next_id

    def unsubscribe(self, token: int) -> None:
        self._subscribers.pop(token, None)

    def observe(self, observer: Observer) -> None:
        """Call ``observer(kind, data)`` for every event, synchronously, whether or not a
        dashboard listens: for parts of evedge that react to what chargers do (load
        management). It must be quick and must not raise."""
        self._observers.append(observer)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def wanted(self) -> bool:
        """Whether anything listens (an event costs nothing to skip when not)."""
        return bool(self._subscribers or self._observers)

    def publish(self, kind: str, key: Hashable | None = None, **data: Any) -> None:
        """Queue an event; with ``key``, a later event with the same key replaces it."""
        if not self._subscribers and not self._observers:
            return
        check_event(kind, data)
        for observer in self._observers:
            try:
                observer(kind, data)
            except Exception:
                log.exception("an event observer failed on %s", kind)
        if not self._subscribers:
            return
        if len(self._pending) >= self._max_batch:
            self.dropped += 1
            return
        data["type"] = kind
        self._pending[key if key is not None else object()] = data
        if self._scheduled is None:
            self._scheduled = asyncio.get_running_loop().call_later(self._interval, self.flush)

    def publish_when_committed(self, committer: Committer, kind: str,
                               key: Hashable | None = None, **data: Any) -> None:
        """Publish once what was written so far is committed; drop it if the commit fails."""
        if self.wanted:
            committer.when_committed(lambda: self.publish(kind, key, **data), _nothing)

    def flush(self) -> None:
        self._scheduled = None
        if not self._pending:
            return
        batch = list(self._pending.values())
        frame = json.dumps({"events": batch}, separators=(",", ":"), default=str)
        self._pending = {}
        for token, subscriber in list(self._subscribers.items()):
            try:
                subscriber(frame)
            except Exception:
                log.exception("dropping a dashboard subscriber that failed")
                self.dropped += len(batch)
                self.unsubscribe(token)

    def close(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        self._subscribers.clear()
        self._observers.clear()
        self._pending.clear()


def _nothing() -> None:
    pass
