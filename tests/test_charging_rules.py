"""Charging rules on a real SQLite file (layer 1: domain functions, no sockets)."""

from __future__ import annotations

import datetime as dt

import pytest

from evedge.domain import charging, meter_readings
from evedge.domain.policy import Policy
from evedge.storage import sql
from evedge.storage.database import close_database, open_database
from evedge.storage.models import Anomaly, Charger, MeterSample, Reservation, Transaction

from conftest import make_config

NOW = dt.datetime(2026, 11, 24, 12, 0, 0)
POLICY = Policy()


@pytest.fixture
def database(tmp_path):
    handle = open_database(make_config(tmp_path))
    Charger.create(id="CP-1")
    yield handle
    close_database()


def start(connector=1, tag="T", meter=0, at="2026-11-24T10:00:00Z", reservation=None):
    return charging.start_transaction("CP-1", connector, tag, meter, at, POLICY, NOW,
                                      reservation_id=reservation)


def test_charger_offline_past_the_orphan_timeout_closes_its_transactions(database):
    started = start()
    Charger.update(connected_at=NOW - dt.timedelta(days=3),
                   disconnected_at=NOW - dt.timedelta(days=2)).execute()
    assert charging.close_stale_transactions(NOW - dt.timedelta(days=3), NOW) == []
    closed = charging.close_stale_transactions(NOW - dt.timedelta(days=1), NOW)
    assert closed == [("CP-1", started.transaction_id)]
    tx = Transaction.get_by_id(started.transaction_id)
    assert tx.stop_inferred and "offline" in tx.note and tx.stop_received_at == NOW
    assert Anomaly.get(Anomaly.kind == "transaction_inferred_stop").charger_id == "CP-1"


def test_connected_charger_is_never_stale(database):
    start()
    Charger.update(disconnected_at=NOW - dt.timedelta(days=5),
                   connected_at=NOW - dt.timedelta(days=4)).execute()
    assert charging.close_stale_transactions(NOW, NOW) == []


def test_reservation_is_used_by_its_transaction(database):
    Reservation.create(id=77, charger="CP-1", connector_id=1, id_tag="T",
                       expiry_date=NOW + dt.timedelta(hours=1), status="Accepted")
    started = start(reservation=77)
    reservation = Reservation.get_by_id(77)
    assert reservation.status == "Used" and reservation.transaction_id == started.transaction_id


def test_unknown_reservation_is_recorded_not_refused(database):
    started = start(reservation=5)
    assert started.transaction_id > 0
    assert Anomaly.get(Anomaly.kind == "unknown_reservation").detail.endswith("reservation 5")


@pytest.mark.parametrize("text, value, raw", [
    ("12.5", 12.5, None),
    ("12,5", 12.5, "12,5"),   # decimal comma quirk
    ("1e3", 1000.0, None),
    ("abc", None, "abc"),
    ("nan", None, "nan"),
    ("inf", None, "inf"),
])
def test_sample_values(text, value, raw):
    assert meter_readings.parse_sample_value(text) == (value, raw)


def test_signed_data_is_kept_as_text():
    assert meter_readings.parse_sample_value("MIIB...", "SignedData") == (None, "MIIB...")


def test_meter_stop_below_start_is_kept_with_an_anomaly(database):
    started = start(meter=5000)
    stopped = charging.stop_transaction("CP-1", started.transaction_id, 4000,
                                        "2026-11-24T11:00:00Z", POLICY, NOW)
    assert stopped.known and stopped.energy_wh is None
    assert Transaction.get_by_id(started.transaction_id).meter_stop == 4000
    assert Anomaly.get(Anomaly.kind == "meter_stop_below_start")


def test_stop_with_an_unknown_meter_stop_closes_without_a_reading(database):
    started = start(meter=500)
    stopped = charging.stop_transaction("CP-1", started.transaction_id, None,
                                        "2026-11-24T11:00:00Z", POLICY, NOW)
    tx = Transaction.get_by_id(started.transaction_id)
    assert stopped.known and stopped.energy_wh is None
    assert tx.stop_received_at == NOW and tx.stop_time == dt.datetime(2026, 11, 24, 11)
    assert tx.meter_stop is None and tx.energy_wh is None and "meterStop unknown" in tx.note


def test_stop_with_an_unknown_timestamp_is_timed_at_receipt(database):
    started = start()
    charging.stop_transaction("CP-1", started.transaction_id, 10, None, POLICY, NOW)
    tx = Transaction.get_by_id(started.transaction_id)
    assert tx.stop_time == NOW and tx.meter_stop == 10 and tx.energy_wh == 10


def test_stop_without_a_usable_transaction_id_is_answered_with_an_anomaly(database):
    started = start()
    stopped = charging.stop_transaction(
        "CP-1", None, 10, "2026-11-24T11:00:00Z", POLICY, NOW, id_tag="T",
        transaction_data=[{"timestamp": "2026-11-24T11:00:00Z",
                           "sampled_value": [{"value": "10"}]}])
    assert not stopped.known and stopped.id_tag_info == {"status": "Invalid"}
    anomaly = Anomaly.get(Anomaly.kind == "unknown_transaction_stop")
    assert "without a usable transactionId" in anomaly.detail
    assert Transaction.get_by_id(started.transaction_id).stop_received_at is None
    assert MeterSample.select().where(MeterSample.transaction.is_null()).count() == 1


def test_energy_beyond_64_bits_is_unknown_not_a_failed_stop(database):
    started = start(meter=-2 ** 63)
    stopped = charging.stop_transaction("CP-1", started.transaction_id, 2 ** 63 - 1, None,
                                        POLICY, NOW)
    tx = Transaction.get_by_id(started.transaction_id)
    assert stopped.energy_wh is None and tx.meter_stop == 2 ** 63 - 1 and tx.energy_wh is None


def test_an_inferred_close_survives_an_absurd_register_reading(database):
    started = start(connector=3)
    sql.insert_meter_samples(meter_readings.sample_rows("CP-1", 3, started.transaction_id, [
        {"timestamp": "2026-11-24T10:01:00Z",
         "sampled_value": [{"value": "1e306", "unit": "kWh"}]}], NOW))
    assert charging.close_orphans("CP-1", 3, "test", NOW) == [started.transaction_id]
    tx = Transaction.get_by_id(started.transaction_id)
    assert tx.stop_inferred and tx.meter_stop is None and tx.energy_wh is None


def test_stop_from_another_charger_does_not_close_the_transaction(database):
    Charger.create(id="CP-2")
    started = start()
    stopped = charging.stop_transaction("CP-2", started.transaction_id, 10,
                                        "2026-11-24T11:00:00Z", POLICY, NOW)
    assert not stopped.known
    assert Transaction.get_by_id(started.transaction_id).stop_received_at is None


def test_kwh_register_readings_count_in_wh(database):
    readings = meter_readings.latest_readings([{"sampled_value": [
        {"value": "12.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"}]}])
    assert readings == {"energy_wh": 12500.0, "power_w": 7200.0, "timestamp": None}


def test_retention_deletes_exactly_the_samples_received_before_the_cutoff(database):
    from evedge.storage import sql
    from evedge.storage.models import MeterSample
    started = start()
    for minute in range(60):
        received = NOW + dt.timedelta(minutes=minute)
        sql.insert_meter_samples(meter_readings.sample_rows(
            "CP-1", 1, started.transaction_id,
            [{"timestamp": "2026-11-24T10:00:00Z", "sampled_value": [{"value": str(minute)}]}],
            received))
    cutoff = NOW + dt.timedelta(minutes=37, seconds=30)
    assert sql.delete_samples_before(cutoff, batch=10) == 10
    while sql.delete_samples_before(cutoff, batch=10):
        pass
    left = sorted(int(s.value) for s in MeterSample.select())
    assert left == list(range(38, 60))
    assert sql.delete_samples_before(NOW - dt.timedelta(days=1)) == 0


def test_transaction_lost_in_a_reboot_is_closed_after_the_grace(database):
    lost = start(connector=1)
    still_metering = start(connector=2)
    Transaction.update(start_received_at=NOW - dt.timedelta(hours=2)).execute()
    booted = NOW - dt.timedelta(minutes=20)
    Charger.update(last_boot_at=booted).execute()
    still_charging = start(connector=4)
    Transaction.update(start_received_at=NOW - dt.timedelta(hours=2)).where(
        Transaction.id == still_charging.transaction_id).execute()
    charging.record_status("CP-1", 4, "Charging", "NoError", booted + dt.timedelta(seconds=30))
    begun_after_boot = start(connector=3)  # start_received_at = NOW, after the boot
    rows = meter_readings.sample_rows("CP-1", 2, still_metering.transaction_id,
                                      [{"timestamp": "2026-11-24T11:50:00Z",
                                        "sampled_value": [{"value": "10"}]}],
                                      booted + dt.timedelta(minutes=5))
    sql.insert_meter_samples(rows)  # MeterValues received 5 minutes after the boot

    # Within the grace the charger may still send its queued StopTransactions.
    assert charging.close_transactions_lost_in_reboot(booted - dt.timedelta(seconds=1), NOW) == []
    closed = charging.close_transactions_lost_in_reboot(NOW - dt.timedelta(minutes=10), NOW)
    assert closed == [("CP-1", lost.transaction_id)]
    tx = Transaction.get_by_id(lost.transaction_id)
    assert tx.stop_inferred and "rebooted" in tx.note and tx.stop_received_at == NOW
    for alive in (still_metering, still_charging, begun_after_boot):
        assert Transaction.get_by_id(alive.transaction_id).stop_received_at is None
    # Closed once; the others stay open.
    assert charging.close_transactions_lost_in_reboot(NOW, NOW) == []
