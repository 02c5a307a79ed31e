"""The database layer: migrations match the models, pragmas, group commit isolation."""

from __future__ import annotations

import os

import pytest
from playhouse.schema_diff import diff_models

from evedge import paths
from evedge.storage import database as evedge_db
from evedge.storage.group_commit import GroupCommit
from evedge.storage.models import ALL_MODELS, Charger, KeyValue

from conftest import make_config


@pytest.fixture
def opened(tmp_path):
    handle = evedge_db.open_database(make_config(tmp_path))
    yield handle
    evedge_db.close_database()


def test_migrations_build_exactly_the_models_schema(opened):
    assert not diff_models(opened, ALL_MODELS), str(diff_models(opened, ALL_MODELS))


def test_migrations_are_idempotent_on_restart(tmp_path, opened):
    evedge_db.close_database()
    again = evedge_db.open_database(make_config(tmp_path))
    shipped = sorted(name[:-3] for name in os.listdir(paths.migrations())
                     if name[0].isdigit() and name.endswith(".py"))
    assert shipped[:3] == ["0001_initial", "0002_operations", "0003_meter_sample_lean_indexes"]
    # Each applied exactly once, in order, although the database was opened twice.
    assert [row[0] for row in again.execute_sql("SELECT name FROM schema_migration")] == shipped


@pytest.mark.sqlite_only
def test_pragmas_for_durability(opened):
    pragma = lambda name: opened.execute_sql(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
    assert pragma("journal_mode") == "wal"
    assert pragma("synchronous") == 2  # FULL
    assert pragma("foreign_keys") == 1


async def test_group_commit_isolates_a_failing_unit(opened):
    committer = GroupCommit(opened)
    committer.run(lambda: KeyValue.create(key="kept", value="1"))

    def failing():
        KeyValue.create(key="lost", value="1")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        committer.run(failing)
    committer.run(lambda: KeyValue.create(key="also-kept", value="1"))
    await committer.durable()
    assert sorted(k.key for k in KeyValue.select()) == ["also-kept", "kept"]


@pytest.mark.sqlite_only
async def test_failed_commit_turns_pending_answers_into_failures(opened):
    """When COMMIT itself fails, nothing of the batch is acknowledged or kept."""
    from evedge.storage.models import Connector
    committer = GroupCommit(opened)
    outcome = []
    committer.run(lambda: Charger.create(id="CP-OK"))
    committer.when_committed(lambda: outcome.append("first ok"),
                             lambda: outcome.append("first failed"))

    def dangling_reference():
        # A deferred foreign key is checked at COMMIT, so the commit itself fails.
        opened.execute_sql("PRAGMA defer_foreign_keys = ON")
        Connector.create(charger="CP-MISSING", connector_id=1)

    committer.run(dangling_reference)
    committer.when_committed(lambda: outcome.append("second ok"),
                             lambda: outcome.append("second failed"))
    committer.flush()
    assert outcome == ["first failed", "second failed"]
    assert not committer.in_transaction
    assert Charger.select().count() == 0 and Connector.select().count() == 0
    # The committer is usable again afterwards.
    committer.run(lambda: Charger.create(id="CP-AGAIN"))
    await committer.durable()
    assert [c.id for c in Charger.select()] == ["CP-AGAIN"]
