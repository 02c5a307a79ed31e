"""The chargers evedge knows: pre-registration, approval, labels and passwords.

Admission itself (who may connect) happens in ``charging.admit_charger`` on
the hot path; this module is what an admin changes through the API.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Collection

import peewee

from .. import errors
from ..storage.models import (REGISTRATION_STATUSES, Charger, ChargerRepair,
                              ChargingProfileRecord, Connector, LocalListEntry, Reservation,
                              Transaction, database)
from ..timeutil import to_rfc3339, utcnow
from . import charging
from .charger_ids import check_charger_id, registered, unknown_charger
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
    with database.atomic():
        existing = Charger.get_or_none(Charger.id == charger_id)
        if existing is None:
            try:
                return Charger.create(id=charger_id, **fields)
            except peewee.IntegrityError:
                raise errors.Conflict(f"charger {charger_id} already exists",
                                      field="id") from None
        if existing.retired_at is None:
            raise errors.Conflict(f"charger {charger_id} already exists", field="id")
        # A retired charger's id registered again: a new charger, the old one's
        # transactions still under the id.
        Charger.update(**fields, **_AS_NEW, created_at=utcnow()).where(
            Charger.id == charger_id).execute()
        return Charger.get_by_id(charger_id)


# What a retired charger's row forgets when its id is registered again.
_AS_NEW = {"retired_at": None, "configuration": "", "local_list_version": None,
           "firmware_status": "", "diagnostics_status": "", "simulated": False}


def without_password() -> list[str]:
    """Ids of the registered real chargers anyone may connect as (no HTTP Basic password)."""
    return [row.id for row in registered().where(
        Charger.password_hash.is_null(), Charger.simulated == False).order_by(  # noqa: E712
        Charger.id)]


def claim_for_simulator(charger_id: str, registration_status: str) -> None:
    """Register ``charger_id`` as a simulator's (``simulated``), unless a real charger is
    registered with it: a simulator squatting an offline charger's id would displace it when
    it comes back, and the two would take turns (409)."""
    with database.atomic():
        existing = registered().where(Charger.id == charger_id).first()
        if existing is not None:
            if not existing.simulated:
                raise errors.Conflict(f"{charger_id} is a registered charger; give the "
                                      "simulator an id of its own", field="charger_id")
            return
        Charger.insert(id=charger_id, registration_status=registration_status,
                       simulated=True, created_at=utcnow()).on_conflict(
            conflict_target=[Charger.id],
            update={Charger.registration_status: registration_status, Charger.simulated: True,
                    Charger.retired_at: None, Charger.label: "", Charger.location: "",
                    Charger.password_hash: None, Charger.configuration: ""}).execute()


def retire_charger(charger_id: str) -> charging.Closed:
    """DELETE /api/chargers/<id>/: the charger is gone from every list and lookup, and
    may no longer connect but as an unknown charger (the admission policy decides); its
    transactions, meter samples and logs stay. Its open transactions are closed as
    inferred; its connectors, reservations, profiles and local list are dropped. The
    caller checks that it is not connected. Returns the transactions closed."""
    if not registered().where(Charger.id == charger_id).exists():
        raise unknown_charger(charger_id)
    now = utcnow()
    with database.atomic():
        closed = charging.close_orphans(charger_id, None, "charger retired", now)
        for model in (Connector, Reservation, ChargingProfileRecord, LocalListEntry,
                      ChargerRepair):
            model.delete().where(model.charger == charger_id).execute()
        Charger.update(retired_at=now, password_hash=None).where(
            Charger.id == charger_id).execute()
    return [(charger_id, transaction_id) for transaction_id in closed]


def update_charger(charger_id: str, body: dict[str, Any], password_hash: str | None,
                   password_changed: bool) -> Charger:
    charger = registered().where(Charger.id == charger_id).first()
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


def set_password_hash(charger_id: str, password_hash: str) -> None:
    """The charger's HTTP Basic password becomes the one ``password_hash`` is made from
    (an AuthorizationKey it accepted)."""
    Charger.update(password_hash=password_hash).where(Charger.id == charger_id).execute()


def forget_unapproved(seen_before: dt.datetime, connected: Collection[str]) -> list[str]:
    """Chargers that registered themselves as Pending (admission ``pending``), were never
    put in service (no transaction) and have not been seen since ``seen_before``: an
    approval list must not fill up with every id that once knocked (a typo, a neighbour's
    charger, a scan). Deleted outright: there is no history to keep. Returns their ids."""
    last_seen = peewee.fn.COALESCE(Charger.last_seen_at, Charger.created_at)
    candidates = [row.id for row in registered().where(
        Charger.registration_status == "Pending", last_seen < seen_before,
        ~peewee.fn.EXISTS(Transaction.select().where(Transaction.charger == Charger.id)))]
    forgotten = [charger_id for charger_id in candidates if charger_id not in connected]
    if forgotten:
        Charger.delete().where(Charger.id.in_(forgotten)).execute()
    return forgotten


def charger_extras(charger_id: str) -> dict[str, Any]:
    """What commands taught us about a charger: configuration, reservations, the charging
    profiles in force (docs/decisions.md D23)."""
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
