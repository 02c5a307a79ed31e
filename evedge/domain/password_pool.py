"""bcrypt on threads of its own, with a bounded queue.

A bcrypt check at the production cost takes a quarter to half a second of one core, by
design. Run in the loop's default executor (as before), a flood of wrong passwords queued
without limit: honest logins waited seconds behind it (2.4 s measured) and every other
user of that executor (file hashing, fsyncs) with them. Here the work runs on ``workers``
threads (bcrypt releases the GIL, so the event loop keeps its core), and at most
``max_waiting`` checks wait for a thread; one more is refused at once with
``errors.Busy`` (503, Retry-After), which costs nothing.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from .. import errors

T = TypeVar("T")


def default_workers() -> int:
    """One thread on a box of one or two cores (the loop keeps a core), two above."""
    return 1 if (os.cpu_count() or 1) <= 2 else 2


class PasswordPool:
    def __init__(self, workers: int | None = None, max_waiting: int = 4):
        self.workers = workers or default_workers()
        self.max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="bcrypt")
        self._running = 0  # submitted and not finished: on a thread or waiting for one

    @property
    def queued(self) -> int:
        return self._running

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """``work(*args)`` on a bcrypt thread; errors.Busy if the queue is full."""
        if self._running >= self.workers + self.max_waiting:
            raise errors.Busy("the box is busy checking passwords; try again in a moment")
        self._running += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        finally:
            self._running -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
