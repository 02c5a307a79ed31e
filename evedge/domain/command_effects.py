"""What remote commands and their answers teach us, kept in the database.

``prepare`` runs before a command is sent (it may fill in ids evedge owns, such
as a new reservationId); ``record`` runs after the charger answered. Both take
the snake_case body and response as plain dicts: no OCPP framing, no Tornado.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, Callable

from .. import errors
from ..storage.models import Charger, ChargingProfileRecord, Reservation, Transaction, database
from ..timeutil import parse_charger_time, utcnow
from . import local_lists

log = logging.getLogger(__name__)

Body = dict[str, Any]


# --- before sending ------------------------------------------------------------------------

def prepare(action: str, charger_id: str, body: Body) -> Body:
    """Complete a command body before it is sent; returns the body to send."""
    if action == "ReserveNow":
        return _prepare_reservation(charger_id, body)
    if action == "RemoteStartTransaction":
        _check_remote_start_profile(body)
    return body


def _check_remote_start_profile(body: Body) -> None:
    """OCPP 1.6 §5.11: a chargingProfile in RemoteStartTransaction MUST be a TxProfile."""
    profile = body.get("charging_profile")
    if profile is not None and profile.get("charging_profile_purpose") != "TxProfile":
        raise errors.BadRequest("a charging_profile of remote-start must have "
                                "charging_profile_purpose TxProfile (OCPP 1.6 §5.11)",
                                field="charging_profile.charging_profile_purpose")


def _prepare_reservation(charger_id: str, body: Body) -> Body:
    """evedge numbers reservations itself unless the caller chose an id (OCPP 1.6 §5.13:
    a ReserveNow with a known reservationId replaces that reservation)."""
    fields = dict(charger=charger_id, connector_id=body["connector_id"], id_tag=body["id_tag"],
                  parent_id_tag=body.get("parent_id_tag"),
                  expiry_date=parse_charger_time(body["expiry_date"]), status="Requested",
                  updated_at=utcnow())
    with database.atomic():
        if body.get("reservation_id") is None:
            reservation = Reservation.create(**fields)
            return {**body, "reservation_id": reservation.id}
        updated = Reservation.update(**fields).where(Reservation.id == body["reservation_id"])
        if not updated.execute():
            Reservation.create(id=body["reservation_id"], **fields)
    return body


def abandon(action: str, body: Body, outcome: str) -> None:
    """The command got no usable answer (timeout, disconnect, CALLERROR)."""
    if action == "ReserveNow" and body.get("reservation_id") is not None:
        Reservation.update(status="NoAnswer" if outcome != "callerror" else "Error",
                           updated_at=utcnow()).where(
            Reservation.id == body["reservation_id"], Reservation.status == "Requested").execute()


# --- after the answer ------------------------------------------------------------------------

def record(action: str, charger_id: str, body: Body, response: Body) -> None:
    """Keep what the charger's answer to ``action`` tells us."""
    recorder = _RECORDERS.get(action)
    if recorder is not None:
        with database.atomic():
            recorder(charger_id, body, response)


# Configuration keys the 1.6 security whitepaper makes write-only: a charger must not give
# them back, and evedge never shows them either (charger detail, command log, logs).
WRITE_ONLY_KEYS = frozenset({"AuthorizationKey"})
HIDDEN = "(write-only: not kept)"


def redacted(action: str, body: Body) -> Body:
    """``body`` (a request or an answer) with the values of write-only keys hidden, as the
    command log keeps it."""
    if action == "ChangeConfiguration" and body.get("key") in WRITE_ONLY_KEYS:
        return {**body, "value": HIDDEN}
    if action == "GetConfiguration" and body.get("configuration_key"):
        return {**body, "configuration_key": [
            {**item, "value": HIDDEN} if item.get("key") in WRITE_ONLY_KEYS else item
            for item in body["configuration_key"]]}
    return body


def _configuration(charger_id: str, body: Body, response: Body) -> None:
    charger = Charger.get_by_id(charger_id)
    known = {} if not body.get("key") else stored_configuration(charger)
    for item in response.get("configuration_key") or ():
        known[item["key"]] = _entry(item["key"], item.get("value"), item.get("readonly"))
    for key in response.get("unknown_key") or ():
        known.pop(key, None)
    charger.configuration = json.dumps(known, sort_keys=True)
    charger.save(only=[Charger.configuration])


def _change_configuration(charger_id: str, body: Body, response: Body) -> None:
    if response.get("status") not in ("Accepted", "RebootRequired"):
        return
    charger = Charger.get_by_id(charger_id)
    known = stored_configuration(charger)
    entry = known.get(body["key"], {"readonly": False})
    entry.update(_entry(body["key"], body["value"], entry.get("readonly")))
    if response["status"] == "RebootRequired":
        entry["reboot_required"] = True
    known[body["key"]] = entry
    charger.configuration = json.dumps(known, sort_keys=True)
    charger.save(only=[Charger.configuration])


def _entry(key: str, value: Any, readonly: Any) -> dict[str, Any]:
    if key in WRITE_ONLY_KEYS:
        return {"value": None, "readonly": readonly, "write_only": True}
    return {"value": value, "readonly": readonly}


def stored_configuration(charger: Charger) -> dict[str, Any]:
    try:
        return json.loads(charger.configuration) if charger.configuration else {}
    except ValueError:
        return {}


def _reserve_now(charger_id: str, body: Body, response: Body) -> None:
    Reservation.update(status=response["status"], updated_at=utcnow()).where(
        Reservation.id == body["reservation_id"]).execute()


def _cancel_reservation(charger_id: str, body: Body, response: Body) -> None:
    if response["status"] == "Accepted":
        Reservation.update(status="Cancelled", updated_at=utcnow()).where(
            Reservation.id == body["reservation_id"]).execute()


# --- charging profiles: what is in force on the charger (docs/decisions.md D19) -------------

Profiles = ChargingProfileRecord
IN_FORCE = "Accepted"
# A TxProfile waiting for its transaction (RemoteStartTransaction) is dropped when none
# started within this time: the charger gives up after its ConnectionTimeOut (seconds to a
# few minutes) and discards the profile with the request.
UNSTARTED_TX_PROFILE = dt.timedelta(minutes=10)


class _Over:
    """A TxProfile whose transaction is not running: not in force."""


OVER = _Over()


def _install_profile(charger_id: str, connector_id: int, profile: Body,
                     transaction_id: int | None) -> None:
    """OCPP 1.6 §5.16.3: a profile with the same chargingProfileId, or the same stackLevel
    and chargingProfilePurpose on the same connector, replaces the one the charger has."""
    same_slot = ((Profiles.connector_id == connector_id)
                 & (Profiles.stack_level == profile["stack_level"])
                 & (Profiles.purpose == profile["charging_profile_purpose"]))
    Profiles.delete().where(Profiles.charger == charger_id,
                            (Profiles.profile_id == profile["charging_profile_id"])
                            | same_slot).execute()
    Profiles.create(
        charger=charger_id, connector_id=connector_id,
        profile_id=profile["charging_profile_id"], stack_level=profile["stack_level"],
        purpose=profile["charging_profile_purpose"],
        profile=json.dumps(profile, sort_keys=True, default=str), status=IN_FORCE,
        transaction_id=transaction_id)


def _tx_profile_transaction(charger_id: str, connector_id: int,
                            named: int | None) -> int | None | _Over:
    """The transaction a TxProfile belongs to: the one it names (§5.16: the Central System
    SHALL include it), else the one running on its connector, else None: it waits for
    the next transaction there. OVER when the named one is not this charger's running one."""
    if named is not None:
        running = (Transaction.select(Transaction.id)
                   .where(Transaction.id == named, Transaction.charger == charger_id,
                          Transaction.stop_received_at.is_null()).exists())
        return named if running else OVER
    found = (Transaction.select(Transaction.id)
             .where(Transaction.charger == charger_id, Transaction.connector_id == connector_id,
                    Transaction.stop_received_at.is_null())
             .order_by(Transaction.id.desc()).first())
    return None if found is None else found.id


def _set_charging_profile(charger_id: str, body: Body, response: Body) -> None:
    if response["status"] != "Accepted":
        return   # Rejected, NotSupported: nothing changed on the charger
    profile, connector_id = body["cs_charging_profiles"], body["connector_id"]
    transaction_id = None
    if profile["charging_profile_purpose"] == "TxProfile":
        transaction_id = _tx_profile_transaction(charger_id, connector_id,
                                                 profile.get("transaction_id"))
        if transaction_id is OVER:
            log.info("%s accepted TxProfile %s for transaction %s, which is not running: "
                     "not kept", charger_id, profile["charging_profile_id"],
                     profile.get("transaction_id"))
            return
    _install_profile(charger_id, connector_id, profile, transaction_id)


def _remote_start(charger_id: str, body: Body, response: Body) -> None:
    """The TxProfile of a remote start belongs to the transaction that starts: it is
    attached by StartTransaction (``sql.attach_tx_profile``)."""
    if body.get("charging_profile") and response["status"] == "Accepted":
        _install_profile(charger_id, body.get("connector_id") or 0, body["charging_profile"],
                         None)


def _clear_charging_profile(charger_id: str, body: Body, response: Body) -> None:
    """OCPP 1.6 §5.5: either the profile with ``id``, or every profile matching all of the
    connectorId, chargingProfilePurpose and stackLevel given; none given: all of them."""
    if response["status"] != "Accepted":
        return   # Unknown: the charger found nothing to clear
    query = Profiles.delete().where(Profiles.charger == charger_id)
    if body.get("id") is not None:
        query = query.where(Profiles.profile_id == body["id"])
    else:
        criteria = {"connector_id": Profiles.connector_id,
                    "charging_profile_purpose": Profiles.purpose,
                    "stack_level": Profiles.stack_level}
        for key, column in criteria.items():
            if body.get(key) is not None:
                query = query.where(column == body[key])
    query.execute()


def drop_unstarted_tx_profiles(now: dt.datetime) -> int:
    """TxProfiles whose transaction never started: the charger discarded them."""
    return (Profiles.delete()
            .where(Profiles.purpose == "TxProfile", Profiles.transaction_id.is_null(),
                   Profiles.sent_at < now - UNSTARTED_TX_PROFILE).execute())


def profiles_in_force(charger_id: str, now: dt.datetime) -> list[ChargingProfileRecord]:
    """The profiles installed on the charger, oldest first, without those whose validTo
    has passed (the charger no longer applies them)."""
    rows = (Profiles.select()
            .where(Profiles.charger == charger_id, Profiles.status == IN_FORCE)
            .order_by(Profiles.id))
    return [row for row in rows if not _expired(row.profile, now)]


def _expired(profile_json: str, now: dt.datetime) -> bool:
    try:
        valid_to = json.loads(profile_json).get("valid_to")
    except (ValueError, AttributeError):
        return False
    until = parse_charger_time(valid_to) if valid_to else None
    return until is not None and until <= now


def _send_local_list(charger_id: str, body: Body, response: Body) -> None:
    if response["status"] == "Accepted":
        local_lists.apply_local_list(local_lists.LocalListUpdate(
            charger_id, body["list_version"], str(body["update_type"]).lower(),
            body.get("local_authorization_list") or []))


def _get_local_list_version(charger_id: str, body: Body, response: Body) -> None:
    Charger.update(local_list_version=response["list_version"]).where(
        Charger.id == charger_id).execute()


def _charger_status(field: str, value: str) -> Callable[[str, Body, Body], None]:
    def recorder(charger_id: str, body: Body, response: Body) -> None:
        Charger.update({getattr(Charger, field): value,
                        getattr(Charger, field + "_at"): utcnow()}).where(
            Charger.id == charger_id).execute()
    return recorder


_RECORDERS: dict[str, Callable[[str, Body, Body], None]] = {
    "GetConfiguration": _configuration,
    "ChangeConfiguration": _change_configuration,
    "ReserveNow": _reserve_now,
    "CancelReservation": _cancel_reservation,
    "SetChargingProfile": _set_charging_profile,
    "RemoteStartTransaction": _remote_start,
    "ClearChargingProfile": _clear_charging_profile,
    "SendLocalList": _send_local_list,
    "GetLocalListVersion": _get_local_list_version,
    # Until the charger's own status notifications arrive.
    "UpdateFirmware": _charger_status("firmware_status", "UpdateRequested"),
    "GetDiagnostics": _charger_status("diagnostics_status", "Requested"),
}
