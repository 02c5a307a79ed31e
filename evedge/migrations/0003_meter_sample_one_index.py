"""meter_sample keeps one index, (transaction, timestamp).

The (charger, connector_id, id) index served no query, and every index costs a
B-tree insert per sample plus the WAL pages it dirties: 100 chargers metering at
once touch 100 leaf pages per commit. Dropping it halves the per-sample storage
cost (bench/README.md, saturation MeterValues).
"""
from peewee import *


def up(migrator, db):
    migrator.migrate(migrator.drop_index('meter_sample', 'metersample_charger_id_connector_id_id'))


def down(migrator, db):
    migrator.migrate(migrator.add_index('meter_sample', ('charger_id', 'connector_id', 'id')))
