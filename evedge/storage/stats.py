"""What /metrics reads from the database and the data volume, once per scrape.

Run in the read pool (``database.ReadPool``), never on the event loop: the energy sum
reads every finished transaction (a year of a 200-charger depot, 219,000 rows, about
30 ms; README, Monitoring), and a read there sees committed data only, which is what the
series should show.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from peewee import PostgresqlDatabase, SqliteDatabase

from .models import Charger, Transaction, database

CH, TX = Charger._meta.table_name, Transaction._meta.table_name


@dataclass(frozen=True)
class StorageStats:
    chargers: dict[str, int]       # registration status -> chargers (retired ones left out)
    active_transactions: int       # begun and not stopped
    energy_wh: int                 # energy_wh of every finished transaction
    database_bytes: int | None     # the database's files (SQLite: main file and WAL)
    volume_free_bytes: int | None  # of the data_dir volume, as health.py measures it
    volume_total_bytes: int | None


def read_stats(data_dir: Path) -> StorageStats:
    """Counts, the energy total and sizes; the queries are the cheap ones the indexes allow
    (``stop_received_at`` is indexed; the charger table is small)."""
    rows = database.execute_sql(f'SELECT registration_status, COUNT(*) FROM "{CH}" '
                                'WHERE retired_at IS NULL GROUP BY registration_status')
    active = database.execute_sql(f'SELECT COUNT(*) FROM "{TX}" '
                                  'WHERE stop_received_at IS NULL').fetchone()[0]
    energy = database.execute_sql(f'SELECT COALESCE(SUM(energy_wh), 0) FROM "{TX}" '
                                  'WHERE stop_received_at IS NOT NULL').fetchone()[0]
    free, total = _volume(data_dir)
    return StorageStats(chargers={status: count for status, count in rows},
                        active_transactions=int(active), energy_wh=int(energy),
                        database_bytes=database_size(), volume_free_bytes=free,
                        volume_total_bytes=total)


def database_size() -> int | None:
    """Bytes the database takes: SQLite's file plus its WAL (the WAL holds recent commits
    until a checkpoint), PostgreSQL's ``pg_database_size``; None if unknown."""
    db = database.obj
    if isinstance(db, SqliteDatabase):
        return sum(_file_size(db.database + suffix) for suffix in ("", "-wal"))
    if isinstance(db, PostgresqlDatabase):
        return int(database.execute_sql(
            "SELECT pg_database_size(current_database())").fetchone()[0])
    return None


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:  # no WAL between a checkpoint that truncated it and the next write
        return 0


def _volume(data_dir: Path) -> tuple[int | None, int | None]:
    try:
        usage = shutil.disk_usage(data_dir)
    except OSError:
        return None, None
    return usage.free, usage.total
