"""Id tags (RFID cards): validation, CRUD, CSV import and export.

Free of Tornado and of the ``ocpp`` library: handlers pass plain values in and
get JSON-ready dicts back. Chargers' local lists built from these tags are in
``local_lists.py``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any, Callable

import peewee

from .. import errors
from ..errors import BadRequest
from ..storage.models import ID_TAG_STATUSES, IdTag, database
from ..timeutil import parse_api_time, to_rfc3339, utcnow
from .authorization import effective_status
from .csv_cells import neutralise, restore
from .text_checks import unstorable

FIELDS = ("id_tag", "status", "expiry_date", "parent_id_tag", "max_active_transactions", "note")
MAX_ID_TAG = 20   # OCPP 1.6 IdToken: CiString20Type
MAX_NOTE = 200
MAX_REPORTED_ERRORS = 100
_MISSING = object()  # "no such tag" in parent lookups (None means "a tag without parent")


# --- validation ------------------------------------------------------------------------------

def clean_id_tag(value: Any, field: str = "id_tag") -> str:
    """An id tag as OCPP carries it: 1-20 printable characters.

    Leading or trailing blanks are refused: a card reader never sends them, and
    CSV files edited by hand would otherwise create look-alike tags.
    """
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_TAG:
        raise BadRequest(f"{field} must be a string of 1 to {MAX_ID_TAG} characters", field=field)
    if not value.isprintable() or value != value.strip():
        raise BadRequest(f"{field} must be printable, without leading or trailing blanks",
                         field=field)
    return value


def _clean_status(value: Any) -> str:
    if value not in ID_TAG_STATUSES:
        raise BadRequest(f"status must be one of {', '.join(ID_TAG_STATUSES)}", field="status")
    return value


def _clean_expiry(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("expiry_date must be an RFC 3339 time or null", field="expiry_date")
    try:
        parsed = parse_api_time(value)
    except ValueError as exc:
        raise BadRequest(f"expiry_date: {exc}", field="expiry_date") from None
    # Millisecond precision, as every time leaves evedge (to_rfc3339): an exported
    # file imports back to exactly the same values.
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def _clean_parent(value: Any) -> str | None:
    return None if value is None else clean_id_tag(value, "parent_id_tag")


MAX_ACTIVE_LIMIT = 100_000   # more is no limit (null); the column is a 64-bit integer


def _clean_max_active(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= MAX_ACTIVE_LIMIT:
        raise BadRequest(f"max_active_transactions must be an integer from 1 to "
                         f"{MAX_ACTIVE_LIMIT}, or null for no limit",
                         field="max_active_transactions")
    return value


def _clean_note(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_NOTE:
        raise BadRequest(f"note must be a string of at most {MAX_NOTE} characters", field="note")
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
            raise BadRequest(f"{name} is not a field of an id tag" if name != "id_tag"
                             else "id_tag cannot be changed; create a new tag instead",
                             field=name)
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
        raise BadRequest("parent_id_tag cannot be the tag itself", field="parent_id_tag")
    if parent_of(parent) is _MISSING:
        raise BadRequest(f"parent_id_tag {parent} is not a known id tag", field="parent_id_tag")
    seen, current = {id_tag}, parent
    while current is not None and current is not _MISSING:
        if current in seen:
            raise BadRequest(f"parent_id_tag {parent} would create a cycle of parents",
                             field="parent_id_tag")
        seen.add(current)
        current = parent_of(current)


# --- create, read, update, delete ------------------------------------------------------------

def tag_json(tag: IdTag, now: dt.datetime | None = None) -> dict[str, Any]:
    """A tag as the API shows it. ``effective_status`` is what Authorize answers for the
    tag itself: an Accepted tag past its expiry_date is Expired (OCPP 1.6 AuthorizationStatus;
    a parent tag can still block it at the charger)."""
    return {
        "id_tag": tag.id_tag,
        "status": tag.status,
        "effective_status": effective_status(tag.status, tag.expiry_date, now or utcnow()),
        "expiry_date": to_rfc3339(tag.expiry_date),
        "parent_id_tag": tag.parent_id_tag,
        "max_active_transactions": tag.max_active_transactions,
        "note": tag.note,
        "created_at": to_rfc3339(tag.created_at),
        "updated_at": to_rfc3339(tag.updated_at),
    }


def _same_tag(id_tag: str):
    """Id tags are case-insensitive (CiString20Type): "04ab" and "04AB" are one card."""
    return peewee.fn.LOWER(IdTag.id_tag) == id_tag.lower()


def _get(id_tag: str) -> IdTag:
    tag = IdTag.get_or_none(IdTag.id_tag == id_tag) or IdTag.get_or_none(_same_tag(id_tag))
    if tag is None:
        raise errors.NotFound(f"id tag {id_tag} is not known")
    return tag


def get_tag(id_tag: str) -> dict[str, Any]:
    return tag_json(_get(id_tag))


def _has_effective_status(status: str, now: dt.datetime):
    """Tags whose effective status (``charging.effective_status``) is ``status``: an
    expiry date in the past moves an Accepted tag from Accepted to Expired."""
    expired = IdTag.expiry_date.is_null(False) & (IdTag.expiry_date <= now)
    if status == "Accepted":
        return (IdTag.status == "Accepted") & ~expired
    if status == "Expired":
        return (IdTag.status == "Expired") | ((IdTag.status == "Accepted") & expired)
    return IdTag.status == status


def list_tags(q: str | None = None, status: str | None = None, limit: int = 50,
              offset: int = 0) -> dict[str, Any]:
    """Tags ordered by id; ``q`` matches a substring of the id or the note, any case;
    ``status`` filters on the effective status (what a charger is told)."""
    now = utcnow()
    query = IdTag.select()
    if q:
        query = query.where(IdTag.id_tag.contains(q) | IdTag.note.contains(q))
    if status:
        query = query.where(_has_effective_status(_clean_status(status), now))
    page = query.order_by(IdTag.id_tag).limit(limit).offset(offset)
    return {"items": [tag_json(tag, now) for tag in page], "total": query.count(),
            "limit": limit, "offset": offset}


def create_tag(values: dict[str, Any]) -> dict[str, Any]:
    """Create a tag (409 when it exists); fields left out take their defaults."""
    rest = dict(values)
    id_tag = clean_id_tag(rest.pop("id_tag", None))
    fields = clean_fields(rest)
    now = utcnow()
    try:
        with database.atomic():
            if IdTag.select().where(_same_tag(id_tag)).exists():
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
        id_tag = _get(id_tag).id_tag
        children = [row[0] for row in IdTag.select(IdTag.id_tag)
                    .where(IdTag.parent_id_tag == id_tag).order_by(IdTag.id_tag).limit(10).tuples()]
        if children:
            raise errors.Conflict(f"id tag {id_tag} is the parent of other tags; change them first",
                                  field="id_tag", children=children)
        IdTag.delete().where(IdTag.id_tag == id_tag).execute()


# --- CSV export and import ----------------------------------------------------------------------

def export_csv() -> str:
    """All tags as CSV with a header row, in the columns ``import_csv`` reads. Cells a
    spreadsheet would take for a formula are neutralised (csv_cells.py)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for tag in IdTag.select().order_by(IdTag.id_tag):
        row = [tag.id_tag, tag.status, to_rfc3339(tag.expiry_date) or "",
               tag.parent_id_tag or "", _blank(tag.max_active_transactions), tag.note]
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue()


def _blank(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class CsvRow:
    line: int              # where the record starts in the file (the header is line 1)
    id_tag: str
    fields: dict[str, Any]  # the cleaned columns present in the file


def import_csv(text: str) -> dict[str, int]:
    """Create or update every tag of a CSV file, or nothing at all. Cells that
    export_csv neutralised (a ``'`` before a leading ``=``, ``+``, ``-``, ``@``) are
    read back without that quote.

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
            raise BadRequest(first["error"], field=first["field"], line=first["line"],
                             errors=problems[:MAX_REPORTED_ERRORS])
        return _write_rows(rows, existing)


def _read_rows(text: str) -> tuple[list[CsvRow], list[dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    columns: list[str] | None = None
    rows: list[CsvRow] = []
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    line = 1
    for cells in _records(reader):
        start, line = line, reader.line_num + 1
        cells = [restore(cell) for cell in cells]  # as export_csv neutralised them
        if not any(cell.strip() for cell in cells):
            continue
        try:
            if columns is None:
                columns = _read_header(cells)
                continue
            row = _read_row(start, columns, cells, seen)
            seen.add(row.id_tag)
            rows.append(row)
        except BadRequest as exc:
            if columns is None:
                raise BadRequest(exc.message, field=exc.field, line=start) from None
            problems.append({"line": start, "field": exc.field, "error": exc.message})
    if columns is None:
        raise BadRequest("the CSV file is empty; expected a header row", field="csv",
                         line=1)
    return rows, problems


def _records(reader: Any) -> Any:
    """The reader's records; a file the csv module cannot read is a 400 naming its line.

    csv.Error is raised for a field over ``csv.field_size_limit()`` (128 KiB: no tag,
    note or date is near it) and for a quote left open at the end of the file.
    """
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            raise BadRequest(f"line {line} cannot be read as CSV: {exc}", field="csv",
                             line=line) from None
        for cell in cells:
            problem = unstorable(cell)
            if problem is not None:
                raise BadRequest(f"line {reader.line_num}: a value {problem}", field="csv",
                                 line=reader.line_num)
        yield cells


def _read_header(cells: list[str]) -> list[str]:
    columns = [cell.strip().lower() for cell in cells]
    for name in columns:
        if name not in FIELDS:
            raise BadRequest(f"unknown column {name!r}; columns are {', '.join(FIELDS)}",
                             field=name)
    if len(set(columns)) != len(columns):
        raise BadRequest("a column appears twice in the header", field="csv")
    if "id_tag" not in columns:
        raise BadRequest("the header must name an id_tag column", field="id_tag")
    return columns


def _read_row(line: int, columns: list[str], cells: list[str], seen: set[str]) -> CsvRow:
    if len(cells) != len(columns):
        raise BadRequest(f"expected {len(columns)} values, found {len(cells)}", field="csv")
    raw = dict(zip(columns, cells))
    id_tag = clean_id_tag(raw.pop("id_tag").strip())
    if id_tag in seen:
        raise BadRequest(f"id tag {id_tag} appears twice in the file", field="id_tag")
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
        except BadRequest as exc:
            problems.append({"line": row.line, "field": exc.field, "error": exc.message})
    return problems


def _write_rows(rows: list[CsvRow], existing: dict[str, str | None]) -> dict[str, int]:
    now = utcnow()
    new = [{"id_tag": row.id_tag, "created_at": now, "updated_at": now, **row.fields}
           for row in rows if row.id_tag not in existing]
    for batch in peewee.chunked(new, 100):
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
