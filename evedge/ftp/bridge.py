"""From the FTP thread to evedge's event loop: run work there and wait for its result.

All database work runs on the loop thread, on its one connection, and writes go
through the group commit (docs/decisions.md D3); the FTP thread never opens a
connection of its own. It waits for the loop (a grant lookup takes a millisecond, a
commit one ``commit_window`` plus an fsync), which stalls only the other FTP sessions,
never the loop. The loop never waits for the FTP thread, so the two cannot deadlock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Callable, Coroutine, TypeVar

from ..storage.group_commit import GroupCommit

T = TypeVar("T")

# Longest wait for the loop: far beyond a commit, short enough that a wedged loop does not
# hold an FTP session forever.
LOOP_TIMEOUT = 30.0


class LoopUnavailable(Exception):
    """The event loop did not run the work (shutting down, or busy beyond LOOP_TIMEOUT)."""


class LoopBridge:
    def __init__(self, loop: asyncio.AbstractEventLoop, committer: GroupCommit,
                 timeout: float = LOOP_TIMEOUT):
        self._loop = loop
        self._committer = committer
        self._timeout = timeout

    def read(self, work: Callable[[], T]) -> T:
        """``work()`` on the loop thread (a read: it sees what the loop's writes left)."""
        async def run() -> T:
            return work()
        return self._wait(run)

    def commit(self, work: Callable[[], T],
               then: Callable[[T], None] | None = None) -> T:
        """``work()`` inside the group commit; returns once it is durable. ``then(result)``
        runs on the loop right after the commit (to publish events about it)."""
        async def run() -> T:
            result = self._committer.run(work)
            await self._committer.durable()
            if then is not None:
                then(result)
            return result
        return self._wait(run)

    def _wait(self, coroutine: Callable[[], Coroutine[None, None, T]]) -> T:
        work = coroutine()
        try:
            future = asyncio.run_coroutine_threadsafe(work, self._loop)
        except RuntimeError as exc:  # the loop is closed
            work.close()
            raise LoopUnavailable(str(exc)) from None
        try:
            return future.result(self._timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise LoopUnavailable(f"no answer from the event loop within {self._timeout} s") \
                from None
        except concurrent.futures.CancelledError:
            raise LoopUnavailable("the event loop cancelled the work (shutting down)") from None
