"""The database: opening it with the right pragmas and migrations; reads off the loop.

evedge runs every write on the event-loop thread, on one connection, through the
group commit (``group_commit.py``); slow reads go to :class:`ReadPool`.
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

from .. import paths
from ..config import Config
from .models import database
from .private import private_directory, private_file

log = logging.getLogger(__name__)
T = TypeVar("T")


def open_database(config: Config) -> Database:
    """Bind the models to the configured database, apply migrations, and connect."""
    if config.database_url:
        db = connect_url(config.database_url)
    else:
        private_directory(Path(config.data_dir))
        private_file(config.database_path)
        db = SqliteDatabase(
            str(config.database_path),
            pragmas={
                "journal_mode": "wal",
                "synchronous": config.sqlite_synchronous,
                "foreign_keys": 1,
                "busy_timeout": 5000,
                "cache_size": -16000,
                # Checkpoints run in their own thread, never in a commit on the loop
                # (checkpoints.py).
                "wal_autocheckpoint": 0,
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


class ReadPool:
    """Slow read-only queries (whole-fleet lists, exports) off the event loop.

    One worker thread with its own connection: in WAL mode it reads committed
    data while the loop thread writes, so a dashboard asking for a thousand
    chargers never holds up a charger's answer (docs/library-notes.md §3.3).
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
