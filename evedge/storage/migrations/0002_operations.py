"""Remote operations: reservations, charging profiles sent, local authorization lists."""
from peewee import *


def up(migrator, db):
    class Charger(Model):
        id = CharField(primary_key=True, max_length=64)

        class Meta:
            database = db
            table_name = 'charger'

    class Transaction(Model):
        class Meta:
            database = db
            table_name = 'transaction'

    class Reservation(Model):
        charger = ForeignKeyField(Charger, on_delete='CASCADE')
        connector_id = IntegerField()
        id_tag = CharField(max_length=20)
        parent_id_tag = CharField(max_length=20, null=True)
        expiry_date = DateTimeField()
        status = CharField(max_length=16, default='Requested')
        transaction = ForeignKeyField(Transaction, null=True, on_delete='SET NULL')
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = 'reservation'
            indexes = ((('charger', 'status'), False),)

    class ChargingProfileRecord(Model):
        charger = ForeignKeyField(Charger, on_delete='CASCADE')
        connector_id = IntegerField()
        profile_id = IntegerField()
        stack_level = IntegerField()
        purpose = CharField(max_length=32)
        profile = TextField()
        status = CharField(max_length=16)
        sent_at = DateTimeField()
        cleared_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = 'charging_profile_record'
            indexes = ((('charger', 'profile_id'), False),)

    class LocalListEntry(Model):
        charger = ForeignKeyField(Charger, on_delete='CASCADE')
        id_tag = CharField(max_length=20)
        status = CharField(max_length=16)
        expiry_date = DateTimeField(null=True)
        parent_id_tag = CharField(max_length=20, null=True)

        class Meta:
            database = db
            table_name = 'local_list_entry'
            indexes = ((('charger', 'id_tag'), True),)

    db.create_tables([Reservation, ChargingProfileRecord, LocalListEntry])
