"""Commissioning rehearsals: what a technician makes a running simulated charger do from the
dashboard (``POST /ui/simulators/<charger_id>/<action>/``), checked field by field.

Each action takes a small JSON body, answers 400 naming the field for a bad one and 409 when
it does not apply to the charger now (``simulation.rehearsal.NotNow``, whose text says why),
and calls one public method of ``SimulatedCharger`` (``simulation/rehearsal.py``), which sends
what a real charger would. ``SimulatorFleet.act`` finds the simulator and answers with its
state after the action.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from . import errors
from .simulation.charger import SimulatedCharger
from .simulation.rehearsal import FAULT_CODES, NotNow

ID_TAG_LENGTH = 20        # IdToken is a CiString20 (OCPP 1.6 §7.28)
INFO_LENGTH = 50          # StatusNotification's info is a CiString50
OFFLINE_SECONDS = (1, 86400)  # up to a day: long enough to rehearse orphan_timeout's default

Body = dict[str, Any]
Done = dict[str, Any]  # what the action adds to the answer (connector_id, authorization, ...)


@dataclass(frozen=True)
class Action:
    fields: frozenset[str]
    run: Callable[[SimulatedCharger, Body], Awaitable[Done]]


# --- the fields --------------------------------------------------------------------------------

def connector_field(body: Body, charger: SimulatedCharger, *, whole: bool = False) -> int:
    """``connector_id``: one of the charger's connectors (0, the whole charger, with whole)."""
    lowest, highest = (0 if whole else 1), len(charger.connectors) - 1
    value = body.get("connector_id")
    if value is None:
        raise errors.BadRequest("connector_id is required", field="connector_id")
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value != int(value) or not lowest <= value <= highest:
        raise errors.BadRequest(f"connector_id must be a whole number from {lowest} to "
                                f"{highest} ({charger.id} has {highest} connectors)",
                                field="connector_id")
    return int(value)


def text_field(body: Body, name: str, longest: int, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= longest:
        raise errors.BadRequest(f"{name} must be text of 1 to {longest} characters", field=name)
    return value


def error_code_field(body: Body) -> str:
    value = body.get("error_code")
    if value not in FAULT_CODES:
        raise errors.BadRequest("error_code must be one of " + ", ".join(sorted(FAULT_CODES)) +
                                " (ChargePointErrorCode, §7.6; NoError is no fault)",
                                field="error_code")
    return value


def seconds_field(body: Body) -> float | None:
    """``seconds`` offline; absent or null: until go-online."""
    value = body.get("seconds")
    if value is None:
        return None
    low, high = OFFLINE_SECONDS
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not low <= value <= high:
        raise errors.BadRequest(f"seconds must be a number from {low} to {high}, or null to "
                                "stay offline until go-online", field="seconds")
    return float(value)


def flag_field(body: Body, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise errors.BadRequest(f"{name} must be true or false", field=name)
    return value


# --- the actions -------------------------------------------------------------------------------

async def _plug_in(charger: SimulatedCharger, body: Body) -> Done:
    connector_id = connector_field(body, charger)
    await charger.plug_in(connector_id)
    return {"connector_id": connector_id}


async def _plug_out(charger: SimulatedCharger, body: Body) -> Done:
    connector_id = connector_field(body, charger)
    await charger.plug_out(connector_id)
    return {"connector_id": connector_id}


async def _swipe(charger: SimulatedCharger, body: Body) -> Done:
    connector_id = connector_field(body, charger)
    id_tag = text_field(body, "id_tag", ID_TAG_LENGTH, required=True)
    swiped = await charger.swipe(connector_id, id_tag)
    return {"connector_id": connector_id, "authorization": swiped.authorization,
            "transaction_id": swiped.transaction_id, "stopped": swiped.stopped}


async def _fault(charger: SimulatedCharger, body: Body) -> Done:
    connector_id = connector_field(body, charger, whole=True)
    error_code = error_code_field(body)
    info = text_field(body, "info", INFO_LENGTH, required=False)
    await charger.inject_fault(connector_id, error_code, info)
    return {"connector_id": connector_id}


async def _clear_fault(charger: SimulatedCharger, body: Body) -> Done:
    connector_id = connector_field(body, charger, whole=True)
    await charger.clear_fault(connector_id)
    return {"connector_id": connector_id}


async def _go_offline(charger: SimulatedCharger, body: Body) -> Done:
    seconds = seconds_field(body)
    await charger.go_offline(seconds, reboot=flag_field(body, "reboot"))
    return {}


async def _go_online(charger: SimulatedCharger, body: Body) -> Done:
    await charger.go_online()
    return {}


ACTIONS: dict[str, Action] = {
    "plug-in": Action(frozenset({"connector_id"}), _plug_in),
    "plug-out": Action(frozenset({"connector_id"}), _plug_out),
    "swipe": Action(frozenset({"connector_id", "id_tag"}), _swipe),
    "fault": Action(frozenset({"connector_id", "error_code", "info"}), _fault),
    "clear-fault": Action(frozenset({"connector_id"}), _clear_fault),
    "go-offline": Action(frozenset({"seconds", "reboot"}), _go_offline),
    "go-online": Action(frozenset(), _go_online),
}
NOTHING_DONE: Done = {"connector_id": None, "authorization": None, "transaction_id": None,
                      "stopped": False}


async def perform(charger: SimulatedCharger, action: str, body: Body) -> Done:
    """Run one action on ``charger``: 400 naming the field, 409 when it does not apply now.
    Returns the answer's action fields (NOTHING_DONE's keys, always all of them)."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise errors.NotFound(f"no simulator action {action!r}; the actions are "
                              + ", ".join(ACTIONS))
    unknown = sorted(set(body) - spec.fields)
    if unknown:
        raise errors.BadRequest(f"{unknown[0]} is not a field of {action}", field=unknown[0])
    try:
        done = await spec.run(charger, body)
    except NotNow as exc:
        raise errors.Conflict(str(exc)) from None
    return {**NOTHING_DONE, **done}
