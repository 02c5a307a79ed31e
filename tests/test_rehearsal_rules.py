"""The rehearsal actions as rules, property-based: whatever a technician clicks, in whatever
order, an action either applies or is refused (NotNow) without changing anything, and each
connector stays in a state a real charger can be in; every request body gets its answer or a
400 naming a field it sent or needs.

The chargers here never connect (no socket is needed for these rules): as while offline, what
they would report is kept for when they are registered. The actions over the real server are
in test_rehearsal_api.py.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evedge import errors, rehearsal
from evedge.simulation.charger import SimulatedCharger
from evedge.simulation.rehearsal import FAULT_CODES, NotNow

pytestmark = pytest.mark.timeout(60)

CONNECTORS = 2
CLICKS = st.lists(st.tuples(st.sampled_from(["plug_in", "plug_out", "swipe", "inject_fault",
                                             "clear_fault"]),
                            st.integers(-1, CONNECTORS + 1)), max_size=25)


def snapshot(charger: SimulatedCharger) -> list[tuple]:
    return [(c.status, c.error_code, c.info, c.plugged_in, c.car is not None, c.transaction,
             c.claimed_by) for c in charger.connectors.values()]


async def click(charger: SimulatedCharger, action: str, connector_id: int) -> None:
    if action == "swipe":
        await charger.swipe(connector_id, "CARD-1")
    elif action == "inject_fault":
        await charger.inject_fault(connector_id, "GroundFailure", "RCD tripped")
    else:
        await getattr(charger, action)(connector_id)


def check_connectors(charger: SimulatedCharger) -> None:
    for connector in charger.connectors.values():
        faulted = connector.status == "Faulted"
        assert faulted == (connector.error_code != "NoError"), connector
        assert (connector.info == "RCD tripped") == faulted, connector
        if connector.connector_id == 0:
            assert connector.status in ("Available", "Faulted") and not connector.plugged_in
        elif not faulted:  # §4.9: a cable in and no session is Preparing, none is Available
            assert connector.status == ("Preparing" if connector.plugged_in else "Available")
        assert connector.plugged_in == (connector.car is not None), connector


async def clicks_on_a_charger(clicks: list[tuple[str, int]]) -> None:
    charger = SimulatedCharger("SIM-P", connectors=CONNECTORS)
    for action, connector_id in clicks:
        before = snapshot(charger)
        lowest = 0 if action in ("inject_fault", "clear_fault") else 1
        try:
            await click(charger, action, connector_id)
        except ValueError:
            assert not lowest <= connector_id <= CONNECTORS
            assert snapshot(charger) == before
            continue
        except NotNow as refusal:
            assert str(refusal) and snapshot(charger) == before
            continue
        assert action != "swipe", "a session started while offline"
        connector = charger.connectors[connector_id]
        if action == "plug_in":
            assert connector.plugged_in and connector.status == "Preparing"
        elif action == "plug_out":
            assert not connector.plugged_in
        elif action == "inject_fault":
            assert (connector.status, connector.error_code) == ("Faulted", "GroundFailure")
        check_connectors(charger)
    assert charger.protocol_errors == []


@settings(max_examples=300, deadline=None)
@given(CLICKS)
def test_any_clicks_apply_or_are_refused_without_a_trace(clicks):
    asyncio.run(clicks_on_a_charger(clicks))


def test_the_clicks_reach_every_outcome():
    """The property's checks can fail: each kind of outcome happens on a plain sequence."""
    async def run() -> SimulatedCharger:
        charger = SimulatedCharger("SIM-P", connectors=CONNECTORS)
        await charger.plug_in(1)
        with pytest.raises(NotNow, match="has a car already"):
            await charger.plug_in(1)
        with pytest.raises(NotNow, match="SIM-P is offline"):
            await charger.swipe(1, "CARD-1")
        with pytest.raises(ValueError, match="connector_id must be from 1 to 2"):
            await charger.plug_out(0)
        await charger.inject_fault(1, "GroundFailure", "RCD tripped")
        await charger.clear_fault(1)
        return charger

    charger = asyncio.run(run())
    assert charger.connectors[1].status == "Preparing" and charger.connectors[1].info is None


JSON = st.recursive(st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats()
                    | st.text(max_size=60) | st.sampled_from(sorted(FAULT_CODES)),
                    lambda inner: st.lists(inner, max_size=3), max_leaves=5)
FIELDS = st.sampled_from(["connector_id", "id_tag", "error_code", "info", "seconds", "reboot",
                          "colour"])
BODIES = st.dictionaries(FIELDS, JSON, max_size=4)


async def perform(action: str, body: dict) -> tuple[dict | None, errors.EvedgeError | None]:
    charger = SimulatedCharger("SIM-P", connectors=CONNECTORS)
    try:
        return await rehearsal.perform(charger, action, body), None
    except errors.EvedgeError as exc:
        return None, exc
    finally:
        await charger.close()


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(rehearsal.ACTIONS)), BODIES)
def test_every_body_is_done_refused_with_a_reason_or_a_400_naming_a_field(action, body):
    done, error = asyncio.run(perform(action, body))
    fields = rehearsal.ACTIONS[action].fields
    if error is None:
        assert set(done) == set(rehearsal.NOTHING_DONE)
        assert set(body) <= fields
    elif isinstance(error, errors.BadRequest):
        assert error.field in fields | set(body), (error.field, error.message)
        assert error.field in error.message
    else:
        assert isinstance(error, errors.Conflict) and error.message, error
