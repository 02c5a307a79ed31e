"""The chargers evedge knows: pre-registration, approval, labels and passwords.

Admission itself (who may connect) happens in ``charging.admit_charger`` on
the hot path; this module is what an admin changes through the API.
"""

from __future__ import annotations

import json
from typing import Any

import peewee

from .. import errors
from ..storage.models import REGISTRATION_STATUSES, Charger, Reservation
from ..timeutil import to_rfc3339, utcnow
from .charger_ids import check_charger_id, unknown_charger
from .charging_profiles import profiles_in_force
from .command_effects import stored_configuration

MIN_PASSWORD, MAX_PASSWORD = 8, 64
_TEXT_LIMITS = {"label": 100, "location": 200}


def _text(body: dict[str, Any], name: str) -> str | None:
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, str) or len(value) > _TEXT_LIMITS[name]:
        raise errors.BadRequest(f"{name} must be a string of at most {_TEXT_LIMITS[name]} "
                                "characters", field=name)
    return value


def _status(body: dict[str, Any]) -> str | None:
    if "registration_status" not in body:
        return None
    value = body["registration_status"]
    if value not in REGISTRATION_STATUSES:
        raise errors.BadRequest(f"registration_status must be one of "
                                f"{', '.join(REGISTRATION_STATUSES)}", field="registration_status")
    return value


def password_change(body: dict[str, Any]) -> tuple[bool, str | None]:
    """(whether the body changes the password, the new plain password or None to remove it).

    OCPP 1.6 security profile 1 sends it as HTTP Basic auth; it is stored hashed.
    """
    if "password" not in body:
        return False, None
    value = body["password"]
    if value is None:
        return True, None
    if not isinstance(value, str) or not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
        raise errors.BadRequest(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters, "
                                "or null to remove it", field="password")
    return True, value


def create_charger(body: dict[str, Any], password_hash: str | None) -> Charger:
    """Pre-register a charger before it ever connects."""
    charger_id = check_charger_id(body.get("id"))
    fields = {"label": _text(body, "label") or "", "location": _text(body, "location") or "",
              "registration_status": _status(body) or "Accepted",
              "password_hash": password_hash}
    try:
        return Charger.create(id=charger_id, **fields)
    except peewee.IntegrityError:
        raise errors.Conflict(f"charger {charger_id} already exists", field="id") from None


def update_charger(charger_id: str, body: dict[str, Any], password_hash: str | None,
                   password_changed: bool) -> Charger:
    charger = Charger.get_or_none(Charger.id == charger_id)
    if charger is None:
        raise unknown_charger(charger_id)
    known = {"label", "location", "registration_status", "password"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise errors.BadRequest(f"{unknown[0]} cannot be changed here", field=unknown[0])
    for name in ("label", "location"):
        value = _text(body, name)
        if value is not None:
            setattr(charger, name, value)
    status = _status(body)
    if status is not None:
        charger.registration_status = status
    if password_changed:
        charger.password_hash = password_hash
    charger.save()
    return charger


def charger_extras(charger_id: str) -> dict[str, Any]:
    """What commands taught us about a charger: configuration, reservations, the charging
    profiles in force (docs/decisions.md D19)."""
    charger = Charger.get_by_id(charger_id)
    now = utcnow()
    reservations = (Reservation.select()
                    .where(Reservation.charger == charger_id,
                           Reservation.status.in_(("Requested", "Accepted")),
                           Reservation.expiry_date > now)
                    .order_by(Reservation.id))
    profiles = profiles_in_force(charger_id, now)
    return {
        "configuration": stored_configuration(charger),
        "local_list_version": charger.local_list_version,
        "reservations": [{
            "reservation_id": r.id, "connector_id": r.connector_id, "id_tag": r.id_tag,
            "expiry_date": to_rfc3339(r.expiry_date), "status": r.status,
        } for r in reservations],
        "charging_profiles": [{
            "charging_profile_id": p.profile_id, "connector_id": p.connector_id,
            "stack_level": p.stack_level, "purpose": p.purpose,
            "transaction_id": p.transaction_id,
            "profile": json.loads(p.profile), "sent_at": to_rfc3339(p.sent_at),
        } for p in profiles],
    }
