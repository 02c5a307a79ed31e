"""Room on PostgreSQL for what the tolerant pass keeps (evedge/chargers/tolerance.py).

Over-long informational strings are kept up to 500 characters, identifiers (idTag,
messageId) up to 255, the raw text of descriptive enums (unit, measurand, connector
status...) up to 500, and integers up to signed 64 bits. PostgreSQL refuses them in
the 1.6 schema's widths and in 32-bit integer columns, failing the message (for meter
samples, the whole commit batch). SQLite enforces neither lengths nor 32 bits and
keeps REAL as 8 bytes, so there is nothing to do there (and rebuilding meter_sample
for it would cost minutes on a full box).

On PostgreSQL, widening a varchar is a catalog change; integer -> bigint and
real -> double precision rewrite the table once (meter_sample included).
"""
from peewee import *

TEXT = 'VARCHAR(500)'
IDENTIFIER = 'VARCHAR(255)'
WIDENED = {
    'charger': {c: TEXT for c in (
        'vendor', 'model', 'serial_number', 'charge_box_serial_number', 'firmware_version',
        'iccid', 'imsi', 'meter_type', 'meter_serial_number', 'firmware_status',
        'diagnostics_status')},
    'connector': {'connector_id': 'BIGINT', 'status': TEXT, 'info': TEXT,
                  'vendor_error_code': TEXT},
    'status_event': {'connector_id': 'BIGINT', 'status': TEXT, 'info': TEXT,
                     'vendor_error_code': TEXT},
    'transaction': {'connector_id': 'BIGINT', 'id_tag': IDENTIFIER, 'stop_id_tag': IDENTIFIER,
                    'reservation_id': 'BIGINT', 'meter_start': 'BIGINT', 'meter_stop': 'BIGINT',
                    'energy_wh': 'BIGINT'},
    # value: peewee's FloatField is REAL (4 bytes) on PostgreSQL: above 3.4e38 a reading
    # fails the batch, and registers beyond 2**24 Wh (16.8 MWh) lose whole Wh.
    'meter_sample': {'connector_id': 'BIGINT', 'measurand': TEXT, 'phase': TEXT, 'unit': TEXT,
                     'location': TEXT, 'value': 'DOUBLE PRECISION'},
    'data_transfer_record': {'message_id': IDENTIFIER},
}


def up(migrator, db):
    if not isinstance(db, PostgresqlDatabase):
        return   # SQLite: no lengths, 64-bit integers, 8-byte reals already
    for table, columns in WIDENED.items():
        changes = ', '.join(f'ALTER COLUMN "{column}" TYPE {kind}'
                            for column, kind in columns.items())
        db.execute_sql(f'ALTER TABLE "{table}" {changes}')
