"""Group commit: one database transaction per event-loop turn, answers after the commit.

Charger messages are acknowledged only after their data is committed
(docs/decisions.md D1); with ``synchronous=FULL`` a
commit costs an fsync, so the OCPP hot path shares one transaction per loop turn
and sends its answers right after that single commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, TypeVar

from peewee import Database, DatabaseError, SqliteDatabase

log = logging.getLogger(__name__)
T = TypeVar("T")


class CommitFailed(Exception):
    """The batch a write belonged to was rolled back; nothing of it was acknowledged."""


# What a failing statement raises, whatever the database (for callers outside storage/).
StorageError = DatabaseError


class GroupCommit:
    """One transaction per event-loop turn for the OCPP hot path.

    ``run(work)`` executes ``work()`` inside the shared transaction (opened on
    first use and committed by a callback scheduled for the next loop turn),
    isolated by a savepoint so that a failing message never takes others with
    it. ``add_rows(sql, rows)`` queues rows for one ``executemany`` per statement
    just before the commit: meter samples, the volume table, are inserted once
    per batch instead of once per message. ``when_committed(ok, failed)`` defers
    an acknowledgement until the data written so far is durable; with no
    transaction open it runs ``ok`` at once. ``work`` must be synchronous: an
    ``await`` inside the transaction would let other coroutines' writes
    interleave with it (docs/conventions.md §7).

    The write lock is never waited for on the event loop (the loop's connection has a
    busy timeout of 0): when another process holds it (a backup, an admin's ``sqlite3``
    session), ``BEGIN`` fails at once (microseconds), the work of that moment gets
    ``CommitFailed`` (the charger an InternalError, it retries), and the next write tries
    again, so writes are served as soon as the lock is free; a failed ``BEGIN`` or
    ``COMMIT`` leaves the committer usable.
    """

    def __init__(self, db: Database, window: float = 0.0,
                 observe: Callable[[int, float, bool], None] | None = None):
        self._db = db
        self._observe = observe or _unobserved  # (waiters released, seconds, ok): /metrics
        self._window = window  # seconds to gather more messages into one commit
        self._txn = None
        self._rows: dict[str, list[tuple]] = {}
        self._pending: list[tuple[Callable[[], None], Callable[[], None]]] = []
        self.failed_batches = 0  # consecutive batches whose commit (or begin) failed
        if isinstance(db, SqliteDatabase):
            db.execute_sql("PRAGMA busy_timeout = 0")

    @property
    def in_transaction(self) -> bool:
        return self._txn is not None

    def _begin(self) -> None:
        loop = asyncio.get_running_loop()
        txn = self._db.atomic()
        try:
            txn.__enter__()
        except Exception as exc:
            self._failed(exc, 0)
            raise CommitFailed(f"the database cannot begin a transaction ({exc})") from None
        self._txn = txn
        if self._window > 0:
            loop.call_later(self._window, self.flush)
        else:
            loop.call_soon(self.flush)

    def run(self, work: Callable[[], T], isolated: bool = True) -> T:
        """Run ``work`` in the shared transaction; ``isolated=False`` skips the savepoint,
        for work that makes at most one write (nothing to undo if it fails)."""
        if self._txn is None:
            self._begin()
        if not isolated:
            return work()
        cursor = self._db.cursor()
        cursor.execute("SAVEPOINT unit")
        try:
            result = work()
        except BaseException:
            cursor.execute("ROLLBACK TO SAVEPOINT unit")
            cursor.execute("RELEASE SAVEPOINT unit")
            raise
        cursor.execute("RELEASE SAVEPOINT unit")
        return result

    def add_rows(self, sql: str, rows: list[tuple]) -> None:
        """Insert ``rows`` with the next commit (they are checked by the caller first)."""
        if self._txn is None:
            self._begin()
        self._rows.setdefault(sql, []).extend(rows)

    def when_committed(self, ok: Callable[[], None], failed: Callable[[], None]) -> None:
        if self._txn is None:
            ok()
        else:
            self._pending.append((ok, failed))

    def durable(self) -> asyncio.Future:
        """A future that resolves once everything written so far is committed."""
        future = asyncio.get_running_loop().create_future()

        def ok() -> None:
            if not future.done():
                future.set_result(None)

        def failed() -> None:
            if not future.done():
                future.set_exception(CommitFailed("the database did not accept the write"))

        self.when_committed(ok, failed)
        return future

    def flush(self) -> None:
        """Insert the queued rows, commit, then release the answers waiting for it."""
        txn, self._txn = self._txn, None
        pending, self._pending = self._pending, []
        rows, self._rows = self._rows, {}
        if txn is None:
            return
        started = time.perf_counter()
        try:
            try:
                cursor = self._db.cursor()
                for sql, batch in rows.items():
                    cursor.executemany(sql, batch)
            except BaseException as exc:
                txn.__exit__(type(exc), exc, exc.__traceback__)  # rolls back
                raise
            txn.__exit__(None, None, None)
        except Exception as exc:
            # Nothing of this batch was acknowledged, so nothing is lost: the chargers
            # get a CALLERROR and retry (OCPP 1.6 §4.2 / transaction message retries).
            self._failed(exc, len(pending))
            self._observe(len(pending), time.perf_counter() - started, False)
            for _, failed in pending:
                failed()
            return
        if self.failed_batches:
            log.warning("commits succeed again, after %d failed batches", self.failed_batches)
            self.failed_batches = 0
        self._observe(len(pending), time.perf_counter() - started, True)
        for ok, _ in pending:
            ok()

    @property
    def failing(self) -> bool:
        """Whether the last commit failed (``/healthz`` answers 503 meanwhile)."""
        return self.failed_batches > 0

    def _failed(self, exc: Exception, answers: int) -> None:
        """One log line per failure episode, with the cause; the rest are counted."""
        if not self.failed_batches:
            log.error("database write failed (%s: %s); answers become errors until a commit "
                      "succeeds (%d in this batch)", type(exc).__name__, exc, answers)
            log.debug("commit failure", exc_info=exc)
        self.failed_batches += 1


def _unobserved(batch: int, seconds: float, ok: bool) -> None:
    pass
