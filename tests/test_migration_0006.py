"""Migration 0006 on a database as evedge left it before: the pile of profile rows comes down to
one per profile in force without losing a row, and stops stored without a reason say Local
(docs/decisions.md D23, D26). A real SQLite file migrated to 0005, filled, then opened."""

from __future__ import annotations

import json

import pytest
from peewee import SqliteDatabase
from playhouse.migrations import Runner

from evedge import paths
from evedge.storage import database as evedge_db
from evedge.storage.models import ChargingProfileRecord, Transaction

from conftest import make_config

pytestmark = pytest.mark.sqlite_only

T = "2026-11-20 10:00:00"


def legacy_profile(db, row_id, charger, connector, profile_id, stack, purpose, status="Accepted",
                   transaction=None):
    profile = {"charging_profile_id": profile_id, "stack_level": stack,
               "charging_profile_purpose": purpose}
    if transaction is not None:
        profile["transaction_id"] = transaction
    db.execute_sql(
        "INSERT INTO charging_profile_record (id, charger_id, connector_id, profile_id, "
        "stack_level, purpose, profile, status, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row_id, charger, connector, profile_id, stack, purpose, json.dumps(profile), status, T))


def legacy_transaction(db, tx, stopped: bool, reason=None, inferred=False):
    db.execute_sql(
        'INSERT INTO "transaction" (id, charger_id, connector_id, id_tag, auth_status, '
        "meter_start, start_time, start_received_at, stop_received_at, stop_reason, "
        "stop_inferred, note) VALUES (?, 'CP-1', 1, 'T', 'Accepted', 0, ?, ?, ?, ?, ?, '')",
        (tx, T, T, T if stopped else None, reason, inferred))


def test_legacy_rows_are_marked_not_lost(tmp_path):
    config = make_config(tmp_path)
    db = SqliteDatabase(str(config.database_path), pragmas={"foreign_keys": 1})
    Runner(db, directory=paths.migrations()).up("0005_room_for_what_chargers_send")
    db.execute_sql("INSERT INTO charger (id, label, location, registration_status, vendor, model, "
                   "serial_number, charge_box_serial_number, firmware_version, iccid, imsi, "
                   "meter_type, meter_serial_number, created_at, firmware_status, "
                   "diagnostics_status, configuration) "
                   "VALUES ('CP-1', '', '', 'Accepted', '', '', '', '', '', '', '', '', '', ?, "
                   "'', '', '')", (T,))
    legacy_transaction(db, 1, stopped=False)
    legacy_transaction(db, 2, stopped=True)
    legacy_transaction(db, 3, stopped=True, reason="EVDisconnected")
    legacy_transaction(db, 4, stopped=True, reason="Other", inferred=True)
    legacy_transaction(db, 5, stopped=True, inferred=True)
    legacy_profile(db, 1, "CP-1", 1, 7, 0, "TxDefaultProfile")    # replaced by 2 (same id)
    legacy_profile(db, 2, "CP-1", 1, 7, 1, "TxDefaultProfile")
    legacy_profile(db, 3, "CP-1", 0, 8, 0, "ChargePointMaxProfile")  # replaced by 4 (slot)
    legacy_profile(db, 4, "CP-1", 0, 9, 0, "ChargePointMaxProfile")
    legacy_profile(db, 5, "CP-1", 1, 10, 0, "TxProfile", transaction=1)   # running: linked
    legacy_profile(db, 6, "CP-1", 1, 11, 1, "TxProfile", transaction=2)   # stopped: ended
    legacy_profile(db, 7, "CP-1", 2, 12, 1, "TxProfile")                   # no transaction
    legacy_profile(db, 8, "CP-1", 2, 13, 0, "TxDefaultProfile", status="Rejected")
    db.close()

    evedge_db.open_database(config)   # applies 0006
    try:
        found = {p.id: (p.status, p.transaction_id) for p in ChargingProfileRecord.select()}
        assert found == {1: ("Replaced", None), 2: ("Accepted", None), 3: ("Replaced", None),
                         4: ("Accepted", None), 5: ("Accepted", 1), 6: ("Ended", None),
                         7: ("Ended", None), 8: ("Rejected", None)}
        reasons = {t.id: t.stop_reason for t in Transaction.select()}
        assert reasons == {1: None, 2: "Local", 3: "EVDisconnected", 4: "Other", 5: None}
    finally:
        evedge_db.close_database()
