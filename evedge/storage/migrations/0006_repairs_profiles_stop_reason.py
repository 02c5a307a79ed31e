"""What evedge keeps about a charger: repairs per charger, profiles in force, stop reasons.

* charger_repair: every kind of firmware deviation the tolerant pass repaired, per
  charger, with a count, first and last seen and one example (docs/decisions.md D22).
* charging_profile_record.transaction_id: the transaction a TxProfile belongs to, so that
  it ends with it (D23). Until now every SetChargingProfile added a row; the rows are
  brought to "one per profile in force" without deleting any: an Accepted row that a later
  Accepted one replaced (same id, or same connector, stackLevel and purpose, OCPP 1.6
  §5.16.3) is marked Replaced, and a TxProfile whose transaction is not open (or not
  known) is marked Ended.
* transaction.stop_reason: a StopTransaction without ``reason`` means Local (§6.49: the
  reason may be omitted only when it is Local); the stops stored before as NULL say so now.
"""
import json

from peewee import *


def up(migrator, db):
    class Charger(Model):
        id = CharField(primary_key=True, max_length=64)

        class Meta:
            database = db
            table_name = 'charger'

    class ChargerRepair(Model):
        charger = ForeignKeyField(Charger, on_delete='CASCADE')
        action = CharField(max_length=40)
        field = CharField(max_length=255)
        kind = CharField(max_length=40)
        count = BigIntegerField()
        first_seen_at = DateTimeField()
        last_seen_at = DateTimeField()
        example = TextField(default='')

        class Meta:
            database = db
            table_name = 'charger_repair'
            indexes = ((('charger', 'action', 'field', 'kind'), True),)

    db.create_tables([ChargerRepair])
    migrator.migrate(
        migrator.add_column('charging_profile_record', 'transaction_id',
                            BigIntegerField(null=True)))
    _one_row_per_profile(db)
    db.execute_sql('UPDATE "transaction" SET stop_reason = %s WHERE stop_reason IS NULL '
                   'AND stop_received_at IS NOT NULL AND stop_inferred = %s'
                   % (db.param, db.param), ('Local', False))


def _one_row_per_profile(db):
    """Mark what later Accepted rows replaced, and TxProfiles whose transaction is over."""
    rows = db.execute_sql(
        'SELECT id, charger_id, connector_id, profile_id, stack_level, purpose, profile '
        "FROM charging_profile_record WHERE status = 'Accepted' ORDER BY id DESC").fetchall()
    open_transactions = {row[0] for row in db.execute_sql(
        'SELECT id FROM "transaction" WHERE stop_received_at IS NULL')}
    kept_ids, kept_slots, ended, linked, replaced = set(), set(), [], [], []
    for row_id, charger, connector, profile_id, stack, purpose, text in rows:
        slot = (charger, connector, stack, purpose)
        if (charger, profile_id) in kept_ids or slot in kept_slots:
            replaced.append(row_id)
            continue
        kept_ids.add((charger, profile_id))
        kept_slots.add(slot)
        if purpose == 'TxProfile':
            transaction = _transaction_of(text)
            if transaction in open_transactions:
                linked.append((transaction, row_id))
            else:
                ended.append(row_id)
    mark = 'UPDATE charging_profile_record SET status = %s WHERE id = %s' % (db.param, db.param)
    for row_id in replaced:
        db.execute_sql(mark, ('Replaced', row_id))
    for row_id in ended:
        db.execute_sql(mark, ('Ended', row_id))
    link = ('UPDATE charging_profile_record SET transaction_id = %s WHERE id = %s'
            % (db.param, db.param))
    for transaction, row_id in linked:
        db.execute_sql(link, (transaction, row_id))


def _transaction_of(text):
    try:
        value = json.loads(text).get('transaction_id')
    except (ValueError, AttributeError):
        return None
    return value if type(value) is int else None


def down(migrator, db):
    migrator.migrate(migrator.drop_column('charging_profile_record', 'transaction_id'))
    db.execute_sql('DROP TABLE charger_repair')
