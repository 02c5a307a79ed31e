"""Single-use grants for diagnostics uploads; retired chargers; chargers simulators own.

* upload_grant: GetDiagnostics hands a charger a location with a token; only an upload
  to a valid, unused, unexpired token is stored (the token itself is kept hashed).
* charger.retired_at: DELETE /api/chargers/<id>/ retires a charger and keeps its
  transactions (their foreign key would otherwise take them along).
* charger.simulated: ids the dashboard's simulators registered; a simulator may not use
  the id of a real charger.
"""
from peewee import *


def up(migrator, db):
    class Charger(Model):
        id = CharField(primary_key=True, max_length=64)

        class Meta:
            database = db
            table_name = 'charger'

    class UploadGrant(Model):
        token_hash = CharField(primary_key=True, max_length=64)
        charger = ForeignKeyField(Charger, on_delete='CASCADE')
        purpose = CharField(max_length=16, default='diagnostics')
        created_at = DateTimeField()
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)
        file_name = CharField(max_length=128, null=True)

        class Meta:
            database = db
            table_name = 'upload_grant'

    db.create_tables([UploadGrant])
    migrator.migrate(
        migrator.add_column('charger', 'retired_at', DateTimeField(null=True)),
        # A database default too, so that statements written by hand (and by older tools)
        # that list the columns they set keep working.
        migrator.add_column('charger', 'simulated',
                            BooleanField(default=False, constraints=[SQL('DEFAULT FALSE')])),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('charger', 'retired_at'),
        migrator.drop_column('charger', 'simulated'),
    )
    db.execute_sql('DROP TABLE upload_grant')
