"""Charger ids: which ids evedge accepts, and "unknown charger" said one way everywhere."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..storage.models import Charger

MAX_CHARGER_ID = 64


def valid_charger_id(value: Any) -> bool:
    """The charge point ids evedge accepts, in the OCPP URL and everywhere else: 1-64
    printable characters without '/' (the id is the last path segment), and no blanks at
    either end: "CP-1 " would be a look-alike of "CP-1" in every list and log."""
    return (isinstance(value, str) and 0 < len(value) <= MAX_CHARGER_ID
            and value.isprintable() and "/" not in value and value == value.strip())


def check_charger_id(value: Any, field: str = "id") -> str:
    """``value`` if it is a valid charger id, else BadRequest naming ``field``."""
    if not valid_charger_id(value):
        raise errors.BadRequest(f"{field} must be 1-{MAX_CHARGER_ID} printable characters "
                                "without '/' and without blanks at either end", field=field)
    return value


def unknown_charger(charger_id: str) -> errors.NotFound:
    return errors.NotFound(f"charger {charger_id} is not known")


def registered():
    """The chargers evedge knows: retired ones (DELETE /api/chargers/<id>/) are gone from
    every list and lookup, their transactions stay (docs/decisions.md D18)."""
    return Charger.select().where(Charger.retired_at.is_null())


def require_known(charger_id: str) -> None:
    """NotFound unless a charger with this id is registered."""
    if not registered().where(Charger.id == charger_id).exists():
        raise unknown_charger(charger_id)
