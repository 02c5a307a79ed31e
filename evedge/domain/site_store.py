"""What load management keeps in and reads from the database: the site model (one
KeyValue row of JSON), and at start-up the open transactions and the known connectors.

evedge may restart in the middle of sessions, so the live load manager rebuilds its
picture from here; afterwards it follows the committed events.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from ..storage.models import Connector, KeyValue, Transaction

SITE_MODEL_KEY = "site_model"


@dataclass(frozen=True)
class OpenSession:
    charger_id: str
    connector_id: int
    transaction_id: int
    id_tag: str
    started_at: dt.datetime  # when evedge received the StartTransaction (naive UTC)


def load_site_json() -> dict[str, Any] | None:
    """The stored site model as JSON, or None when none was ever stored."""
    row = KeyValue.get_or_none(KeyValue.key == SITE_MODEL_KEY)
    return None if row is None or not row.value else json.loads(row.value)


def save_site_json(body: dict[str, Any]) -> None:
    """Store the site model (its canonical JSON); run inside the group commit."""
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    (KeyValue.insert(key=SITE_MODEL_KEY, value=text)
     .on_conflict(conflict_target=[KeyValue.key], preserve=[KeyValue.value]).execute())


def open_sessions() -> list[OpenSession]:
    """Every transaction without a stop, oldest first."""
    query = (Transaction.select(Transaction.id, Transaction.charger, Transaction.connector_id,
                                Transaction.id_tag, Transaction.start_received_at)
             .where(Transaction.stop_received_at.is_null()).order_by(Transaction.id))
    return [OpenSession(tx.charger_id, tx.connector_id, tx.id, tx.id_tag, tx.start_received_at)
            for tx in query]


def known_connectors() -> dict[str, dict[int, str]]:
    """charger id -> {connector id (1 and up) -> last status} of every charger."""
    found: dict[str, dict[int, str]] = {}
    query = Connector.select(Connector.charger, Connector.connector_id, Connector.status)
    for row in query.where(Connector.connector_id > 0):
        found.setdefault(row.charger_id, {})[row.connector_id] = row.status
    return found
