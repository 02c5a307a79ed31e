"""meter_sample's "latest per connector" index covers only samples outside transactions.

The full (charger, connector_id, id) index cost every sample a B-tree insert plus
the WAL pages it dirties: 100 chargers metering at once touch 100 leaf pages per
commit, a third of a MeterValues' storage cost. Samples inside a transaction, the
volume, are found through (transaction, timestamp) instead, so the index keeps
only the others (read_models.last_meter).
"""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.drop_index('meter_sample', 'metersample_charger_id_connector_id_id'),
        migrator.add_index('meter_sample', ('charger_id', 'connector_id', 'id'),
                           where=SQL('transaction_id IS NULL'),
                           name='metersample_connector_latest'))


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('meter_sample', 'metersample_connector_latest'),
        migrator.add_index('meter_sample', ('charger_id', 'connector_id', 'id')))
