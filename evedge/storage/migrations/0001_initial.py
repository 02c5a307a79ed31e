# Generated from a schema diff on 2026-11-24 02:21.
from peewee import *


def up(migrator, db):
    class Charger(Model):
        id = CharField(primary_key=True, max_length=64)
        label = CharField(max_length=100, default='')
        location = CharField(max_length=200, default='')
        registration_status = CharField(max_length=16, default='Accepted')
        password_hash = CharField(null=True, max_length=60)
        vendor = CharField(max_length=20, default='')
        model = CharField(max_length=20, default='')
        serial_number = CharField(max_length=25, default='')
        charge_box_serial_number = CharField(max_length=25, default='')
        firmware_version = CharField(max_length=50, default='')
        iccid = CharField(max_length=20, default='')
        imsi = CharField(max_length=20, default='')
        meter_type = CharField(max_length=25, default='')
        meter_serial_number = CharField(max_length=25, default='')
        created_at = DateTimeField()
        last_boot_at = DateTimeField(null=True)
        last_seen_at = DateTimeField(null=True)
        connected_at = DateTimeField(null=True)
        disconnected_at = DateTimeField(null=True)
        firmware_status = CharField(max_length=32, default='')
        firmware_status_at = DateTimeField(null=True)
        diagnostics_status = CharField(max_length=32, default='')
        diagnostics_status_at = DateTimeField(null=True)
        local_list_version = IntegerField(null=True)
        configuration = TextField(default='')
        class Meta:
            database = db
            table_name = 'charger'
    db.create_tables([Charger])

    class Anomaly(Model):
        charger = ForeignKeyField(Charger, on_delete='CASCADE')
        kind = CharField(max_length=40)
        detail = TextField(default='')
        received_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'anomaly'
            indexes = ((('charger', 'received_at'), False),)
    db.create_tables([Anomaly])

    class CommandLog(Model):
        charger = ForeignKeyField(Charger, on_delete='CASCADE')
        username = CharField(max_length=150, default='')
        action = CharField(max_length=40)
        request = TextField()
        outcome = CharField(max_length=20)
        response = TextField(default='')
        sent_at = DateTimeField()
        answered_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'command_log'
            indexes = ((('charger', 'sent_at'), False),)
    db.create_tables([CommandLog])

    class Connector(Model):
        charger = ForeignKeyField(Charger, on_delete='CASCADE')
        connector_id = IntegerField()
        status = CharField(max_length=20, default='Unknown')
        error_code = CharField(max_length=30, default='NoError')
        info = CharField(max_length=50, default='')
        vendor_id = CharField(default='')
        vendor_error_code = CharField(max_length=50, default='')
        status_at = DateTimeField(null=True)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'connector'
            indexes = ((('charger', 'connector_id'), True),)
    db.create_tables([Connector])

    class DataTransferRecord(Model):
        charger = ForeignKeyField(Charger, on_delete='CASCADE')
        vendor_id = CharField()
        message_id = CharField(null=True, max_length=50)
        data = TextField(null=True)
        received_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'data_transfer_record'
    db.create_tables([DataTransferRecord])

    class IdTag(Model):
        id_tag = CharField(primary_key=True, max_length=20)
        status = CharField(max_length=16, default='Accepted')
        expiry_date = DateTimeField(null=True)
        parent_id_tag = CharField(null=True, max_length=20)
        max_active_transactions = IntegerField(null=True)
        note = CharField(max_length=200, default='')
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'id_tag'
    db.create_tables([IdTag])

    class KeyValue(Model):
        key = CharField(primary_key=True, max_length=64)
        value = TextField(default='')
        class Meta:
            database = db
            table_name = 'key_value'
    db.create_tables([KeyValue])

    class User(Model):
        username = CharField(unique=True, max_length=150)
        password_hash = CharField(max_length=60)
        role = CharField(max_length=16, default='viewer')
        is_active = BooleanField(default=True)
        created_at = DateTimeField()
        last_login_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'user'
    db.create_tables([User])

    class LoginSession(Model):
        sid = CharField(primary_key=True, max_length=36)
        user = ForeignKeyField(User, on_delete='CASCADE')
        created_at = DateTimeField()
        expires_at = DateTimeField()
        revoked_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'login_session'
    db.create_tables([LoginSession])

    class Transaction(Model):
        charger = ForeignKeyField(Charger, on_delete='CASCADE')
        connector_id = IntegerField()
        id_tag = CharField(max_length=20)
        auth_status = CharField(max_length=16)
        reservation_id = IntegerField(null=True)
        meter_start = IntegerField()
        start_time = DateTimeField()
        start_received_at = DateTimeField()
        meter_stop = IntegerField(null=True)
        stop_time = DateTimeField(null=True)
        stop_received_at = DateTimeField(null=True)
        stop_reason = CharField(null=True, max_length=20)
        stop_id_tag = CharField(null=True, max_length=20)
        energy_wh = IntegerField(null=True)
        stop_inferred = BooleanField(default=False)
        note = CharField(max_length=200, default='')
        class Meta:
            database = db
            table_name = 'transaction'
            indexes = ((('charger', 'connector_id', 'start_time'), False), (('stop_received_at',), False), (('id_tag', 'stop_received_at'), False))
    db.create_tables([Transaction])

    class MeterSample(Model):
        charger = ForeignKeyField(Charger, on_delete='CASCADE', index=False)
        connector_id = IntegerField()
        transaction = ForeignKeyField(Transaction, null=True, on_delete='SET NULL', index=False)
        timestamp = DateTimeField()
        received_at = DateTimeField()
        measurand = CharField(max_length=40, default='Energy.Active.Import.Register')
        phase = CharField(null=True, max_length=8)
        unit = CharField(null=True, max_length=12)
        context = CharField(null=True, max_length=24)
        location = CharField(null=True, max_length=8)
        value = FloatField(null=True)
        raw_value = TextField(null=True)
        class Meta:
            database = db
            table_name = 'meter_sample'
            indexes = ((('charger', 'connector_id', 'id'), False), (('transaction', 'timestamp'), False))
    db.create_tables([MeterSample])

    class RevokedToken(Model):
        jti = CharField(primary_key=True, max_length=36)
        expires_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'revoked_token'
    db.create_tables([RevokedToken])

    class StatusEvent(Model):
        charger = ForeignKeyField(Charger, on_delete='CASCADE')
        connector_id = IntegerField()
        status = CharField(max_length=20)
        error_code = CharField(max_length=30)
        info = CharField(max_length=50, default='')
        vendor_id = CharField(default='')
        vendor_error_code = CharField(max_length=50, default='')
        charger_time = DateTimeField(null=True)
        received_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'status_event'
            indexes = ((('charger', 'received_at'), False),)
    db.create_tables([StatusEvent])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('status_event'))
    migrator.migrate(migrator.drop_table('revoked_token'))
    migrator.migrate(migrator.drop_table('meter_sample'))
    migrator.migrate(migrator.drop_table('transaction'))
    migrator.migrate(migrator.drop_table('login_session'))
    migrator.migrate(migrator.drop_table('user'))
    migrator.migrate(migrator.drop_table('key_value'))
    migrator.migrate(migrator.drop_table('id_tag'))
    migrator.migrate(migrator.drop_table('data_transfer_record'))
    migrator.migrate(migrator.drop_table('connector'))
    migrator.migrate(migrator.drop_table('command_log'))
    migrator.migrate(migrator.drop_table('anomaly'))
    migrator.migrate(migrator.drop_table('charger'))
