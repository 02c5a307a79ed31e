"""A data directory with a realistically big database, for timing `evedge backup`/`restore`.

A depot of CHARGERS chargers metering every INTERVAL seconds for DAYS days, four
sampled values per MeterValues (energy register, power, current, voltage), as
evedge stores them: rows in arrival order (all chargers interleaved, ids growing
with received_at), three sessions a day per charger (06-10, 12-16, 18-22 h, shifted
a little per charger) whose samples carry the transaction id, the others none.
200 chargers x 90 days is ~104 M meter rows; the default 200 x 7 days is ~8.1 M.

The schema is evedge's own: ``evedge createuser`` creates the database and runs the
migrations, then rows go in with ``executemany`` (synchronous=OFF: this is a fixture,
not data). Not committed: write it outside the repository, e.g.::

    python bench/make_big_db.py /tmp/evedge-big            # ~2 min, ~1.5 GB
    time python -m evedge backup /tmp/backups/ --data-dir /tmp/evedge-big
    time python -m evedge restore /tmp/backups/evedge-backup-*.tar.gz --data-dir /tmp/restored
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = ((6, 10), (12, 16), (18, 22))  # hours of the day a connector charges
BATCH_MINUTES = 60

MEASURANDS = (("Energy.Active.Import.Register", None, "Wh"), ("Power.Active.Import", None, "W"),
              ("Current.Import", "L1", "A"), ("Voltage", "L1-N", "V"))


def create_database(data_dir: Path) -> Path:
    subprocess.run([sys.executable, "-m", "evedge", "createuser", "--data-dir", str(data_dir),
                    "--username", "admin", "--password", "bench-password", "--bcrypt-rounds", "10"],
                   cwd=ROOT, check=True, capture_output=True)
    return data_dir / "evedge.db"


def db_time(value: dt.datetime) -> str:
    return value.isoformat(" ")  # how peewee stores a DateTimeField (timeutil.db_time)


def session_of(charger: int, minute_of_day: int) -> int | None:
    shifted = minute_of_day - (charger % 30)
    for index, (begin, end) in enumerate(SESSIONS):
        if begin * 60 <= shifted < end * 60:
            return index
    return None


def insert_chargers(db: sqlite3.Connection, chargers: int, start: dt.datetime) -> None:
    db.executemany(
        "INSERT INTO charger (id, label, location, registration_status, vendor, model, "
        "serial_number, charge_box_serial_number, firmware_version, iccid, imsi, meter_type, "
        "meter_serial_number, created_at, firmware_status, diagnostics_status, configuration) "
        "VALUES (?, ?, 'Depot', 'Accepted', 'Acme', 'DC-150', ?, '', '2.4.1', '', '', '', '', ?, "
        "'', '', '')",
        [(f"CP-{c:04d}", f"Bay {c}", f"SN{c:06d}", db_time(start)) for c in range(chargers)])
    db.executemany(
        "INSERT INTO connector (charger_id, connector_id, status, error_code, info, vendor_id, "
        "vendor_error_code, updated_at) VALUES (?, 1, 'Available', 'NoError', '', '', '', ?)",
        [(f"CP-{c:04d}", db_time(start)) for c in range(chargers)])


def insert_transactions(db: sqlite3.Connection, chargers: int, days: int,
                        start: dt.datetime) -> dict[tuple[int, int, int], int]:
    """One row per session; (charger, day, session) -> transaction id."""
    ids, rows = {}, []
    for day in range(days):
        for c in range(chargers):
            for index, (begin, end) in enumerate(SESSIONS):
                ids[(c, day, index)] = tx = len(ids) + 1
                shift = dt.timedelta(days=day, minutes=c % 30)
                begun = start + shift + dt.timedelta(hours=begin)
                ended = start + shift + dt.timedelta(hours=end)
                energy = (end - begin) * 40_000
                rows.append((tx, f"CP-{c:04d}", f"TAG{c % 500:05d}", db_time(begun),
                             db_time(begun), energy, db_time(ended), db_time(ended), energy))
    db.executemany(
        'INSERT INTO "transaction" (id, charger_id, connector_id, id_tag, auth_status, '
        "meter_start, start_time, start_received_at, meter_stop, stop_time, stop_received_at, "
        "stop_reason, energy_wh, stop_inferred, note) VALUES (?, ?, 1, ?, 'Accepted', 0, ?, ?, "
        "?, ?, ?, 'EVDisconnected', ?, 0, '')", rows)
    return ids


def minute_rows(minute: int, chargers: int, interval: int, start: dt.datetime,
                transactions: dict[tuple[int, int, int], int]):
    day, minute_of_day = divmod(minute * interval // 60, 1440)
    at = start + dt.timedelta(seconds=minute * interval)
    stamp = db_time(at)
    for c in range(chargers):
        session = session_of(c, minute_of_day)
        tx = None if session is None else transactions[(c, day, session)]
        power = 0.0 if tx is None else 40_000.0 + c
        received = db_time(at + dt.timedelta(microseconds=1000 + c * 137))
        energy = float(minute * 400 + c)
        for (measurand, phase, unit), value in zip(MEASURANDS, (energy, power, power / 690, 230.0)):
            yield (f"CP-{c:04d}", 1, tx, stamp, received, measurand, phase, unit,
                   "Sample.Periodic", None, value, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--chargers", type=int, default=200)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--interval", type=int, default=60, help="seconds between samples")
    args = parser.parse_args(argv)
    if args.data_dir.exists() and any(args.data_dir.iterdir()):
        parser.error(f"{args.data_dir} is not empty")
    began = time.monotonic()
    path = create_database(args.data_dir)
    start = dt.datetime(2026, 1, 1)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    insert_chargers(db, args.chargers, start)
    transactions = insert_transactions(db, args.chargers, args.days, start)
    db.commit()
    steps = args.days * 86400 // args.interval
    for first in range(0, steps, BATCH_MINUTES):
        rows = (row for minute in range(first, min(first + BATCH_MINUTES, steps))
                for row in minute_rows(minute, args.chargers, args.interval, start, transactions))
        db.executemany(
            "INSERT INTO meter_sample (charger_id, connector_id, transaction_id, timestamp, "
            "received_at, measurand, phase, unit, context, location, value, raw_value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.commit()
    samples = db.execute("SELECT count(*) FROM meter_sample").fetchone()[0]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    print(f"{path}: {samples} meter samples, {len(transactions)} transactions, "
          f"{os.path.getsize(path) / 2**20:.0f} MiB in {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
