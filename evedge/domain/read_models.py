"""Read models for the REST API and the dashboard: chargers, transactions, samples.

Everything here is read-only and returns JSON-ready dicts (snake_case keys,
RFC 3339 times). Whether a charger is online is live state owned by the
registry, so callers pass it in as a predicate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from typing import Any, Callable, Iterable

import peewee

from .. import errors
from ..storage import sql
from ..storage.database import ReadPool
from ..storage.group_commit import GroupCommit
from ..storage.models import (Anomaly, Charger, CommandLog, Connector, MeterSample, StatusEvent,
                              Transaction)
from ..timeutil import to_rfc3339
from .charger_admin import charger_extras
from .charger_ids import registered, require_known, unknown_charger
from .meter_readings import ENERGY_REGISTER, POWER, energy_wh, power_w, session_energy
from .repairs import RepairLedger, listed as listed_repairs

IsOnline = Callable[[str], bool]


def _time(value: dt.datetime | None) -> str | None:
    return to_rfc3339(value)


# --- transactions ---------------------------------------------------------------------------

def live_readings(transaction_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Latest power (W) and energy register (Wh) of each transaction, from its last samples,
    and when the last sample was received (a session that went quiet is stuck)."""
    readings = {}
    for transaction_id in transaction_ids:
        power = energy = None
        for measurand, value, unit, phase in sql.recent_samples(transaction_id):
            if value is None:
                continue
            if energy is None and measurand == ENERGY_REGISTER:
                energy = energy_wh(value, unit)
            elif power is None and measurand == POWER and not phase:
                power = power_w(value, unit)
        readings[transaction_id] = {"power_w": power, "energy_wh": energy,
                                    "last_meter_at": _last_sample_received(transaction_id)}
    return readings


def _last_sample_received(transaction_id: int) -> dt.datetime | None:
    """Receive time of the transaction's newest sample (one step down its index)."""
    row = (MeterSample.select(MeterSample.received_at)
           .where(MeterSample.transaction == transaction_id)
           .order_by(MeterSample.timestamp.desc(), MeterSample.id.desc()).limit(1).tuples()
           .first())
    return None if row is None else row[0]


def transaction_json(tx: Transaction, reading: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    body = {
        "id": tx.id,
        "charger_id": tx.charger,  # rows are read as namedtuples: the foreign key's value
        "connector_id": tx.connector_id,
        "id_tag": tx.id_tag,
        "auth_status": tx.auth_status,
        "reservation_id": tx.reservation_id,
        "meter_start": tx.meter_start,
        "meter_stop": tx.meter_stop,
        "start_time": _time(tx.start_time),
        "start_received_at": _time(tx.start_received_at),
        "stop_time": _time(tx.stop_time),
        "stop_received_at": _time(tx.stop_received_at),
        "stop_reason": tx.stop_reason,
        "stop_id_tag": tx.stop_id_tag,
        "energy_wh": tx.energy_wh,
        "stop_inferred": tx.stop_inferred,
        "note": tx.note,
        "active": tx.stop_received_at is None,
    }
    if reading is not None:
        body["power_w"] = reading["power_w"]
        body["meter_now"] = reading["energy_wh"]
        body["last_meter_at"] = _time(reading.get("last_meter_at"))
        if tx.stop_received_at is None and reading["energy_wh"] is not None:
            body["energy_wh"] = session_energy(reading["energy_wh"], tx.meter_start)
    return body


# ``?sort=`` of GET /api/transactions/: the JSON names a technician sorts by.
TRANSACTION_SORTS = {
    "id": Transaction.id,
    "charger_id": Transaction.charger,
    "connector_id": Transaction.connector_id,
    "id_tag": Transaction.id_tag,
    "start_time": Transaction.start_time,
    "stop_time": Transaction.stop_time,
    "energy_wh": Transaction.energy_wh,
}


def transaction_order(sort: str | None) -> list:
    """ORDER BY for ``sort`` (a TRANSACTION_SORTS name, ``-`` first for descending).

    Empty values (running sessions' stop_time, energy_wh) come last either way, the same
    on SQLite and PostgreSQL, and the id breaks ties so that pages never overlap.
    """
    text = (sort or "-id").strip()
    name = text.lstrip("-")
    if name not in TRANSACTION_SORTS or text.count("-") > 1:
        raise errors.BadRequest(f"sort must be one of {', '.join(TRANSACTION_SORTS)}, "
                                "with a leading - for descending", field="sort")
    column = TRANSACTION_SORTS[name]
    descending = text.startswith("-")
    order = [column.is_null(), column.desc() if descending else column.asc()]
    if name != "id":
        order.append(Transaction.id.desc() if descending else Transaction.id.asc())
    return order


def chargers_named(charger: str) -> list[str]:
    """Ids of the chargers called ``charger`` in any case (read from the small charger table,
    so that the transaction filter still walks the transaction's charger index)."""
    return [row[0] for row in Charger.select(Charger.id)
            .where(peewee.fn.LOWER(Charger.id) == charger.lower()).tuples()]


def filter_transactions(query, *, charger: str | None = None, id_tag: str | None = None,
                        q: str | None = None, since: dt.datetime | None = None,
                        until: dt.datetime | None = None, active: bool | None = None):
    """``query`` narrowed by the history filters. Charger and id tag match whole values in
    any case (id tags are CiString20Type, OCPP 1.6 §7: case-insensitive); ``q`` is a
    substring of either."""
    if charger:
        query = query.where(Transaction.charger.in_(chargers_named(charger)))
    if id_tag:
        query = query.where(peewee.fn.LOWER(Transaction.id_tag) == id_tag.lower())
    if q:
        query = query.where(Transaction.id_tag.contains(q) | Transaction.charger.contains(q))
    if since:
        query = query.where(Transaction.start_time >= since)
    if until:
        query = query.where(Transaction.start_time < until)
    if active is not None:
        query = query.where(Transaction.stop_received_at.is_null(active))
    return query


def transaction_totals(filters: dict[str, Any]) -> dict[str, Any]:
    """Count, finished sessions' energy and running sessions of everything ``filters`` match.

    Running sessions are counted but their energy is not: it is not final until the
    StopTransaction (their energy so far is in each item's ``energy_wh``)."""
    finished = Transaction.stop_received_at.is_null(False)
    query = filter_transactions(Transaction.select(
        peewee.fn.COUNT(Transaction.id),
        energy_sum(peewee.Case(None, [(finished, Transaction.energy_wh)], None)),
        peewee.fn.SUM(peewee.Case(None, [(finished, 0)], 1))), **filters)
    count, energy, running = query.tuples().first() or (0, None, 0)
    return {"count": count or 0, "energy_wh": whole(energy), "running": running or 0}


def energy_sum(energy: Any) -> peewee.Node:
    """SUM of Wh values, summed as doubles: energies are 64-bit integers, and SQLite's
    SUM of integers fails with "integer overflow" beyond 2^63 (two StopTransactions of a
    broken meter were enough to turn every transaction list and report into a 500).
    Exact up to 2^53 Wh (9 PWh)."""
    return peewee.fn.SUM(peewee.Cast(energy, "DOUBLE PRECISION"))


def whole(energy: float | int | None) -> int:
    """An energy_sum as the whole Wh it is (0 for an empty sum)."""
    return int(energy) if energy is not None and math.isfinite(energy) else 0


def list_transactions(*, charger: str | None = None, id_tag: str | None = None,
                      q: str | None = None, since: dt.datetime | None = None,
                      until: dt.datetime | None = None, active: bool | None = None,
                      sort: str | None = None, limit: int = 50, offset: int = 0
                      ) -> dict[str, Any]:
    filters = dict(charger=charger, id_tag=id_tag, q=q, since=since, until=until,
                   active=active)
    order = transaction_order(sort)
    totals = transaction_totals(filters)
    query = filter_transactions(Transaction.select(), **filters)
    page = list(query.order_by(*order).limit(limit).offset(offset).namedtuples())
    readings = live_readings(tx.id for tx in page if tx.stop_received_at is None)
    return {"items": [transaction_json(tx, readings.get(tx.id)) for tx in page],
            "total": totals["count"], "totals": totals, "limit": limit, "offset": offset}


def sample_json(sample: MeterSample) -> dict[str, Any]:
    return {
        "timestamp": _time(sample.timestamp),
        "received_at": _time(sample.received_at),
        "connector_id": sample.connector_id,
        "measurand": sample.measurand,
        "phase": sample.phase,
        "unit": sample.unit,
        "context": sample.context,
        "location": sample.location,
        "value": sample.value,
        "raw_value": sample.raw_value,
    }


def transaction_detail(transaction_id: int, samples_limit: int = 1000, newest: bool = False,
                       measurand: str | None = None) -> dict[str, Any]:
    """One transaction with its meter samples, oldest first; ``newest`` takes the last
    ``samples_limit`` (still returned oldest first), ``measurand`` keeps only that one."""
    tx = Transaction.select().where(Transaction.id == transaction_id).namedtuples().first()
    if tx is None:
        raise errors.NotFound(f"transaction {transaction_id} does not exist")
    reading = live_readings([tx.id])[tx.id] if tx.stop_received_at is None else None
    body = transaction_json(tx, reading)
    samples = MeterSample.select().where(MeterSample.transaction == tx.id)
    if measurand:
        samples = samples.where(MeterSample.measurand == measurand)
    body["samples_total"] = samples.count()
    if newest:
        page = samples.order_by(MeterSample.timestamp.desc(), MeterSample.id.desc())
        chosen = list(page.limit(samples_limit))[::-1]
    else:
        chosen = samples.order_by(MeterSample.timestamp, MeterSample.id).limit(samples_limit)
    body["meter_samples"] = [sample_json(s) for s in chosen]
    return body


# --- chargers --------------------------------------------------------------------------------

def _charger_json(charger: Charger, connectors: list[Connector], active: list[Transaction],
                  readings: dict[int, dict], is_online: IsOnline) -> dict[str, Any]:
    active_json = [transaction_json(tx, readings.get(tx.id)) for tx in active]
    by_connector = {tx["connector_id"]: tx for tx in active_json}
    return {
        "id": charger.id,
        "label": charger.label,
        "location": charger.location,
        "registration_status": charger.registration_status,
        "online": is_online(charger.id),
        "last_seen": _time(charger.last_seen_at),
        "last_boot_at": _time(charger.last_boot_at),
        "connected_at": _time(charger.connected_at),
        "disconnected_at": _time(charger.disconnected_at),
        "vendor": charger.vendor,
        "model": charger.model,
        "serial_number": charger.serial_number,
        "charge_box_serial_number": charger.charge_box_serial_number,
        "firmware_version": charger.firmware_version,
        "firmware_status": charger.firmware_status,
        "diagnostics_status": charger.diagnostics_status,
        "has_password": charger.password_hash is not None,
        "connectors": [{
            "connector_id": c.connector_id,
            "status": c.status,
            "error_code": c.error_code,
            "info": c.info,
            "vendor_error_code": c.vendor_error_code,
            "status_at": _time(c.status_at),
            "updated_at": _time(c.updated_at),
            "active_transaction": by_connector.get(c.connector_id),
        } for c in connectors],
        "active_transaction": active_json[-1] if active_json else None,
        "active_transactions": active_json,
    }


def list_chargers(is_online: IsOnline, last_seen: Callable[[str], dt.datetime | None],
                  limit: int | None = None, offset: int = 0,
                  ids: list[str] | None = None) -> tuple[list[dict[str, Any]], int]:
    """Chargers with connectors and active transactions; returns (page, total)."""
    query = registered().order_by(Charger.id)
    if ids is not None:
        query = query.where(Charger.id.in_(ids))
    total = query.count()
    if limit is not None:
        query = query.limit(limit).offset(offset)
    # namedtuples, not model instances: a thousand chargers read in a third of the time.
    chargers = list(query.namedtuples())
    wanted = [c.id for c in chargers]
    connectors: dict[str, list[Connector]] = {cid: [] for cid in wanted}
    for connector in (Connector.select().where(Connector.charger.in_(wanted))
                      .order_by(Connector.connector_id).namedtuples()):
        connectors[connector.charger].append(connector)
    active: dict[str, list[Transaction]] = {cid: [] for cid in wanted}
    for tx in (Transaction.select().where(Transaction.charger.in_(wanted),
                                          Transaction.stop_received_at.is_null())
               .order_by(Transaction.id).namedtuples()):
        active[tx.charger].append(tx)
    readings = live_readings(tx.id for txs in active.values() for tx in txs)
    page = []
    for charger in chargers:
        seen = last_seen(charger.id)
        if seen is not None and (charger.last_seen_at is None or seen > charger.last_seen_at):
            charger = charger._replace(last_seen_at=seen)
        page.append(_charger_json(charger, connectors[charger.id], active[charger.id],
                                  readings, is_online))
    return page, total


def charger_detail(charger_id: str, is_online: IsOnline,
                   last_seen: Callable[[str], dt.datetime | None]) -> dict[str, Any]:
    page, _ = list_chargers(is_online, last_seen, ids=[charger_id])
    if not page:
        raise unknown_charger(charger_id)
    for connector in page[0]["connectors"]:
        connector["last_meter"] = last_meter(charger_id, connector["connector_id"])
    return page[0]


def last_meter(charger_id: str, connector_id: int) -> dict[str, Any] | None:
    """The connector's latest energy register reading, in a transaction or between them
    (some firmwares send clock-aligned readings while idle).

    Two index searches instead of one over all samples: those outside transactions
    through the partial index ``metersample_connector_latest``, those of the
    connector's newest transaction through (transaction, timestamp). The later
    received wins.
    """
    register = MeterSample.measurand == ENERGY_REGISTER
    outside = (MeterSample.select()
               .where(MeterSample.charger == charger_id, MeterSample.connector_id == connector_id,
                      MeterSample.transaction.is_null(), register)
               .order_by(MeterSample.id.desc()).first())
    newest = (Transaction.select(Transaction.id)
              .where(Transaction.charger == charger_id, Transaction.connector_id == connector_id)
              .order_by(Transaction.start_time.desc(), Transaction.id.desc()).first())
    inside = None if newest is None else (
        MeterSample.select().where(MeterSample.transaction == newest.id, register)
        .order_by(MeterSample.timestamp.desc(), MeterSample.id.desc()).first())
    found = [sample for sample in (outside, inside) if sample is not None]
    if not found:
        return None
    sample = max(found, key=lambda s: s.id)
    return {"energy_wh": energy_wh(sample.value, sample.unit), "raw_value": sample.raw_value,
            "timestamp": _time(sample.timestamp), "received_at": _time(sample.received_at),
            "transaction_id": sample.transaction_id}


class ChargerReads:
    """The chargers as GET /api/chargers/ and the dashboard snapshot list them.

    Whole-fleet lists are read off the event loop (``ReadPool``), and callers
    asking for the whole list while it is being read share that read: twenty
    dashboards reconnecting at once cost one query, not twenty. A reader sees
    committed data only, so it waits for the open group commit first: a client
    reads its own writes. Online state and last-seen times are live, from the
    registry (``is_online``, ``last_seen``).
    """

    def __init__(self, reads: ReadPool, committer: GroupCommit, is_online: IsOnline,
                 last_seen: Callable[[str], dt.datetime | None],
                 repairs: RepairLedger | None = None):
        self._reads = reads
        self._repairs = repairs
        self._committer = committer
        self._is_online = is_online
        self._last_seen = last_seen
        self._whole: asyncio.Future | None = None

    async def list(self, limit: int | None = None, offset: int = 0
                   ) -> tuple[list[dict], int]:
        await self._committer.durable()
        if limit is not None or offset:
            return await self._reads.run(list_chargers, self._is_online, self._last_seen,
                                         limit, offset)
        if self._whole is None:
            self._whole = asyncio.ensure_future(self._reads.run(
                list_chargers, self._is_online, self._last_seen))
            self._whole.add_done_callback(self._whole_read)
        return await asyncio.shield(self._whole)

    def _whole_read(self, future: asyncio.Future) -> None:
        if self._whole is future:
            self._whole = None

    def detail(self, charger_id: str) -> dict[str, Any]:
        """One charger, with what commands taught us (configuration, reservations,
        profiles), each connector's latest meter reading, and the firmware deviations
        evedge repaired (counted up to this moment, stored or not yet)."""
        body = charger_detail(charger_id, self._is_online, self._last_seen)
        body.update(charger_extras(charger_id))
        body["repairs"] = listed_repairs(charger_id, self._repairs)
        return body


# --- audit log ---------------------------------------------------------------------------------

def command_log(charger: str | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    query = CommandLog.select()
    if charger:
        query = query.where(CommandLog.charger == charger)
    total = query.count()
    items = [{
        "id": entry.id,
        "charger_id": entry.charger_id,
        "username": entry.username,
        "action": entry.action,
        "request": _json_or_text(entry.request),
        "outcome": entry.outcome,
        "response": _json_or_text(entry.response),
        "sent_at": _time(entry.sent_at),
        "answered_at": _time(entry.answered_at),
    } for entry in query.order_by(CommandLog.id.desc()).limit(limit).offset(offset)]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def _json_or_text(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


# --- charger history ---------------------------------------------------------------------------

def status_log(charger_id: str, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Every StatusNotification of a charger as received, newest first."""
    require_known(charger_id)
    query = StatusEvent.select().where(StatusEvent.charger == charger_id)
    items = [{
        "connector_id": e.connector_id, "status": e.status, "error_code": e.error_code,
        "info": e.info, "vendor_id": e.vendor_id, "vendor_error_code": e.vendor_error_code,
        "charger_time": _time(e.charger_time), "received_at": _time(e.received_at),
    } for e in query.order_by(StatusEvent.id.desc()).limit(limit).offset(offset)]
    return {"items": items, "total": query.count(), "limit": limit, "offset": offset}


def anomalies(charger_id: str, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """What a charger did that evedge answered but did not expect, newest first."""
    require_known(charger_id)
    query = Anomaly.select().where(Anomaly.charger == charger_id)
    items = [{"kind": a.kind, "detail": a.detail, "received_at": _time(a.received_at)}
             for a in query.order_by(Anomaly.id.desc()).limit(limit).offset(offset)]
    return {"items": items, "total": query.count(), "limit": limit, "offset": offset}
