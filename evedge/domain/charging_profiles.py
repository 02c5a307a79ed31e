"""The charging profiles in force on a charger, as its answers tell evedge (OCPP 1.6 §3.13,
§5.5, §5.16; docs/decisions.md D23).

``command_effects`` hands the accepted SetChargingProfile, RemoteStartTransaction and
ClearChargingProfile answers here; ``charging`` links a TxProfile to the transaction that
starts and ends it with its transaction (``sql.attach_tx_profile``, ``sql.end_tx_profiles``,
on the hot path). One row per profile in force: what was sent is in the command log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from .. import errors
from ..storage.models import ChargingProfileRecord, Transaction
from ..timeutil import parse_charger_time

log = logging.getLogger(__name__)

Body = dict[str, Any]
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


def record_set(charger_id: str, body: Body, response: Body) -> None:
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


def record_remote_start(charger_id: str, body: Body, response: Body) -> None:
    """The TxProfile of a remote start belongs to the transaction that starts: it is
    attached by StartTransaction (``sql.attach_tx_profile``)."""
    if body.get("charging_profile") and response["status"] == "Accepted":
        _install_profile(charger_id, body.get("connector_id") or 0, body["charging_profile"],
                         None)


def record_clear(charger_id: str, body: Body, response: Body) -> None:
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


def check_remote_start(body: Body) -> None:
    """OCPP 1.6 §5.11: a chargingProfile in RemoteStartTransaction MUST be a TxProfile."""
    profile = body.get("charging_profile")
    if profile is not None and profile.get("charging_profile_purpose") != "TxProfile":
        raise errors.BadRequest("a charging_profile of remote-start must have "
                                "charging_profile_purpose TxProfile (OCPP 1.6 §5.11)",
                                field="charging_profile.charging_profile_purpose")
