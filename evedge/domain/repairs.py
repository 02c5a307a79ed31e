"""The firmware deviations evedge repaired, per charger: counted in memory, stored in batches.

The tolerant pass (``chargers/tolerance.py``) repairs what a quirky firmware sends and
says what it did. An operator needs the whole list per charger to tell the vendor:
what (action, field, kind of repair), how often, first and last seen, one example
(docs/decisions.md D22). A charger with a quirk repeats it in every message, so a row
written per message would double the hot path's writes: :class:`RepairLedger` counts in
memory and the counts reach the database

* at once, inside the message's own unit of work, when a kind is new for the charger
  (the table shows a new deviation as soon as it happens), and
* with every housekeeping round and at shutdown for the rest (``flush``).

What a crash loses is at most one housekeeping period of counts, never a kind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable, Protocol

from peewee import EXCLUDED

from ..storage.models import Charger, ChargerRepair
from ..timeutil import to_rfc3339

Key = tuple[str, str, str]           # (action, field, kind)
MAX_KINDS_PER_CHARGER = 256          # field names come from outside (unknown properties)
OTHER_FIELDS = "(other fields)"      # where a charger's kinds beyond the bound are counted
FIELD_LENGTH = 255
EXAMPLE_LENGTH = 200

# What each Repair.kind means, for the operator (tolerance.py, docs/decisions.md D10).
KIND_TEXT = {
    "unknown_property": "unknown property dropped",
    "null_optional": "null for an optional field, taken as absent",
    "object_as_array": "object where an array is expected, taken as an array of one",
    "empty_array": "empty array where one item is the minimum, accepted",
    "string_from_number": "number where text is expected, written as text",
    "number_from_string": "number sent as text, read as a number",
    "string_too_long": "text longer than the schema allows, kept",
    "string_truncated": "text beyond what evedge keeps, cut",
    "enum_normalised": "value in another case or spelling, mapped to the listed one",
    "enum_catch_all": "unlisted value, replaced by the spec's catch-all",
    "enum_raw": "unlisted value, kept as sent",
    "timestamp_lenient": "time not in RFC 3339, read leniently",
    "timestamp_unreadable": "unreadable time, taken as the receive time",
    "fraction_rounded": "fraction of a Wh, rounded",
    "stop_value_unknown": "unusable StopTransaction value, taken as unknown",
    "stop_value_dropped": "unusable StopTransaction value, dropped",
}


class RepairLike(Protocol):
    """What the ledger reads of a ``tolerance.Repair``."""

    kind: str
    example: str

    @property
    def field(self) -> str: ...


@dataclass
class Tally:
    """Repairs of one key counted since the last flush."""

    count: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    example: str

    def add(self, other: Tally) -> None:
        self.count += other.count
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)


Batch = dict[str, dict[Key, Tally]]   # charger id -> key -> what to add


class RepairLedger:
    """Owner of the repair counts not yet stored, and of which kinds each charger has."""

    def __init__(self, max_kinds: int = MAX_KINDS_PER_CHARGER):
        self._max_kinds = max_kinds
        self._known: dict[str, set[Key]] = {}    # keys stored (or being stored) per charger
        self._pending: Batch = {}

    def count(self, charger_id: str, action: str, repairs: Iterable[RepairLike],
              now: dt.datetime) -> bool:
        """Count the repairs of one message, each key once (``count`` is the number of
        messages it was repaired in: two samples with an unlisted unit are one message);
        True when a key is new for the charger (then store it with the message:
        ``flush(ledger, committer, charger_id)`` in its unit of work)."""
        known = self._known.get(charger_id)
        if known is None:   # once per charger and process: the kinds it has already
            known = self._known[charger_id] = stored_keys(charger_id)
        pending = self._pending.setdefault(charger_id, {})
        new = False
        counted: set[Key] = set()
        for repair in repairs:
            key = (action, repair.field[:FIELD_LENGTH], repair.kind)
            example = repair.example
            if key not in known:
                if len(known) >= self._max_kinds:   # counted, under a bounded key
                    example = f"{repair.field}: {example}"
                    key = (action, OTHER_FIELDS, repair.kind)
                if key not in known:
                    known.add(key)
                    new = True
            if key in counted:
                continue
            counted.add(key)
            tally = pending.get(key)
            if tally is None:
                pending[key] = Tally(1, now, now, example[:EXAMPLE_LENGTH])
            else:
                tally.count += 1
                tally.last_seen = now
        return new

    def take(self, charger_id: str | None = None) -> Batch:
        """The counts not stored yet (one charger's, or all), handed over for ``store``."""
        if charger_id is None:
            batch, self._pending = self._pending, {}
            return batch
        pending = self._pending.pop(charger_id, None)
        return {charger_id: pending} if pending else {}

    def put_back(self, batch: Batch) -> None:
        """A batch whose commit failed: count it again with the next flush."""
        for charger_id, tallies in batch.items():
            pending = self._pending.setdefault(charger_id, {})
            for key, tally in tallies.items():
                if key in pending:
                    tally.add(pending[key])
                pending[key] = tally

    def pending(self, charger_id: str) -> dict[Key, Tally]:
        return self._pending.get(charger_id, {})

    def forget(self, charger_id: str) -> None:
        """The charger's rows are gone (deleted with it): nothing of it is cached."""
        self._known.pop(charger_id, None)
        self._pending.pop(charger_id, None)


class Committer(Protocol):
    def run(self, work: Any, isolated: bool = True) -> Any: ...

    def when_committed(self, ok: Any, failed: Any) -> None: ...


def flush(ledger: RepairLedger, committer: Committer, charger_id: str | None = None) -> int:
    """Store the ledger's counts (one charger's, or all) with the next commit; a failed
    commit puts them back. Returns how many keys were written."""
    batch = ledger.take(charger_id)
    if not batch:
        return 0
    try:
        written = committer.run(lambda: store(batch))
    except Exception:
        ledger.put_back(batch)
        raise
    committer.when_committed(lambda: None, lambda: ledger.put_back(batch))
    return written


def stored_keys(charger_id: str) -> set[Key]:
    return set(ChargerRepair.select(ChargerRepair.action, ChargerRepair.field,
                                    ChargerRepair.kind)
               .where(ChargerRepair.charger == charger_id).tuples())


def store(batch: Batch) -> int:
    """Add a batch to the table (an upsert per key); chargers deleted meanwhile are skipped,
    their repairs went with them. Returns how many keys were written."""
    existing = {row[0] for row in Charger.select(Charger.id)
                .where(Charger.id.in_(list(batch))).tuples()}
    rows = [{"charger": charger_id, "action": action, "field": field, "kind": kind,
             "count": tally.count, "first_seen_at": tally.first_seen,
             "last_seen_at": tally.last_seen, "example": tally.example}
            for charger_id, tallies in batch.items() if charger_id in existing
            for (action, field, kind), tally in tallies.items()]
    if rows:
        (ChargerRepair.insert_many(rows)
         .on_conflict(conflict_target=[ChargerRepair.charger, ChargerRepair.action,
                                       ChargerRepair.field, ChargerRepair.kind],
                      update={ChargerRepair.count: ChargerRepair.count + EXCLUDED.count,
                              ChargerRepair.last_seen_at: EXCLUDED.last_seen_at})
         .execute())
    return len(rows)


def listed(charger_id: str, ledger: RepairLedger | None) -> list[dict[str, Any]]:
    """The charger's repairs as stored plus what the ledger counted since, most recent
    first: the ``repairs`` of GET /api/chargers/<id>/."""
    found: dict[Key, Tally] = {
        (r.action, r.field, r.kind): Tally(r.count, r.first_seen_at, r.last_seen_at, r.example)
        for r in ChargerRepair.select().where(ChargerRepair.charger == charger_id)}
    for key, tally in (ledger.pending(charger_id) if ledger else {}).items():
        if key in found:
            found[key].add(tally)
        else:
            found[key] = Tally(tally.count, tally.first_seen, tally.last_seen, tally.example)
    ordered = sorted(found.items(), key=lambda item: item[0])
    ordered.sort(key=lambda item: item[1].last_seen, reverse=True)
    return [{"action": action, "field": field, "kind": kind,
             "repair": KIND_TEXT.get(kind, kind.replace("_", " ")), "count": tally.count,
             "first_seen_at": to_rfc3339(tally.first_seen),
             "last_seen_at": to_rfc3339(tally.last_seen), "example": tally.example}
            for (action, field, kind), tally in ordered]
