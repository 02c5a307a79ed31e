"""Chargers' local authorization lists (OCPP 1.6 §3.5.3, SendLocalList §5.15).

What a charger's list should hold is derived from the id tag table; what we
believe it holds is kept in ``LocalListEntry`` and updated only after the
charger accepted an update. An update is plain data (:class:`LocalListUpdate`):
the caller turns it into a SendLocalList and hands back the charger's status.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import peewee

from .. import errors
from ..storage.models import Charger, IdTag, LocalListEntry, database
from ..timeutil import parse_api_time, to_rfc3339, utcnow
from .authorization import effective_status, tag_info
from .charger_ids import registered, unknown_charger

UPDATE_TYPES = ("differential", "full")


@dataclass(frozen=True)
class LocalListUpdate:
    """One SendLocalList as plain data: ``entries`` are AuthorizationData in snake case;
    an entry without ``id_tag_info`` removes the tag (differential updates only)."""

    charger_id: str
    list_version: int
    update_type: str  # "full" | "differential"
    entries: list[dict[str, Any]]


Send = Callable[[LocalListUpdate], Awaitable[str]]


def clean_update_type(value: Any) -> str:
    if value is None:
        return "differential"
    if not isinstance(value, str) or value.lower() not in UPDATE_TYPES:
        raise errors.BadRequest("mode must be differential or full", field="mode")
    return value.lower()


def desired_local_list(now: dt.datetime | None = None) -> dict[str, dict[str, Any]]:
    """id_tag -> IdTagInfo for every tag, as ``charging.id_tag_info`` would judge it now.

    The same rules (own status, expiry, a blocked or expired parent blocks its
    children), except ConcurrentTx: that depends on live transactions, which a
    charger working offline from its local list cannot know about anyway.
    """
    now = now or utcnow()
    rows = {tag: (status, expiry, parent) for tag, status, expiry, parent in IdTag.select(
        IdTag.id_tag, IdTag.status, IdTag.expiry_date, IdTag.parent_id_tag).tuples()}
    desired = {}
    for tag, (status, expiry, parent) in rows.items():
        status = effective_status(status, expiry, now)
        if status == "Accepted" and parent in rows:
            status = effective_status(rows[parent][0], rows[parent][1], now)
        desired[tag] = tag_info(status, expiry, parent)
    return desired


def held_local_list(charger_id: str) -> dict[str, dict[str, Any]]:
    """id_tag -> IdTagInfo of what we believe the charger holds."""
    query = LocalListEntry.select().where(LocalListEntry.charger == charger_id)
    return {entry.id_tag: tag_info(entry.status, entry.expiry_date, entry.parent_id_tag)
            for entry in query}


def _charger(charger_id: str) -> Charger:
    charger = registered().where(Charger.id == charger_id).first()
    if charger is None:
        raise unknown_charger(charger_id)
    return charger


def plan_local_list(charger_id: str, update_type: str,
                    now: dt.datetime | None = None) -> LocalListUpdate:
    """The next SendLocalList for a charger: everything (full) or only what changed."""
    version = (_charger(charger_id).local_list_version or 0) + 1
    desired = desired_local_list(now)
    if update_type == "full":
        entries = [{"id_tag": tag, "id_tag_info": info} for tag, info in sorted(desired.items())]
        return LocalListUpdate(charger_id, version, "full", entries)
    held = held_local_list(charger_id)
    entries = [{"id_tag": tag, "id_tag_info": info} for tag, info in sorted(desired.items())
               if held.get(tag) != info]
    entries += [{"id_tag": tag} for tag in sorted(held) if tag not in desired]
    return LocalListUpdate(charger_id, version, "differential", entries)


def apply_local_list(update: LocalListUpdate) -> None:
    """Record an update the charger accepted: its entries and its new list version."""
    mine = LocalListEntry.charger == update.charger_id
    with database.atomic():
        if update.update_type == "full":
            LocalListEntry.delete().where(mine).execute()
        else:
            for batch in peewee.chunked([entry["id_tag"] for entry in update.entries], 500):
                LocalListEntry.delete().where(mine & LocalListEntry.id_tag.in_(batch)).execute()
        rows = [_entry_row(update.charger_id, entry) for entry in update.entries
                if "id_tag_info" in entry]
        for batch in peewee.chunked(rows, 100):
            LocalListEntry.insert_many(batch).execute()
        Charger.update(local_list_version=update.list_version).where(
            Charger.id == update.charger_id).execute()


def _entry_row(charger_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    info = entry["id_tag_info"]
    expiry = info.get("expiry_date")
    return {"charger": charger_id, "id_tag": entry["id_tag"], "status": info["status"],
            "expiry_date": parse_api_time(expiry) if expiry else None,
            "parent_id_tag": info.get("parent_id_tag")}


async def sync_local_list(charger_id: str, update_type: str, send: Send) -> dict[str, Any]:
    """Send the next local list update and record it when the charger accepts it.

    A charger answers VersionMismatch to a differential update when its list is
    not the one we believe it holds (replaced by another system, or reset); one
    full update then sets it straight. Any other refusal (Failed, NotSupported)
    is the charger's answer, reported as it is, with nothing recorded.
    No transaction stays open across an ``await``: the plan is read, the answer
    awaited, then exactly what was sent is recorded.
    """
    update = plan_local_list(charger_id, update_type)
    status = str(await send(update))
    fallback = None
    if status == "VersionMismatch" and update.update_type == "differential":
        fallback = {"update_type": update.update_type, "list_version": update.list_version,
                    "status": status}
        update = plan_local_list(charger_id, "full")
        status = str(await send(update))
    if status == "Accepted":
        apply_local_list(update)
    return {"charger_id": charger_id, "status": status, "applied": status == "Accepted",
            "list_version": update.list_version, "update_type": update.update_type,
            "entries": len(update.entries), "fallback_from": fallback}


def local_list(charger_id: str) -> dict[str, Any]:
    """The list version and entries we believe a charger holds (None: never synced)."""
    charger = _charger(charger_id)
    entries = [{"id_tag": entry.id_tag, "status": entry.status,
                "expiry_date": to_rfc3339(entry.expiry_date),
                "parent_id_tag": entry.parent_id_tag}
               for entry in LocalListEntry.select().where(LocalListEntry.charger == charger_id)
               .order_by(LocalListEntry.id_tag)]
    return {"charger_id": charger.id, "list_version": charger.local_list_version,
            "entries": entries, "total": len(entries)}
