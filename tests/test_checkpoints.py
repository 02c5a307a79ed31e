"""WAL checkpoints off the loop (evedge/storage/checkpoints.py), on a real SQLite file:
commits never copy the WAL into the database themselves, the checkpoint thread does."""

from __future__ import annotations

import pytest

from conftest import TEST_POSTGRES, make_config
from evedge.storage.checkpoints import Checkpointer
from evedge.storage.database import close_database, open_database

pytestmark = pytest.mark.skipif(bool(TEST_POSTGRES), reason="SQLite's WAL")


@pytest.fixture
def db(tmp_path):
    config = make_config(tmp_path)
    database = open_database(config)
    database.execute_sql("CREATE TABLE filler (blob BLOB)")
    yield database, config.database_path
    close_database()


def fill(database, commits: int, rows: int = 100) -> None:
    """``commits`` commits of ``rows`` page-sized rows: 100 rows are about 100 pages."""
    for _ in range(commits):
        with database.atomic():
            for _ in range(rows):
                database.execute_sql("INSERT INTO filler (blob) VALUES (randomblob(3500))")


def wait_for_checkpoint(checkpointer: Checkpointer, after: int, timeout: float = 10.0):
    with checkpointer.done:
        assert checkpointer.done.wait_for(lambda: checkpointer.checkpoints > after, timeout)
        return checkpointer.last


def test_commits_leave_the_wal_to_the_checkpoint_thread(db):
    database, path = db
    before = path.stat().st_size
    fill(database, 30)  # about 3,000 pages: SQLite's own rule checkpoints at 1,000
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 3 * 1024 * 1024
    assert path.stat().st_size == before, "a commit on the loop copied the WAL itself"
    checkpointer = Checkpointer(path, interval=0.05).start()
    try:
        result = wait_for_checkpoint(checkpointer, 0)
        assert not result.busy and result.wal_frames >= 3000
        assert result.checkpointed_frames == result.wal_frames
        assert path.stat().st_size > before + 10 * 1024 * 1024
        # Everything copied: the next write starts the WAL over at its beginning.
        fill(database, 1, rows=5)
        result = wait_for_checkpoint(checkpointer, checkpointer.checkpoints)
        assert result.wal_frames < 100
        assert database.execute_sql("SELECT COUNT(*) FROM filler").fetchone()[0] == 3005
    finally:
        checkpointer.close()


def test_an_idle_database_gets_no_checkpoint(db):
    database, path = db
    fill(database, 1, rows=5)
    checkpointer = Checkpointer(path, interval=0.02).start()
    try:
        wait_for_checkpoint(checkpointer, 0)  # the writes above
        with checkpointer.done:  # nothing written since: no more checkpoints (no fsync)
            assert not checkpointer.done.wait_for(lambda: checkpointer.checkpoints > 1, 0.3)
    finally:
        checkpointer.close()


async def test_the_server_runs_the_checkpoint_thread(start_server):
    server = await start_server()
    assert server.services.checkpoints is not None
    assert server.services.checkpoints._thread.is_alive()
    assert server.services.checkpoints.database_path == server.config.database_path
