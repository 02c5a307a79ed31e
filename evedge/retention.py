"""Meter sample retention: old samples deleted in small steps, the loop never held up.

Deleting a year's backlog in one statement would hold the event loop (and with it
every charger's answer) for seconds or minutes. A sweep deletes a bounded batch per
step instead, through the group commit like any other write (decisions.md D3: one
writer, on the loop), waits for that commit, and lets the loop run before the next
step. The batch adapts to the box: it halves when a step's DELETE took longer than
``step_budget`` and doubles when it took less than half of it, so a slow flash card
gets small steps and a fast disk few of them (README, Monitoring: measurements).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from .storage import sql
from .storage.group_commit import CommitFailed, GroupCommit, StorageError

log = logging.getLogger(__name__)

MIN_BATCH, FIRST_BATCH, MAX_BATCH = 100, 1000, 5000
STEP_BUDGET = 0.002  # seconds a step's DELETE may hold the loop
PAUSE = 0.02  # seconds between steps


class MeterRetention:
    """Owner of the retention sweep; ``deleted_total`` counts every sample it deleted."""

    def __init__(self, committer: GroupCommit, days: int, step_budget: float = STEP_BUDGET,
                 pause: float = PAUSE):
        self._committer = committer
        self._pause = pause
        self._days = days
        self._budget = step_budget
        self._batch = FIRST_BATCH
        self._task: asyncio.Task | None = None
        self.deleted_total = 0

    @property
    def batch(self) -> int:
        """Samples the next step deletes at most."""
        return self._batch

    def start(self, now: dt.datetime) -> asyncio.Task | None:
        """Begin a sweep of the samples received before ``now`` minus the retention,
        unless retention is off (0 days) or a sweep still runs. Returns the sweep."""
        if self._days <= 0 or (self._task is not None and not self._task.done()):
            return None
        cutoff = now - dt.timedelta(days=self._days)
        self._task = asyncio.get_running_loop().create_task(self.sweep(cutoff))
        return self._task

    async def sweep(self, cutoff: dt.datetime) -> int:
        """Delete every sample received before ``cutoff``; returns how many. A failing
        commit ends the sweep (logged once); the next housekeeping round starts over."""
        started, deleted = time.monotonic(), 0
        try:
            first_kept = sql.first_sample_since(cutoff)  # ids only grow: found once
            while first_kept is not None:
                count = self._step(first_kept)
                await self._committer.durable()
                if not count:
                    break
                deleted += count
                self.deleted_total += count
                await asyncio.sleep(self._pause)  # the loop is the chargers' meanwhile
        except (CommitFailed, StorageError) as exc:
            log.warning("meter retention stopped after %d samples (%s); retried with the next "
                        "housekeeping round", deleted, exc)
            return deleted
        if deleted:
            log.info("meter retention: deleted %d samples received before %s in %.1f s",
                     deleted, cutoff.isoformat(timespec="seconds"), time.monotonic() - started)
        return deleted

    def _step(self, first_kept: int) -> int:
        """One bounded DELETE in the shared transaction; adapts the next batch to its time."""
        batch = self._batch
        began = time.perf_counter()
        count = self._committer.run(lambda: sql.delete_samples_below(first_kept, batch),
                                    isolated=False)
        took = time.perf_counter() - began
        if took > self._budget:
            self._batch = max(MIN_BATCH, batch // 2)
        elif took < self._budget / 2 and count == batch:
            self._batch = min(MAX_BATCH, batch * 2)
        return count

    async def close(self) -> None:
        """Stop a running sweep (what it deleted is committed; the rest waits for the next
        start)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
