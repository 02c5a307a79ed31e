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
from dataclasses import dataclass
from typing import Any

from ..storage import sql
from ..timeutil import parse_charger_time, stored_time
from . import meter_readings
from .authorization import id_tag_info
from .meter_readings import int64_or_none, sample_rows, whole_wh
from .policy import Policy

log = logging.getLogger(__name__)


# --- chargers ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Admitted:
    """A charger that may open a session. ``new``: unknown until now; it is registered (as
    ``registration_status``) only once its WebSocket opens (docs/decisions.md D25)."""

    registration_status: str
    password_hash: str | None
    new: bool = False


def admit_charger(charger_id: str, policy: Policy) -> Admitted | None:
    """Decide whether a connecting charger may open a session, or None when it must be
    refused. Writes nothing: a connection refused later (subprotocol, a failed upgrade)
    must leave no charger behind."""
    known = sql.charger_admission(charger_id)
    if known is not None:
        return Admitted(*known)
    if policy.admission == "reject":
        return None
    return Admitted("Accepted" if policy.admission == "accept" else "Pending", None, new=True)


def register_charger(charger_id: str, registration_status: str, now: dt.datetime) -> None:
    """Register an admitted new charger whose session opened. Two connections of one new
    id opening at once register it once (the INSERT does nothing for a known id)."""
    sql.insert_charger(charger_id, registration_status, now)
    log.info("charger=%s registered as %s", charger_id, registration_status)


def record_boot(charger_id: str, payload: dict[str, Any], now: dt.datetime,
                reboot: bool = True) -> str:
    """Store a BootNotification; returns the registration status to answer.

    ``reboot`` False: a BootNotification that is no reboot (one evedge asked for with
    TriggerMessage, a Pending charger's next one on the same connection): the identity is
    stored, the boot time is not, so that it closes no transaction as lost (D24)."""
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
    status = sql.record_boot(charger_id, info, now, reboot)
    if status is None:  # deleted while connected: register it again rather than fail
        sql.insert_charger(charger_id, "Accepted", now)
        status = sql.record_boot(charger_id, info, now, reboot) or "Accepted"
    return status


def record_status(charger_id: str, connector_id: int, status: str, error_code: str,
                  now: dt.datetime, *, info: str = "", vendor_id: str = "",
                  vendor_error_code: str = "", timestamp: str | None = None) -> list[int]:
    """Store a StatusNotification; returns ids of transactions it showed to be over."""
    sql.record_status(charger_id, connector_id, status, error_code, info, vendor_id,
                      vendor_error_code, parse_charger_time(timestamp), now)
    if connector_id == 0 or status not in ("Available", "Preparing"):
        return []
    # A connector that is Available (or Preparing a new session) has no transaction:
    # one still open here lost its StopTransaction (reboot, power cut, offline queue
    # overflow). Close it as inferred; a StopTransaction arriving later still wins.
    return close_orphans(charger_id, connector_id,
                         f"connector reported {status} while the transaction was open", now)


def record_connection(charger_id: str, connected: bool, now: dt.datetime,
                      register_as: str | None = None) -> None:
    """A charger's WebSocket opened or closed (the times the fleet list and orphans use);
    ``register_as``: the charger is new, register it with that status first."""
    if register_as is not None:
        register_charger(charger_id, register_as, now)
    sql.set_connection_state(charger_id, connected, now)


def record_anomaly(charger_id: str, kind: str, detail: str, now: dt.datetime) -> None:
    """Something the charger did that evedge answered but did not expect."""
    sql.record_anomaly(charger_id, kind, detail, now)


def close_orphans(charger_id: str, connector_id: int | None, reason: str,
                  now: dt.datetime) -> list[int]:
    found = sql.open_transactions(charger_id, connector_id)
    closed = _close_all([(charger_id, tx, start, reason) for tx, start in found], now)
    return [transaction_id for _, transaction_id in closed]


Closed = list[tuple[str, int]]  # (charger_id, transaction_id) of transactions closed as inferred


def close_transactions_lost_in_reboot(booted_before: dt.datetime, now: dt.datetime) -> Closed:
    """Close open transactions that a reboot ended without a StopTransaction.

    A charger ends its transactions when it reboots (reason Reboot/PowerLoss) and
    sends the queued StopTransactions after its BootNotification. A transaction begun
    before the last boot that neither stopped nor sent MeterValues since, once the
    grace time is over, lost its StopTransaction: a connector that came back
    Faulted or Unavailable never reports the Available that would close it. One
    still metering, or whose connector reported Charging/SuspendedEV/SuspendedEVSE
    since the boot (firmwares that restart only their OCPP stack), is left alone.

    The grace (``now - booted_before``, setting ``reboot_grace``) is at least two of the
    charger's metering intervals: a charger metering every 15 minutes that resumed its
    session sends its first reading up to 15 minutes after the boot (D24).
    """
    grace = (now - booted_before).total_seconds()
    found = sql.transactions_lost_in_reboot(booted_before)
    lost = [(charger, tx, start, f"charger rebooted at {booted} without stopping it")
            for tx, start, charger, booted in found
            if _silent_since(stored_time(booted), now, grace, charger, tx)]
    return _close_all(lost, now)


def _silent_since(booted: dt.datetime | None, now: dt.datetime, grace: float,
                  charger_id: str, transaction_id: int) -> bool:
    if booted is None:
        return True
    interval = meter_readings.metering_interval(sql.charger_configuration(charger_id),
                                                sql.last_reading_gap(transaction_id))
    return (now - booted).total_seconds() >= meter_readings.reboot_silence(grace, interval)


def close_stale_transactions(offline_before: dt.datetime, now: dt.datetime) -> Closed:
    """Close open transactions of chargers offline since before ``offline_before``."""
    found = sql.stale_open_transactions(offline_before)
    return _close_all([(charger, tx, start, f"charger offline since {since}")
                       for tx, start, charger, since in found], now)


def _close_all(found: list[tuple[str, int, int, str]], now: dt.datetime) -> Closed:
    """Close each (charger_id, transaction_id, meter_start, reason) as inferred."""
    for charger_id, transaction_id, meter_start, reason in found:
        _close_inferred(charger_id, transaction_id, meter_start, reason, now)
    return [(charger_id, transaction_id) for charger_id, transaction_id, _, _ in found]


def _close_inferred(charger_id: str, transaction_id: int, meter_start: int, reason: str,
                    now: dt.datetime) -> None:
    latest = sql.latest_energy_register(transaction_id)
    meter_stop = whole_wh(*latest) if latest else None
    valid = meter_stop is not None and meter_stop >= meter_start
    energy = int64_or_none(meter_stop - meter_start) if valid else None
    sql.close_transaction(transaction_id, meter_stop, now, "Other", None, energy,
                          inferred=True, note=reason[:200], now=now)
    sql.end_tx_profiles(charger_id, transaction_id)
    sql.record_anomaly(charger_id, "transaction_inferred_stop",
                       f"transaction {transaction_id}: {reason}", now)
    log.info("charger=%s transaction %s closed as inferred: %s", charger_id, transaction_id,
             reason)


def record_firmware_status(charger_id: str, status: str, now: dt.datetime) -> None:
    sql.set_charger_status_field(charger_id, "firmware_status", status, now)


def record_diagnostics_status(charger_id: str, status: str, now: dt.datetime) -> None:
    sql.set_charger_status_field(charger_id, "diagnostics_status", status, now)


def record_data_transfer(charger_id: str, vendor_id: str, message_id: str | None,
                         data: str | None, now: dt.datetime) -> str:
    """Store a charger's DataTransfer; evedge implements no vendor extension."""
    sql.record_data_transfer(charger_id, vendor_id, message_id, data, now)
    # OCPP 1.6 §4.3: a receiver without an implementation for the vendorId answers
    # UnknownVendorId. The message is still kept for the technician.
    return "UnknownVendorId"


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
    earlier = sql.find_start(charger_id, connector_id, id_tag, meter_start, start_time)
    if earlier is not None:
        # The charger retried a StartTransaction whose answer it never got: same id
        # again, or it would run one session under two ids (docs/decisions.md D8).
        return StartedTransaction(earlier[0], {"status": earlier[1]}, True, [])
    superseded = close_orphans(charger_id, connector_id,
                               "a new transaction started on the same connector", now)
    info = id_tag_info(id_tag, policy, now)
    transaction_id = sql.insert_transaction(charger_id, connector_id, id_tag, info["status"],
                                            reservation_id, meter_start, start_time, now)
    sql.attach_tx_profile(charger_id, connector_id, transaction_id)   # a remote start's (D23)
    if reservation_id is not None and not sql.use_reservation(reservation_id, charger_id,
                                                              transaction_id, now):
        sql.record_anomaly(charger_id, "unknown_reservation",
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
    anomaly, closed without a reading, or timed at the receive time. No ``reason`` is
    Local (§6.49: it may be omitted only when it is Local)."""
    stop_time = parse_charger_time(timestamp) or now
    reason = reason or "Local"
    row = None if transaction_id is None else sql.transaction_for_stop(transaction_id)
    known = row is not None and row[0] == charger_id
    energy = None
    if not known:
        # Unknown id (our database was reset, or a firmware bug): answer anyway, or the
        # charger retries this message forever and blocks its queue behind it.
        which = "without a usable transactionId" if transaction_id is None \
            else f"for unknown transaction {transaction_id}"
        sql.record_anomaly(charger_id, "unknown_transaction_stop",
                           f"StopTransaction {which} (meterStop {meter_stop}, reason {reason})",
                           now)
    elif row[3]:
        log.info("charger=%s repeated StopTransaction %s", charger_id, transaction_id)
    else:
        energy = _stop_energy(charger_id, transaction_id, meter_stop, row[2], now)
        note = "" if meter_stop is not None else "meterStop unknown: the charger's was unusable"
        sql.close_transaction(transaction_id, meter_stop, stop_time, reason, id_tag, energy,
                              inferred=False, note=note, now=now)
        sql.end_tx_profiles(charger_id, transaction_id)   # §3.13.1, D23
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
        return int64_or_none(meter_stop - meter_start)   # 64-bit readings, a 65-bit difference
    sql.record_anomaly(charger_id, "meter_stop_below_start",
                       f"transaction {transaction_id}: meterStop {meter_stop} < "
                       f"meterStart {meter_start}", now)
    return None


@dataclass(frozen=True)
class MeterReport:
    transaction_id: int | None   # the transaction the samples belong to (None if unknown)
    meter_start: int | None      # that transaction's meterStart
    rows: list[tuple]            # meter_sample rows, shaped like sql.METER_COLUMNS


def check_meter_values(charger_id: str, connector_id: int, transaction_id: int | None,
                       meter_value: list[dict[str, Any]], now: dt.datetime,
                       known_meter_start: int | None = None) -> MeterReport:
    """The sample rows of a MeterValues, attached to its transaction if that is this
    charger's. The caller inserts the rows (in bulk, with the group commit).

    ``known_meter_start``: the caller already knows the transaction is this
    charger's and its meterStart (the session remembers the transactions it
    handed out), which saves a query per message.
    """
    meter_start = known_meter_start
    if transaction_id is not None and meter_start is None:
        found = sql.transaction_start(transaction_id)
        if found is None or found[0] != charger_id:
            sql.record_anomaly(charger_id, "unknown_transaction_meter_values",
                               f"MeterValues for unknown transaction {transaction_id}", now)
            transaction_id = None
        else:
            meter_start = found[1]
    return MeterReport(transaction_id, meter_start,
                       sample_rows(charger_id, connector_id, transaction_id, meter_value, now))


def sample_insert() -> str:
    """The INSERT the group commit runs in bulk for ``MeterReport.rows``."""
    return sql.meter_insert_sql()


def _insert_samples(charger_id: str, connector_id: int, transaction_id: int | None,
                    meter_value: list[dict[str, Any]], now: dt.datetime) -> None:
    rows = sample_rows(charger_id, connector_id, transaction_id, meter_value, now)
    if rows:
        sql.insert_meter_samples(rows)


def as_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)
