"""Live events for dashboards, batched so that fan-out never slows the OCPP path.

Publishing is a dict insert; every ``interval`` seconds the batch is encoded
once and handed to each subscriber. Meter updates for one connector coalesce to
the latest within a batch. Subscribers are plain callables taking the encoded
frame; they must not block (the dashboard socket writes without awaiting).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Callable, Hashable

log = logging.getLogger(__name__)

Subscriber = Callable[[str], None]


class Broadcaster:
    def __init__(self, interval: float = 0.2, max_batch: int = 2000):
        self._interval = interval
        self._max_batch = max_batch
        self._subscribers: dict[int, Subscriber] = {}
        self._pending: dict[Hashable, dict[str, Any]] = {}
        self._next_id = 0
        self._scheduled: asyncio.TimerHandle | None = None
        self.dropped = 0

    def subscribe(self, subscriber: Subscriber) -> int:
        self._next_id += 1
        self._subscribers[self._next_id] = subscriber
        return self._next_id

    def unsubscribe(self, token: int) -> None:
        self._subscribers.pop(token, None)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, key: Hashable | None = None, **data: Any) -> None:
        """Queue an event; with ``key``, a later event with the same key replaces it."""
        if not self._subscribers:
            return
        if len(self._pending) >= self._max_batch:
            self.dropped += 1
            return
        data["type"] = kind
        self._pending[key if key is not None else object()] = data
        if self._scheduled is None:
            self._scheduled = asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        self._scheduled = None
        if not self._pending:
            return
        frame = json.dumps({"events": list(self._pending.values())}, separators=(",", ":"),
                           default=str)
        self._pending = {}
        for token, subscriber in list(self._subscribers.items()):
            try:
                subscriber(frame)
            except Exception:
                log.exception("dropping a dashboard subscriber that failed")
                self.unsubscribe(token)

    def close(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        self._subscribers.clear()
        self._pending.clear()
