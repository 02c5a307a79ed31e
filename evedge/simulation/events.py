"""What the simulated charger saw and sent, for tests to wait on; and raw frames.

Every CALL in either direction, and every connect and disconnect, becomes an event tuple in
``charger.history`` and ``charger.events``: ("connected",), ("disconnected", code),
("received", action, payload) for a server CALL, and ("sent", action, payload, result or
exception) for one of ours. `EventsMixin.wait_for_event` and its short forms return the oldest
matching event that no wait has returned yet. ``send_raw``/``next_raw_reply`` send frames the
library would refuse to build and collect the server's replies to them.
"""

from __future__ import annotations

import asyncio
import collections
import json
from typing import Any, Callable

from .transport import NotConnected


class _Entry:
    __slots__ = ("event", "consumed")

    def __init__(self, event: tuple):
        self.event = event
        self.consumed = False


def _matcher(kind: str, action: str | None, predicate: Callable[[tuple], bool] | None):
    def matches(event: tuple) -> bool:
        if event[0] != kind or (action is not None and (len(event) < 2 or event[1] != action)):
            return False
        return predicate is None or predicate(event)

    return matches


def _raw_frame_id(text: str) -> str | int | None:
    """The message id of a raw frame, when one can be read from it."""
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    if not isinstance(frame, list) or len(frame) < 2 or not isinstance(frame[1], (str, int)):
        return None
    return frame[1]


class EventsMixin:
    """Event history and raw frames of `SimulatedCharger` (see the module docstring)."""

    def _init_events(self, history_size: int) -> None:
        self.events: asyncio.Queue = asyncio.Queue(maxsize=history_size)
        self.history: collections.deque[_Entry] = collections.deque(maxlen=history_size)
        self._waiters: list[tuple[Callable, asyncio.Future]] = []
        self._raw_ids: set[Any] = set()
        self._raw_anonymous = 0  # raw frames sent without a usable id
        self._raw_replies: collections.deque = collections.deque(maxlen=256)
        self._raw_waiters: list[tuple[Any, asyncio.Future]] = []

    def _record(self, kind: str, *details) -> None:
        """Events: ("connected",), ("disconnected", code), ("received", action, payload) for a
        server CALL, and ("sent", action, payload, result or exception) for one of ours."""
        event = (kind, *details)
        entry = _Entry(event)
        self.history.append(entry)
        if self.events.full():
            self.events.get_nowait()
        self.events.put_nowait(event)
        for matches, future in list(self._waiters):
            if not future.done() and matches(event):
                future.set_result(event)
                entry.consumed = True
                break

    async def wait_for_event(
        self, kind: str, action: str | None = None, timeout: float = 5.0, predicate=None
    ) -> tuple:
        """Return the oldest event of this kind (and action) that no wait has returned yet,
        waiting up to ``timeout`` seconds. ``predicate(event)`` narrows the match.

        Events recorded before the call count, so a test never misses one that came early.
        Call clear_events() first to skip older events that would also match.
        """
        matches = _matcher(kind, action, predicate)
        for entry in self.history:
            if not entry.consumed and matches(entry.event):
                entry.consumed = True
                return entry.event
        waiter = (matches, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter[1], timeout)
        except asyncio.TimeoutError:
            recent = [entry.event[:2] for entry in list(self.history)[-10:]]
            raise asyncio.TimeoutError(
                f"{self.id}: no {kind} {action or ''} event within {timeout}s; "
                f"recent events: {recent}"
            ) from None
        finally:
            self._waiters.remove(waiter)

    def clear_events(self) -> None:
        """Mark every event recorded so far as seen. Later waits then match only newer events."""
        for entry in self.history:
            entry.consumed = True

    async def wait_for(self, action: str, timeout: float = 5.0, predicate=None) -> dict:
        """The payload (snake_case) of the next ``action`` CALL the server sent us."""
        check = None if predicate is None else (lambda event: predicate(event[2]))
        return (await self.wait_for_event("received", action, timeout, check))[2]

    async def wait_for_sent(
        self, action: str, timeout: float = 5.0, predicate=None
    ) -> tuple[dict, Any]:
        """(payload, result) of the next ``action`` CALL we sent. ``result`` is the server's
        call_result, or the exception if the call failed."""
        check = None if predicate is None else (lambda event: predicate(event[2]))
        event = await self.wait_for_event("sent", action, timeout, check)
        return event[2], event[3]

    async def send_raw(self, text: str) -> Any:
        """Send ``text`` unchanged, for malformed-frame tests. Returns the message id, if one can
        be read from the text. Collect the server's reply with next_raw_reply()."""
        link = self._link
        if link is None or link.closed.is_set():
            raise NotConnected()
        unique_id = _raw_frame_id(text)
        if unique_id is not None:
            self._raw_ids.add(unique_id)
        else:  # no readable id: the server may answer with an id of its own choosing
            self._raw_anonymous += 1
        await link.transport.send(text)
        return unique_id

    async def next_raw_reply(self, unique_id: Any = None, timeout: float = 5.0) -> list:
        """The server's reply frame (a parsed list) to a raw frame: the one with ``unique_id``,
        or the oldest one not yet returned."""
        for frame in self._raw_replies:
            if unique_id is None or frame[1] == unique_id:
                self._raw_replies.remove(frame)
                return frame
        waiter = (unique_id, asyncio.get_running_loop().create_future())
        self._raw_waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter[1], timeout)
        finally:
            self._raw_waiters.remove(waiter)

    def _deliver_raw(self, frame: list) -> None:
        for unique_id, future in self._raw_waiters:
            if not future.done() and (unique_id is None or unique_id == frame[1]):
                future.set_result(frame)
                return
        self._raw_replies.append(frame)

    def _take_raw_reply(self, unique_id: Any) -> None:
        if unique_id in self._raw_ids:
            self._raw_ids.discard(unique_id)
        else:
            self._raw_anonymous -= 1
