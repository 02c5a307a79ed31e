"""What remote commands and their answers teach us, kept in the database.

``prepare`` runs before a command is sent (it may fill in ids evedge owns, such
as a new reservationId); ``record`` runs after the charger answered. Both take
the snake_case body and response as plain dicts: no OCPP framing, no Tornado.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

from ..storage.models import Charger, Reservation, database
from ..timeutil import parse_charger_time, utcnow
from . import charging_profiles, local_lists

log = logging.getLogger(__name__)

Body = dict[str, Any]


# --- before sending ------------------------------------------------------------------------

def prepare(action: str, charger_id: str, body: Body) -> Body:
    """Complete a command body before it is sent; returns the body to send."""
    if action == "ReserveNow":
        return _prepare_reservation(charger_id, body)
    if action == "RemoteStartTransaction":
        charging_profiles.check_remote_start(body)
    return body


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
    # The profiles in force (docs/decisions.md D23).
    "SetChargingProfile": charging_profiles.record_set,
    "RemoteStartTransaction": charging_profiles.record_remote_start,
    "ClearChargingProfile": charging_profiles.record_clear,
    "SendLocalList": _send_local_list,
    "GetLocalListVersion": _get_local_list_version,
    # Until the charger's own status notifications arrive.
    "UpdateFirmware": _charger_status("firmware_status", "UpdateRequested"),
    "GetDiagnostics": _charger_status("diagnostics_status", "Requested"),
}
