"""SQLite WAL checkpoints in a thread of their own, so that no commit on the loop pays one.

By default SQLite checkpoints in the connection whose commit takes the WAL past 1,000
pages: for evedge that is the event-loop thread, which then copies the WAL into the
database file and fsyncs it before it answers anyone (measured: loop stalls up to 176 ms
during a retention sweep, ``python bench/meter_storage.py sweep``). evedge's connections
set ``wal_autocheckpoint=0`` (database.py) and this thread checkpoints instead, on its own
connection, PASSIVE: a passive checkpoint takes no lock a writer waits for, so the loop
keeps appending to the WAL while it copies; once a checkpoint has copied every frame, the
next write starts the WAL over at its beginning (sqlite.org/wal.html, "Checkpointing";
sqlite.org/c3ref/wal_checkpoint_v2.html).

It checkpoints at most every ``interval`` seconds and only when the WAL file changed
since, so an idle box does no extra fsync. When the last connection closes, SQLite
checkpoints whatever is left itself.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointResult:
    """``PRAGMA wal_checkpoint``'s row: whether it was blocked, the WAL's frames and how
    many of them are now in the database file."""

    busy: bool
    wal_frames: int
    checkpointed_frames: int


class Checkpointer:
    def __init__(self, database_path: Path, interval: float = 2.0) -> None:
        self.database_path = Path(database_path)
        self.wal_path = Path(f"{database_path}-wal")
        self.interval = interval
        self.checkpoints = 0
        self.last: CheckpointResult | None = None
        self.done = threading.Condition()  # notified after every checkpoint (tests wait on it)
        self._stop = threading.Event()
        self._seen: tuple[int, int] | None = None  # the WAL's (mtime, size) at the last one
        self._failed_at = float("-inf")
        self._thread = threading.Thread(target=self._run, name="evedge-checkpoint",
                                        daemon=True)

    def start(self) -> Checkpointer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self.database_path, isolation_level=None)
        try:
            while not self._stop.wait(self.interval):
                if self._wal_changed():
                    self._checkpoint(connection)
        finally:
            connection.close()

    def _wal_changed(self) -> bool:
        try:
            status = os.stat(self.wal_path)
        except OSError:  # none yet, or between a close that removed it and the next write
            return False
        seen = (status.st_mtime_ns, status.st_size)
        changed, self._seen = seen != self._seen, seen
        return changed

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            busy, frames, copied = connection.execute(
                "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            self._seen = None  # try again next time
            if time.monotonic() - self._failed_at > 60:  # a full disk fails every time
                self._failed_at = time.monotonic()
                log.warning("WAL checkpoint failed (the WAL grows until one succeeds): %s",
                            exc)
            return
        with self.done:
            self.checkpoints += 1
            self.last = CheckpointResult(bool(busy), frames, copied)
            self.done.notify_all()
