"""The database: opening it with the right pragmas, migrations, and group commit.

evedge runs every write on the event-loop thread, on one connection. Charger
messages are acknowledged only after their data is committed (architecture.md
§5); with ``synchronous=FULL`` a commit costs an fsync, so the OCPP hot path
shares one transaction per loop turn (:class:`GroupCommit`) and sends its
answers right after that single commit.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

from peewee import Database, SqliteDatabase
from playhouse import migrations
from playhouse.db_url import connect as connect_url

from . import paths
from .config import Config
from .models import database

log = logging.getLogger(__name__)
T = TypeVar("T")


class CommitFailed(Exception):
    pass


def open_database(config: Config) -> Database:
    """Bind the models to the configured database, apply migrations, and connect."""
    if config.database_url:
        db = connect_url(config.database_url)
    else:
        path = Path(config.data_dir)
        path.mkdir(parents=True, exist_ok=True)
        db = SqliteDatabase(
            str(config.database_path),
            pragmas={
                "journal_mode": "wal",
                "synchronous": config.sqlite_synchronous,
                "foreign_keys": 1,
                "busy_timeout": 5000,
                "cache_size": -16000,
            },
            # BEGIN IMMEDIATE: take the write lock up front, no lock-upgrade deadlocks.
            lock_type="IMMEDIATE",
        )
    database.initialize(db)
    db.connect(reuse_if_open=True)
    applied = migrations.run(db, directory=paths.migrations())
    if applied:
        log.info("database migrations applied: %s", ", ".join(applied))
    return db


def close_database() -> None:
    if database.obj is not None and not database.is_closed():
        database.close()


def is_sqlite(db: Database | None = None) -> bool:
    return isinstance(db or database.obj, SqliteDatabase)


class ReadPool:
    """Slow read-only queries (whole-fleet lists, exports) off the event loop.

    One worker thread with its own connection: in WAL mode it reads committed
    data while the loop thread writes, so a dashboard asking for a thousand
    chargers never holds up a charger's answer (stack-notes.md §3.3).
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evedge-read")

    async def run(self, fn: Callable[..., T], *args) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call,
                                                                fn, args)

    @staticmethod
    def _call(fn: Callable[..., T], args: tuple) -> T:
        if database.is_closed():  # this thread's connection (peewee keeps one per thread)
            database.connect()
        return fn(*args)

    def close(self) -> None:
        self._executor.submit(lambda: database.is_closed() or database.close()).result()
        self._executor.shutdown(wait=True)


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
    interleave with it (style.md convention 7).
    """

    def __init__(self, db: Database, window: float = 0.0):
        self._db = db
        self._window = window  # seconds to gather more messages into one commit
        self._txn = None
        self._rows: dict[str, list[tuple]] = {}
        self._pending: list[tuple[Callable[[], None], Callable[[], None]]] = []
        self.commits = 0          # for metrics and the benchmark
        self.committed_units = 0

    @property
    def in_transaction(self) -> bool:
        return self._txn is not None

    def _begin(self) -> None:
        self._txn = self._db.atomic()
        self._txn.__enter__()
        loop = asyncio.get_running_loop()
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
            result = work()
            self.committed_units += 1
            return result
        cursor = self._db.cursor()
        cursor.execute("SAVEPOINT unit")
        try:
            result = work()
        except BaseException:
            cursor.execute("ROLLBACK TO SAVEPOINT unit")
            cursor.execute("RELEASE SAVEPOINT unit")
            raise
        cursor.execute("RELEASE SAVEPOINT unit")
        self.committed_units += 1
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
        try:
            try:
                cursor = self._db.cursor()
                for sql, batch in rows.items():
                    cursor.executemany(sql, batch)
            except BaseException as exc:
                txn.__exit__(type(exc), exc, exc.__traceback__)  # rolls back
                raise
            txn.__exit__(None, None, None)
        except Exception:
            # Nothing of this batch was acknowledged, so nothing is lost: the chargers
            # get a CALLERROR and retry (OCPP 1.6 §4.2 / transaction message retries).
            log.exception("commit failed; %d answers turned into errors", len(pending))
            for _, failed in pending:
                failed()
            return
        self.commits += 1
        for ok, _ in pending:
            ok()
