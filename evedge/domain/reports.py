"""Energy reports for billing and fleet managers: energy per UTC day, per charger, per id tag.

Read-only, free of Tornado. What counts: finished sessions (a StopTransaction was
received, or evedge closed them as inferred), with the energy_wh stored when they
stopped, grouped by the day their transaction started (the charger's clock, in UTC as
OCPP 1.6 §3.11 asks) or by charger or id tag. Running sessions are not counted,
their energy is not final until they stop; ``running_sessions`` says how many the
filter left out. A finished session without an energy value (inferred with no meter
reading) counts as a session with no energy.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import peewee

from .. import errors
from ..storage.models import Transaction
from .csv_cells import neutralise
from .read_models import energy_sum, filter_transactions, whole

GROUPS = ("day", "charger", "id_tag")
KEY_COLUMNS = {"day": "day", "charger": "charger_id", "id_tag": "id_tag"}
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).


def clean_group(value: Any) -> str:
    if value not in GROUPS:
        raise errors.BadRequest(f"group must be one of {', '.join(GROUPS)}", field="group")
    return value


def _key_expression(group: str) -> Any:
    if group == "day":
        # date() of a naive UTC time: 'YYYY-MM-DD' on SQLite, a date on PostgreSQL (not
        # coerced back into a datetime by the column's converter).
        return peewee.fn.date(Transaction.start_time).coerce(False)
    if group == "charger":
        return Transaction.charger
    # Id tags are case-insensitive: "04ab" and "04AB" are one card, shown as one spelling.
    return peewee.fn.LOWER(Transaction.id_tag)


def _key_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def energy_report(group: str, *, since: dt.datetime | None = None,
                  until: dt.datetime | None = None, charger: str | None = None,
                  id_tag: str | None = None) -> dict[str, Any]:
    """``{"group", "items": [{"key", "energy_wh", "sessions"}], "total_energy_wh",
    "running_sessions"}``: days oldest first, chargers and tags by energy, largest first."""
    group = clean_group(group)
    if since and until and until <= since:
        raise errors.BadRequest("until must be later than since", field="until")
    filters = dict(charger=charger, id_tag=id_tag, since=since, until=until)
    key = _key_expression(group)
    shown = peewee.fn.MIN(Transaction.id_tag) if group == "id_tag" else key
    rows = (filter_transactions(Transaction.select(shown, energy_sum(Transaction.energy_wh),
                                                   peewee.fn.COUNT(Transaction.id)),
                                active=False, **filters)
            .group_by(key).tuples())
    items = [{"key": _key_text(name), "energy_wh": whole(energy), "sessions": sessions}
             for name, energy, sessions in rows]
    if group == "day":
        items.sort(key=lambda item: item["key"])
    else:
        items.sort(key=lambda item: (-item["energy_wh"], item["key"]))
    running = filter_transactions(Transaction.select(), active=True, **filters).count()
    return {"group": group, "items": items,
            "total_energy_wh": sum(item["energy_wh"] for item in items),
            "running_sessions": running}


def report_csv(report: dict[str, Any]) -> str:
    """The report as CSV: one row per item, a header naming the key column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([KEY_COLUMNS[report["group"]], "energy_wh", "sessions"])
    for item in report["items"]:
        writer.writerow([neutralise(str(value))
                         for value in (item["key"], item["energy_wh"], item["sessions"])])
    return out.getvalue()
