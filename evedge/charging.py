"""Charging rules, free of OCPP framing and of Tornado.

Each public function is one synchronous unit of work on the database: the OCPP
session runs it inside the group-commit transaction and answers the charger
only after that transaction is committed. Arguments are plain values (snake
case, as the ocpp library hands them over); answers are plain dicts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from . import store
from .timeutil import db_time, parse_charger_time, stored_time, to_rfc3339

log = logging.getLogger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"


@dataclass(frozen=True)
class Policy:
    """The configuration the rules depend on."""

    unknown_id_tags: str = "invalid"     # "invalid" | "accept"
    admission: str = "accept"            # "accept" | "pending" | "reject"


# --- chargers ------------------------------------------------------------------------------

def admit_charger(charger_id: str, policy: Policy,
                  now: dt.datetime) -> tuple[str, str | None] | None:
    """Decide whether a connecting charger may open a session.

    Returns (registration_status, password_hash), registering an unknown charger
    as the admission policy says, or None when it must be refused.
    """
    known = store.charger_admission(charger_id)
    if known is not None:
        return known
    if policy.admission == "reject":
        return None
    status = "Accepted" if policy.admission == "accept" else "Pending"
    store.insert_charger(charger_id, status, now)
    log.info("registered new charger %s as %s", charger_id, status)
    return status, None


def record_boot(charger_id: str, payload: dict[str, Any], now: dt.datetime) -> str:
    """Store a BootNotification; returns the registration status to answer."""
    info = {
        "vendor": payload.get("charge_point_vendor", ""),
        "model": payload.get("charge_point_model", ""),
        "serial_number": payload.get("charge_point_serial_number", ""),
        "charge_box_serial_number": payload.get("charge_box_serial_number", ""),
        "firmware_version": payload.get("firmware_version", ""),
        "iccid": payload.get("iccid", ""),
        "imsi": payload.get("imsi", ""),
        "meter_type": payload.get("meter_type", ""),
        "meter_serial_number": payload.get("meter_serial_number", ""),
    }
    status = store.record_boot(charger_id, info, now)
    if status is None:  # deleted while connected: register it again rather than fail
        store.insert_charger(charger_id, "Accepted", now)
        status = store.record_boot(charger_id, info, now) or "Accepted"
    return status


def record_status(charger_id: str, connector_id: int, status: str, error_code: str,
                  now: dt.datetime, *, info: str = "", vendor_id: str = "",
                  vendor_error_code: str = "", timestamp: str | None = None) -> list[int]:
    """Store a StatusNotification; returns ids of transactions it showed to be over."""
    store.record_status(charger_id, connector_id, status, error_code, info, vendor_id,
                        vendor_error_code, parse_charger_time(timestamp), now)
    if connector_id == 0 or status not in ("Available", "Preparing"):
        return []
    # A connector that is Available (or Preparing a new session) has no transaction:
    # one still open here lost its StopTransaction (reboot, power cut, offline queue
    # overflow). Close it as inferred; a StopTransaction arriving later still wins.
    return close_orphans(charger_id, connector_id,
                         f"connector reported {status} while the transaction was open", now)


def close_orphans(charger_id: str, connector_id: int | None, reason: str,
                  now: dt.datetime) -> list[int]:
    found = store.open_transactions(charger_id, connector_id)
    return _close_all([(charger_id, tx, start, reason) for tx, start in found], now)


def close_transactions_lost_in_reboot(booted_before: dt.datetime, now: dt.datetime) -> list[int]:
    """Close open transactions that a reboot ended without a StopTransaction.

    A charger ends its transactions when it reboots (reason Reboot/PowerLoss) and
    sends the queued StopTransactions after its BootNotification. A transaction begun
    before the last boot that neither stopped nor sent MeterValues since, once the
    grace time is over, lost its StopTransaction: a connector that came back
    Faulted or Unavailable never reports the Available that would close it. One
    still metering, or whose connector reported Charging/SuspendedEV/SuspendedEVSE
    since the boot (firmwares that restart only their OCPP stack), is left alone.
    """
    found = store.transactions_lost_in_reboot(booted_before)
    return _close_all([(charger, tx, start, f"charger rebooted at {booted} without stopping it")
                       for tx, start, charger, booted in found], now)


def close_stale_transactions(offline_before: dt.datetime, now: dt.datetime) -> list[int]:
    """Close open transactions of chargers offline since before ``offline_before``."""
    found = store.stale_open_transactions(offline_before)
    return _close_all([(charger, tx, start, f"charger offline since {since}")
                       for tx, start, charger, since in found], now)


def _close_all(found: list[tuple[str, int, int, str]], now: dt.datetime) -> list[int]:
    """Close each (charger_id, transaction_id, meter_start, reason) as inferred; their ids."""
    closed = []
    for charger_id, transaction_id, meter_start, reason in found:
        _close_inferred(charger_id, transaction_id, meter_start, reason, now)
        closed.append(transaction_id)
    return closed


def _close_inferred(charger_id: str, transaction_id: int, meter_start: int, reason: str,
                    now: dt.datetime) -> None:
    latest = store.latest_energy_register(transaction_id)
    meter_stop = _wh(*latest) if latest else None
    valid = meter_stop is not None and meter_stop >= meter_start
    energy = _int64(meter_stop - meter_start) if valid else None
    store.close_transaction(transaction_id, meter_stop, now, "Other", None, energy,
                            inferred=True, note=reason[:200], now=now)
    store.record_anomaly(charger_id, "transaction_inferred_stop",
                         f"transaction {transaction_id}: {reason}", now)
    log.info("closed transaction %s of %s as inferred: %s", transaction_id, charger_id, reason)


def record_firmware_status(charger_id: str, status: str, now: dt.datetime) -> None:
    store.set_charger_status_field(charger_id, "firmware_status", status, now)


def record_diagnostics_status(charger_id: str, status: str, now: dt.datetime) -> None:
    store.set_charger_status_field(charger_id, "diagnostics_status", status, now)


def record_data_transfer(charger_id: str, vendor_id: str, message_id: str | None,
                         data: str | None, now: dt.datetime) -> str:
    """Store a charger's DataTransfer; evedge implements no vendor extension."""
    store.record_data_transfer(charger_id, vendor_id, message_id, data, now)
    # OCPP 1.6 §4.3: a receiver without an implementation for the vendorId answers
    # UnknownVendorId. The message is still kept for the technician.
    return "UnknownVendorId"


# --- id tags ------------------------------------------------------------------------------

def id_tag_info(tag: str, policy: Policy, now: dt.datetime) -> dict[str, Any]:
    """The IdTagInfo for ``tag``: status, expiry and parent, as OCPP 1.6 §7.24 defines it."""
    row = store.id_tag(tag)
    if row is None:
        return {"status": "Accepted" if policy.unknown_id_tags == "accept" else "Invalid"}
    status, expiry_text, parent, limit = row
    expiry = stored_time(expiry_text)
    status = effective_status(status, expiry, now)
    if status == "Accepted" and parent:
        status = _parent_status(parent, now)
    if status == "Accepted" and limit is not None and store.active_transaction_count(tag) >= limit:
        status = "ConcurrentTx"
    return tag_info(status, expiry, parent)


def effective_status(status: str, expiry: dt.datetime | None, now: dt.datetime) -> str:
    """A tag's own status, with an expiry date in the past turning Accepted into Expired."""
    return "Expired" if status == "Accepted" and expiry is not None and expiry <= now else status


def tag_info(status: str, expiry: dt.datetime | None, parent: str | None) -> dict[str, Any]:
    """An IdTagInfo (snake case) with the optional fields only when they are set."""
    info: dict[str, Any] = {"status": status}
    if expiry is not None:
        info["expiry_date"] = to_rfc3339(expiry)
    if parent:
        info["parent_id_tag"] = parent
    return info


def _parent_status(parent: str, now: dt.datetime) -> str:
    """A blocked or expired parent tag blocks its children (group cards)."""
    row = store.id_tag(parent)
    if row is None:
        return "Accepted"
    expiry = stored_time(row[1])
    return effective_status(row[0], expiry, now)


# --- transactions --------------------------------------------------------------------------

@dataclass(frozen=True)
class StartedTransaction:
    transaction_id: int
    id_tag_info: dict[str, Any]
    duplicate: bool
    superseded: list[int]


def start_transaction(charger_id: str, connector_id: int, id_tag: str, meter_start: int,
                      timestamp: str, policy: Policy, now: dt.datetime,
                      reservation_id: int | None = None) -> StartedTransaction:
    start_time = parse_charger_time(timestamp) or now
    earlier = store.find_start(charger_id, connector_id, id_tag, meter_start, start_time)
    if earlier is not None:
        # The charger retried a StartTransaction whose answer it never got: same id
        # again, or it would run one session under two ids (architecture.md §5).
        return StartedTransaction(earlier[0], {"status": earlier[1]}, True, [])
    superseded = close_orphans(charger_id, connector_id,
                               "a new transaction started on the same connector", now)
    info = id_tag_info(id_tag, policy, now)
    transaction_id = store.insert_transaction(charger_id, connector_id, id_tag, info["status"],
                                              reservation_id, meter_start, start_time, now)
    if reservation_id is not None and not store.use_reservation(reservation_id, charger_id,
                                                                transaction_id, now):
        store.record_anomaly(charger_id, "unknown_reservation",
                             f"transaction {transaction_id} names reservation {reservation_id}",
                             now)
    return StartedTransaction(transaction_id, info, False, superseded)


@dataclass(frozen=True)
class StoppedTransaction:
    id_tag_info: dict[str, Any] | None
    known: bool
    energy_wh: int | None


def stop_transaction(charger_id: str, transaction_id: int | None, meter_stop: int | None,
                     timestamp: str | None, policy: Policy, now: dt.datetime, *,
                     reason: str | None = None, id_tag: str | None = None,
                     transaction_data: list[dict[str, Any]] | None = None) -> StoppedTransaction:
    """Close a transaction. Always succeeds: a StopTransaction must always be answered
    (OCPP 1.6 §4.10). None for ``transaction_id``, ``meter_stop`` or ``timestamp`` means
    the charger sent a value that could not be used: the stop is then recorded as an
    anomaly, closed without a reading, or timed at the receive time."""
    stop_time = parse_charger_time(timestamp) or now
    row = None if transaction_id is None else store.transaction_for_stop(transaction_id)
    known = row is not None and row[0] == charger_id
    energy = None
    if not known:
        # Unknown id (our database was reset, or a firmware bug): answer anyway, or the
        # charger retries this message forever and blocks its queue behind it.
        which = "without a usable transactionId" if transaction_id is None \
            else f"for unknown transaction {transaction_id}"
        store.record_anomaly(charger_id, "unknown_transaction_stop",
                             f"StopTransaction {which} (meterStop {meter_stop}, reason {reason})",
                             now)
    elif row[3]:
        log.info("repeated StopTransaction %s from %s", transaction_id, charger_id)
    else:
        energy = _stop_energy(charger_id, transaction_id, meter_stop, row[2], now)
        note = "" if meter_stop is not None else "meterStop unknown: the charger's was unusable"
        store.close_transaction(transaction_id, meter_stop, stop_time, reason, id_tag, energy,
                                inferred=False, note=note, now=now)
    if transaction_data:
        connector_id = row[1] if known else 0
        _insert_samples(charger_id, connector_id, transaction_id if known else None,
                        transaction_data, now)
    info = id_tag_info(id_tag, policy, now) if id_tag else None
    return StoppedTransaction(info, known, energy)


def _stop_energy(charger_id: str, transaction_id: int, meter_stop: int | None,
                 meter_start: int, now: dt.datetime) -> int | None:
    """Energy of a stopped transaction; None when meterStop is unknown or below the start."""
    if meter_stop is None:
        return None
    if meter_stop >= meter_start:
        return _int64(meter_stop - meter_start)   # 64-bit readings, a 65-bit difference
    store.record_anomaly(charger_id, "meter_stop_below_start",
                         f"transaction {transaction_id}: meterStop {meter_stop} < "
                         f"meterStart {meter_start}", now)
    return None


@dataclass(frozen=True)
class MeterReport:
    transaction_id: int | None   # the transaction the samples belong to (None if unknown)
    rows: list[tuple]            # meter_sample rows, shaped like store.METER_COLUMNS


def check_meter_values(charger_id: str, connector_id: int, transaction_id: int | None,
                       meter_value: list[dict[str, Any]], now: dt.datetime,
                       known_transaction: bool = False) -> MeterReport:
    """The sample rows of a MeterValues, attached to its transaction if that is this
    charger's. The caller inserts the rows (in bulk, with the group commit).

    ``known_transaction``: the caller already knows the transaction is this
    charger's (the session remembers the ids it handed out), which saves a query.
    """
    if transaction_id is not None and not known_transaction \
            and store.transaction_owner(transaction_id) != charger_id:
        store.record_anomaly(charger_id, "unknown_transaction_meter_values",
                             f"MeterValues for unknown transaction {transaction_id}", now)
        transaction_id = None
    return MeterReport(transaction_id,
                       sample_rows(charger_id, connector_id, transaction_id, meter_value, now))


def _insert_samples(charger_id: str, connector_id: int, transaction_id: int | None,
                    meter_value: list[dict[str, Any]], now: dt.datetime) -> None:
    rows = sample_rows(charger_id, connector_id, transaction_id, meter_value, now)
    if rows:
        store.insert_meter_samples(rows)


def sample_rows(charger_id: str, connector_id: int, transaction_id: int | None,
                meter_value: list[dict[str, Any]], now: dt.datetime) -> list[tuple]:
    """One meter_sample row per sampledValue, with OCPP 1.6's defaults filled in (§7.45)."""
    received = db_time(now)
    rows = []
    for reading in meter_value:
        taken = db_time(parse_charger_time(reading.get("timestamp")) or now)
        for sample in reading.get("sampled_value", ()):
            get = sample.get
            measurand = get("measurand") or ENERGY_REGISTER
            unit = get("unit") or ("Wh" if measurand.startswith("Energy.") else None)
            value, raw = parse_sample_value(get("value"), get("format"))
            rows.append((charger_id, connector_id, transaction_id, taken, received, measurand,
                         get("phase"), unit, get("context"), get("location"), value, raw))
    return rows


def latest_readings(meter_value: list[dict[str, Any]]) -> dict[str, Any]:
    """Power (W), energy register (Wh) and the charger's time of the last reading of a
    MeterValues, for live views."""
    power = energy = None
    for sample in meter_value[-1].get("sampled_value", ()) if meter_value else ():
        measurand = sample.get("measurand") or ENERGY_REGISTER
        if sample.get("phase") and measurand != ENERGY_REGISTER:
            continue
        value, _ = parse_sample_value(sample.get("value"), sample.get("format"))
        if measurand == ENERGY_REGISTER:
            energy = energy_wh(value, sample.get("unit") or "Wh")
        elif measurand == "Power.Active.Import":
            power = value * 1000 if sample.get("unit") == "kW" else value
    taken = parse_charger_time(meter_value[-1].get("timestamp")) if meter_value else None
    return {"power_w": power, "energy_wh": energy, "timestamp": to_rfc3339(taken)}


def parse_sample_value(text: Any, fmt: str | None = None) -> tuple[float | None, str | None]:
    """(numeric value, raw text kept when it is not a plain number).

    Quirk: some firmwares send a decimal comma ("12,5"); it is read as 12.5 and
    the original text is kept. SignedData values are kept as text only.
    """
    if fmt == "SignedData" or not isinstance(text, str):
        return None, None if text is None else str(text)
    try:
        number = float(text)
    except ValueError:
        try:
            number = float(text.replace(",", ".", 1))
        except ValueError:
            return None, text
        return (number, text) if math.isfinite(number) else (None, text)
    return (number, None) if math.isfinite(number) else (None, text)


def _int64(value: int) -> int | None:
    """``value`` when a database integer column holds it (signed 64 bits), else None."""
    return value if -2 ** 63 <= value < 2 ** 63 else None


def _wh(value: float, unit: str | None) -> int | None:
    """A register reading in whole Wh; None beyond 64 bits (a sample may read 1e300 kWh)."""
    wh = value * 1000 if unit == "kWh" else value
    return _int64(int(round(wh))) if math.isfinite(wh) else None


def energy_wh(value: float | None, unit: str | None) -> float | None:
    """A register reading in Wh, whatever unit the charger used."""
    if value is None:
        return None
    return value * 1000 if unit == "kWh" else value


def as_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)
