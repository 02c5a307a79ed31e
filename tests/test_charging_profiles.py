"""The charging profiles in force on a charger (OCPP 1.6 §3.13, §5.5, §5.16; docs/decisions.md
D23): through the REST commands to a library charger over a real socket, and the
replace/clear rules against a reference model on a real SQLite file."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from ocpp.v16 import call

from evedge.domain import charging_profiles, command_effects
from evedge.storage import database as evedge_db
from evedge.storage.models import Charger, ChargingProfileRecord, IdTag

from conftest import make_config
from obliging import BOOT, Obliging

T0 = "2026-11-20T10:00:00Z"


def profile(profile_id: int, stack: int = 0, purpose: str = "TxDefaultProfile",
            limit: float = 16.0, **extra) -> dict:
    return {"charging_profile_id": profile_id, "stack_level": stack,
            "charging_profile_purpose": purpose, "charging_profile_kind": "Absolute",
            "charging_schedule": {"charging_rate_unit": "A", "start_schedule": T0,
                                  "charging_schedule_period": [{"start_period": 0,
                                                                "limit": limit}]},
            **extra}


@pytest.fixture
async def admin(api) -> str:
    IdTag.create(id_tag="T1")
    return (await api.register())["access"]


@pytest.fixture
def operate(api, admin):
    """``await operate(slug, body)`` on CP-SC -> the charger's answer (asserting a 200)."""
    async def send(slug: str, body: dict, status: int = 200) -> dict:
        response = await api.post(f"/api/chargers/CP-SC/{slug}/", body, token=admin)
        assert response.status == status, response.body
        return response.body
    return send


@pytest.fixture
def in_force(api, admin):
    """``await in_force()`` -> {charging_profile_id: (connector, stack, purpose, tx, limit)}."""
    async def read() -> dict:
        body = (await api.get("/api/chargers/CP-SC/", token=admin)).body
        return {p["charging_profile_id"]: (
            p["connector_id"], p["stack_level"], p["purpose"], p["transaction_id"],
            p["profile"]["charging_schedule"]["charging_schedule_period"][0]["limit"])
            for p in body["charging_profiles"]}
    return read


async def set_profile(operate, connector: int, body: dict) -> None:
    await operate("set-charging-profile", {"connector_id": connector,
                                           "cs_charging_profiles": body})


async def test_a_profile_replaces_the_one_with_its_id_or_its_slot(library_charger, operate,
                                                                  in_force):
    async with library_charger("CP-SC", cls=Obliging) as cp:
        await cp.call(BOOT)
        await set_profile(operate, 1, profile(1, stack=0, limit=16))
        await set_profile(operate, 1, profile(1, stack=1, limit=10))    # same id
        assert await in_force() == {1: (1, 1, "TxDefaultProfile", None, 10)}
        await set_profile(operate, 1, profile(2, stack=1, limit=8))     # same slot
        assert await in_force() == {2: (1, 1, "TxDefaultProfile", None, 8)}
        await set_profile(operate, 2, profile(3, stack=1, limit=6))     # another connector
        await set_profile(operate, 1, profile(4, stack=2, limit=4))     # another stack level
        await set_profile(operate, 0, profile(5, purpose="ChargePointMaxProfile", limit=32))
        assert await in_force() == {2: (1, 1, "TxDefaultProfile", None, 8),
                                    3: (2, 1, "TxDefaultProfile", None, 6),
                                    4: (1, 2, "TxDefaultProfile", None, 4),
                                    5: (0, 0, "ChargePointMaxProfile", None, 32)}
        # An answer other than Accepted changed nothing on the charger.
        cp.answers["SetChargingProfile"] = "Rejected"
        await set_profile(operate, 1, profile(2, stack=1, limit=1))
        assert (await in_force())[2][-1] == 8
        # A load manager sending its limit again and again keeps one row, not a pile.
        cp.answers.pop("SetChargingProfile")
        for limit in (12, 13, 14):
            await set_profile(operate, 1, profile(2, stack=1, limit=limit))
        assert (await in_force())[2][-1] == 14
    assert ChargingProfileRecord.select().count() == 4


async def test_clearing_removes_what_the_charger_removed(library_charger, operate, in_force):
    async with library_charger("CP-SC", cls=Obliging) as cp:
        await cp.call(BOOT)
        for connector, body in ((1, profile(1, stack=0)), (1, profile(2, stack=1)),
                                (2, profile(3, stack=1)),
                                (0, profile(4, purpose="ChargePointMaxProfile"))):
            await set_profile(operate, connector, body)
        # §5.5: by id, or by the combination of filters given; none: everything.
        await operate("clear-charging-profile", {"id": 3, "connector_id": 1})
        assert sorted(await in_force()) == [1, 2, 4]
        cp.answers["ClearChargingProfile"] = "Unknown"   # found nothing: nothing changes
        await operate("clear-charging-profile", {"stack_level": 1})
        assert sorted(await in_force()) == [1, 2, 4]
        cp.answers.pop("ClearChargingProfile")
        await operate("clear-charging-profile", {"connector_id": 1, "stack_level": 1,
                                                 "charging_profile_purpose": "TxDefaultProfile"})
        assert sorted(await in_force()) == [1, 4]
        await operate("clear-charging-profile", {"charging_profile_purpose":
                                                 "ChargePointMaxProfile"})
        assert sorted(await in_force()) == [1]
        await set_profile(operate, 2, profile(5))
        await operate("clear-charging-profile", {})
        assert await in_force() == {}


async def test_a_tx_profile_lasts_as_long_as_its_transaction(library_charger, operate, in_force,
                                                             server):
    async with library_charger("CP-SC", cls=Obliging) as cp:
        await cp.call(BOOT)
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="T1",
                                                      meter_start=0, timestamp=T0))
        tx = started.transaction_id
        await set_profile(operate, 1, profile(7, purpose="TxProfile", transaction_id=tx))
        await set_profile(operate, 2, profile(8, purpose="TxProfile", transaction_id=tx + 99))
        assert await in_force() == {7: (1, 0, "TxProfile", tx, 16)}   # 8: no such session
        await cp.call(call.StopTransaction(meter_stop=500, timestamp=T0, transaction_id=tx))
        assert await in_force() == {}
        # One whose StopTransaction was lost ends with the inferred close.
        again = await cp.call(call.StartTransaction(connector_id=1, id_tag="T1",
                                                    meter_start=500, timestamp=T0))
        await set_profile(operate, 1, profile(9, purpose="TxProfile"))   # no transactionId
        assert await in_force() == {9: (1, 0, "TxProfile", again.transaction_id, 16)}
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                              status="Available"))
        assert await in_force() == {}


async def test_a_remote_start_profile_belongs_to_the_transaction_that_starts(
        library_charger, operate, in_force, server, api, admin):
    async with library_charger("CP-SC", cls=Obliging) as cp:
        await cp.call(BOOT)
        body = {"id_tag": "T1", "charging_profile": profile(21, purpose="TxProfile", limit=11)}
        assert (await operate("remote-start", {**body, "connector_id": 2}))["status"] == \
            "Accepted"
        assert await in_force() == {21: (2, 0, "TxProfile", None, 11)}
        started = await cp.call(call.StartTransaction(connector_id=2, id_tag="T1",
                                                      meter_start=0, timestamp=T0))
        assert await in_force() == {21: (2, 0, "TxProfile", started.transaction_id, 11)}
        # Without connectorId the charger chooses: whichever connector starts takes it.
        await operate("remote-start", {"id_tag": "T1", "charging_profile": profile(
            22, stack=1, purpose="TxProfile", limit=9)})
        other = await cp.call(call.StartTransaction(connector_id=1, id_tag="T1",
                                                    meter_start=0, timestamp=T0))
        assert (await in_force())[22] == (1, 1, "TxProfile", other.transaction_id, 9)
        await cp.call(call.StopTransaction(meter_stop=10, timestamp=T0,
                                           transaction_id=started.transaction_id))
        assert sorted(await in_force()) == [22]
        # A remote start that starts nothing: the charger drops the profile, so does evedge.
        await operate("remote-start", {**body, "connector_id": 3})
        assert 21 in await in_force()
        server.services.housekeeping.run(dt.datetime.utcnow() + dt.timedelta(minutes=11))
        await server.services.committer.durable()
        assert sorted(await in_force()) == [22]
        # §5.11: the profile of a remote start MUST be a TxProfile (400, nothing sent).
        refused = await api.post("/api/chargers/CP-SC/remote-start/", {
            "id_tag": "T1", "charging_profile": profile(23)}, token=admin)
        assert refused.status == 400
        assert refused.body["field"] == "charging_profile.charging_profile_purpose"
        assert [a for a, _ in cp.received].count("RemoteStartTransaction") == 3


async def test_a_profile_past_its_valid_to_is_not_in_force(library_charger, operate, in_force):
    async with library_charger("CP-SC", cls=Obliging) as cp:
        await cp.call(BOOT)
        await set_profile(operate, 1, profile(31, valid_to="2020-01-01T00:00:00Z"))
        await set_profile(operate, 1, profile(32, stack=1, valid_to="2099-01-01T00:00:00Z"))
        assert sorted(await in_force()) == [32]


# --- the rules against a reference model -------------------------------------------------------

@pytest.fixture
def opened(tmp_path):
    handle = evedge_db.open_database(make_config(tmp_path))
    Charger.create(id="CP-M")
    yield handle
    evedge_db.close_database()


PURPOSES = ["ChargePointMaxProfile", "TxDefaultProfile"]
small = st.integers(min_value=0, max_value=3)
sets = st.tuples(st.just("set"), small, small, small, st.sampled_from(PURPOSES))
clears = st.tuples(st.just("clear"), st.none() | small, st.none() | small, st.none() | small,
                   st.none() | st.sampled_from(PURPOSES))


def model_set(model: dict, profile_id, connector, stack, purpose) -> None:
    for key, (c, s, p) in list(model.items()):
        if key == profile_id or (c, s, p) == (connector, stack, purpose):
            del model[key]
    model[profile_id] = (connector, stack, purpose)


def model_clear(model: dict, profile_id, connector, stack, purpose) -> None:
    for key, (c, s, p) in list(model.items()):
        if profile_id is not None:
            hit = key == profile_id
        else:
            hit = all(want is None or want == have
                      for want, have in ((connector, c), (stack, s), (purpose, p)))
        if hit:
            del model[key]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(sets | clears, max_size=25))
def test_what_is_kept_is_what_the_charger_holds(opened, operations):
    """After any accepted sequence of SetChargingProfile and ClearChargingProfile, evedge
    keeps exactly the profiles a charger following §5.16.3 and §5.5 holds."""
    ChargingProfileRecord.delete().execute()
    model: dict[int, tuple] = {}
    for kind, first, connector, stack, purpose in operations:
        if kind == "set":
            body = {"connector_id": connector, "cs_charging_profiles": profile(
                first, stack=stack, purpose=purpose)}
            command_effects.record("SetChargingProfile", "CP-M", body, {"status": "Accepted"})
            model_set(model, first, connector, stack, purpose)
        else:
            body = {key: value for key, value in (
                ("id", first), ("connector_id", connector), ("stack_level", stack),
                ("charging_profile_purpose", purpose)) if value is not None}
            command_effects.record("ClearChargingProfile", "CP-M", body, {"status": "Accepted"})
            model_clear(model, first, connector, stack, purpose)
        kept = {p.profile_id: (p.connector_id, p.stack_level, p.purpose)
                for p in charging_profiles.profiles_in_force("CP-M", dt.datetime(2026, 1, 1))}
        assert kept == model
