"""Id tags: validation, CRUD, CSV import/export, and chargers' local authorization lists.

Free of Tornado and of the ``ocpp`` library: handlers pass plain values in and
get JSON-ready dicts back. A local list update is described here as plain data
(:class:`LocalListUpdate`); the caller turns it into a SendLocalList and hands
back the charger's answer.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

import peewee

from . import errors
from .models import ID_TAG_STATUSES, Charger, IdTag, LocalListEntry, database
from .timeutil import parse_api_time, to_rfc3339, utcnow

FIELDS = ("id_tag", "status", "expiry_date", "parent_id_tag", "max_active_transactions", "note")
MAX_ID_TAG = 20   # OCPP 1.6 IdToken: CiString20Type
MAX_NOTE = 200
MAX_REPORTED_ERRORS = 100
UPDATE_TYPES = ("differential", "full")
_MISSING = object()  # "no such tag" in parent lookups (None means "a tag without parent")


# --- validation ------------------------------------------------------------------------------

def _bad(message: str, field: str) -> errors.BadRequest:
    return errors.BadRequest(message, field=field)


def clean_id_tag(value: Any, field: str = "id_tag") -> str:
    """An id tag as OCPP carries it: 1-20 printable characters.

    Leading or trailing blanks are refused: a card reader never sends them, and
    CSV files edited by hand would otherwise create look-alike tags.
    """
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_TAG:
        raise _bad(f"{field} must be a string of 1 to {MAX_ID_TAG} characters", field)
    if not value.isprintable() or value != value.strip():
        raise _bad(f"{field} must be printable, without leading or trailing blanks", field)
    return value


def _clean_status(value: Any) -> str:
    if value not in ID_TAG_STATUSES:
        raise _bad(f"status must be one of {', '.join(ID_TAG_STATUSES)}", "status")
    return value


def _clean_expiry(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad("expiry_date must be an RFC 3339 time or null", "expiry_date")
    try:
        parsed = parse_api_time(value)
    except ValueError as exc:
        raise _bad(f"expiry_date: {exc}", "expiry_date") from None
    # Millisecond precision, as every time leaves evedge (to_rfc3339): an exported
    # file imports back to exactly the same values.
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def _clean_parent(value: Any) -> str | None:
    return None if value is None else clean_id_tag(value, "parent_id_tag")


def _clean_max_active(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 1:
        raise _bad("max_active_transactions must be an integer >= 1, or null for no limit",
                   "max_active_transactions")
    return value


def _clean_note(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_NOTE:
        raise _bad(f"note must be a string of at most {MAX_NOTE} characters", "note")
    return value


CLEANERS: dict[str, Callable[[Any], Any]] = {
    "status": _clean_status,
    "expiry_date": _clean_expiry,
    "parent_id_tag": _clean_parent,
    "max_active_transactions": _clean_max_active,
    "note": _clean_note,
}


def clean_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Validate the editable fields present in ``values``; unknown keys are refused.

    Refusing unknown keys turns an integrator's typo ("expiry") into a 400
    instead of a silently ignored field.
    """
    cleaned = {}
    for name, value in values.items():
        if name not in CLEANERS:
            raise _bad(f"{name} is not a field of an id tag" if name != "id_tag"
                       else "id_tag cannot be changed; create a new tag instead", name)
        cleaned[name] = CLEANERS[name](value)
    return cleaned


def _db_parent(tag: str) -> Any:
    row = IdTag.select(IdTag.parent_id_tag).where(IdTag.id_tag == tag).tuples().first()
    return _MISSING if row is None else row[0]


def check_parent(id_tag: str, parent: str | None, parent_of: Callable[[str], Any]) -> None:
    """The parent must exist, not be the tag itself, and not make the chain loop.

    ``parent_of(tag)`` returns a tag's parent (None for none) or ``_MISSING``.
    A loop would make every tag on it inherit a status from itself.
    """
    if parent is None:
        return
    if parent == id_tag:
        raise _bad("parent_id_tag cannot be the tag itself", "parent_id_tag")
    if parent_of(parent) is _MISSING:
        raise _bad(f"parent_id_tag {parent} is not a known id tag", "parent_id_tag")
    seen, current = {id_tag}, parent
    while current is not None and current is not _MISSING:
        if current in seen:
            raise _bad(f"parent_id_tag {parent} would create a cycle of parents",
                       "parent_id_tag")
        seen.add(current)
        current = parent_of(current)


# --- create, read, update, delete ------------------------------------------------------------

def tag_json(tag: IdTag) -> dict[str, Any]:
    return {
        "id_tag": tag.id_tag,
        "status": tag.status,
        "expiry_date": to_rfc3339(tag.expiry_date),
        "parent_id_tag": tag.parent_id_tag,
        "max_active_transactions": tag.max_active_transactions,
        "note": tag.note,
        "created_at": to_rfc3339(tag.created_at),
        "updated_at": to_rfc3339(tag.updated_at),
    }


def _get(id_tag: str) -> IdTag:
    tag = IdTag.get_or_none(IdTag.id_tag == id_tag)
    if tag is None:
        raise errors.NotFound(f"id tag {id_tag} is not known")
    return tag


def get_tag(id_tag: str) -> dict[str, Any]:
    return tag_json(_get(id_tag))


def list_tags(q: str | None = None, status: str | None = None, limit: int = 50,
              offset: int = 0) -> dict[str, Any]:
    """Tags ordered by id; ``q`` matches a substring of the id or the note, any case."""
    query = IdTag.select()
    if q:
        query = query.where(IdTag.id_tag.contains(q) | IdTag.note.contains(q))
    if status:
        query = query.where(IdTag.status == _clean_status(status))
    page = query.order_by(IdTag.id_tag).limit(limit).offset(offset)
    return {"items": [tag_json(tag) for tag in page], "total": query.count(),
            "limit": limit, "offset": offset}


def create_tag(values: dict[str, Any]) -> dict[str, Any]:
    """Create a tag (409 when it exists); fields left out take their defaults."""
    rest = dict(values)
    id_tag = clean_id_tag(rest.pop("id_tag", None))
    fields = clean_fields(rest)
    now = utcnow()
    try:
        with database.atomic():
            if IdTag.select().where(IdTag.id_tag == id_tag).exists():
                raise errors.Conflict(f"id tag {id_tag} exists already", field="id_tag")
            check_parent(id_tag, fields.get("parent_id_tag"), _db_parent)
            tag = IdTag.create(id_tag=id_tag, created_at=now, updated_at=now, **fields)
    except peewee.IntegrityError:
        raise errors.Conflict(f"id tag {id_tag} exists already", field="id_tag") from None
    return tag_json(tag)


def update_tag(id_tag: str, values: dict[str, Any]) -> dict[str, Any]:
    """Change the fields given (a partial update); the id itself stays."""
    values = dict(values)
    if values.get("id_tag", _MISSING) == id_tag:
        del values["id_tag"]  # a client sending back the object it read: harmless
    fields = clean_fields(values)
    with database.atomic():
        tag = _get(id_tag)
        if "parent_id_tag" in fields:
            check_parent(id_tag, fields["parent_id_tag"], _db_parent)
        for name, value in fields.items():
            setattr(tag, name, value)
        tag.updated_at = utcnow()
        tag.save()
    return tag_json(tag)


def delete_tag(id_tag: str) -> None:
    """Delete a tag; refused while other tags name it as their parent."""
    with database.atomic():
        _get(id_tag)
        children = [row[0] for row in IdTag.select(IdTag.id_tag)
                    .where(IdTag.parent_id_tag == id_tag).order_by(IdTag.id_tag).limit(10).tuples()]
        if children:
            raise errors.Conflict(f"id tag {id_tag} is the parent of other tags; change them first",
                                  field="id_tag", children=children)
        IdTag.delete().where(IdTag.id_tag == id_tag).execute()


# --- CSV export and import ----------------------------------------------------------------------

def export_csv() -> str:
    """All tags as CSV with a header row, in the columns ``import_csv`` reads."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for tag in IdTag.select().order_by(IdTag.id_tag):
        writer.writerow([tag.id_tag, tag.status, to_rfc3339(tag.expiry_date) or "",
                         tag.parent_id_tag or "", _blank(tag.max_active_transactions), tag.note])
    return out.getvalue()


def _blank(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class CsvRow:
    line: int              # where the record starts in the file (the header is line 1)
    id_tag: str
    fields: dict[str, Any]  # the cleaned columns present in the file


def import_csv(text: str) -> dict[str, int]:
    """Create or update every tag of a CSV file, or nothing at all.

    Every row is validated (against the database and the rest of the file, so a
    parent may come later in the same file) before anything is written. Columns
    missing from the header stay as they are on existing tags. Errors name the
    line and the field; the first one is the answer, all of them are in ``errors``.
    """
    rows, problems = _read_rows(text)
    with database.atomic():
        existing = dict(IdTag.select(IdTag.id_tag, IdTag.parent_id_tag).tuples())
        problems += _parent_problems(rows, existing)
        if problems:
            problems.sort(key=lambda problem: problem["line"])
            first = problems[0]
            raise errors.BadRequest(first["error"], field=first["field"], line=first["line"],
                                    errors=problems[:MAX_REPORTED_ERRORS])
        return _write_rows(rows, existing)


def _read_rows(text: str) -> tuple[list[CsvRow], list[dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    columns: list[str] | None = None
    rows: list[CsvRow] = []
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    line = 1
    for cells in reader:
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        try:
            if columns is None:
                columns = _read_header(cells)
                continue
            row = _read_row(start, columns, cells, seen)
            seen.add(row.id_tag)
            rows.append(row)
        except errors.BadRequest as exc:
            if columns is None:
                raise errors.BadRequest(exc.message, field=exc.field, line=start) from None
            problems.append({"line": start, "field": exc.field, "error": exc.message})
    if columns is None:
        raise errors.BadRequest("the CSV file is empty; expected a header row", field="csv",
                                line=1)
    return rows, problems


def _read_header(cells: list[str]) -> list[str]:
    columns = [cell.strip().lower() for cell in cells]
    for name in columns:
        if name not in FIELDS:
            raise _bad(f"unknown column {name!r}; columns are {', '.join(FIELDS)}", name)
    if len(set(columns)) != len(columns):
        raise _bad("a column appears twice in the header", "csv")
    if "id_tag" not in columns:
        raise _bad("the header must name an id_tag column", "id_tag")
    return columns


def _read_row(line: int, columns: list[str], cells: list[str], seen: set[str]) -> CsvRow:
    if len(cells) != len(columns):
        raise _bad(f"expected {len(columns)} values, found {len(cells)}", "csv")
    raw = dict(zip(columns, cells))
    id_tag = clean_id_tag(raw.pop("id_tag").strip())
    if id_tag in seen:
        raise _bad(f"id tag {id_tag} appears twice in the file", "id_tag")
    return CsvRow(line, id_tag, clean_fields({name: _from_cell(name, value)
                                              for name, value in raw.items()}))


def _from_cell(name: str, value: str) -> Any:
    """A CSV cell as the JSON value it stands for: empty means none (status: required)."""
    if name == "note":
        return value
    value = value.strip()
    if value == "":
        return "" if name == "status" else None
    if name == "max_active_transactions":
        try:
            return int(value)
        except ValueError:
            return value  # refused by the cleaner, naming the field
    return value


def _parent_problems(rows: list[CsvRow], existing: dict[str, str | None]
                     ) -> list[dict[str, Any]]:
    final = dict(existing)
    for row in rows:
        final[row.id_tag] = row.fields.get("parent_id_tag", existing.get(row.id_tag))
    problems = []
    for row in rows:
        if "parent_id_tag" not in row.fields:
            continue
        try:
            check_parent(row.id_tag, row.fields["parent_id_tag"],
                         lambda tag: final.get(tag, _MISSING))
        except errors.BadRequest as exc:
            problems.append({"line": row.line, "field": exc.field, "error": exc.message})
    return problems


def _write_rows(rows: list[CsvRow], existing: dict[str, str | None]) -> dict[str, int]:
    now = utcnow()
    new = [{"id_tag": row.id_tag, "created_at": now, "updated_at": now, **row.fields}
           for row in rows if row.id_tag not in existing]
    for batch in _batches(new, 100):
        # insert_many needs the same keys in every row: fill in the model defaults.
        IdTag.insert_many([_with_defaults(values) for values in batch]).execute()
    updated = [row for row in rows if row.id_tag in existing]
    for row in updated:
        IdTag.update(updated_at=now, **row.fields).where(IdTag.id_tag == row.id_tag).execute()
    return {"created": len(new), "updated": len(updated)}


def _with_defaults(values: dict[str, Any]) -> dict[str, Any]:
    defaults = {"status": "Accepted", "expiry_date": None, "parent_id_tag": None,
                "max_active_transactions": None, "note": ""}
    return {**defaults, **values}


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- local authorization lists (OCPP 1.6 §3.5.3, SendLocalList §5.15) ---------------------------

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
        raise _bad("mode must be differential or full", "mode")
    return value.lower()


def _info(status: str, expiry: dt.datetime | None, parent: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {"status": status}
    if expiry is not None:
        info["expiry_date"] = to_rfc3339(expiry)
    if parent:
        info["parent_id_tag"] = parent
    return info


def _effective_status(status: str, expiry: dt.datetime | None, now: dt.datetime) -> str:
    return "Expired" if status == "Accepted" and expiry is not None and expiry <= now else status


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
        status = _effective_status(status, expiry, now)
        if status == "Accepted" and parent in rows:
            status = _effective_status(rows[parent][0], rows[parent][1], now)
        desired[tag] = _info(status, expiry, parent)
    return desired


def held_local_list(charger_id: str) -> dict[str, dict[str, Any]]:
    """id_tag -> IdTagInfo of what we believe the charger holds."""
    query = LocalListEntry.select().where(LocalListEntry.charger == charger_id)
    return {entry.id_tag: _info(entry.status, entry.expiry_date, entry.parent_id_tag)
            for entry in query}


def _charger(charger_id: str) -> Charger:
    charger = Charger.get_or_none(Charger.id == charger_id)
    if charger is None:
        raise errors.NotFound(f"charger {charger_id} is not known")
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
            for batch in _batches([entry["id_tag"] for entry in update.entries], 500):
                LocalListEntry.delete().where(mine & LocalListEntry.id_tag.in_(batch)).execute()
        rows = [_entry_row(update.charger_id, entry) for entry in update.entries
                if "id_tag_info" in entry]
        for batch in _batches(rows, 100):
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
