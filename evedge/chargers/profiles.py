"""Load management's charging profiles, as OCPP 1.6 smart charging sends them (§3.13, §5.16).

``ProfileSender`` turns a plain order (connector, purpose, limit in A) into a
SetChargingProfile and sends it through ``Commands.send`` (which refuses chargers that are
offline or not Accepted, times out and writes the command log); the answer comes back as
one word, so that load management needs neither ``ocpp`` nor the error classes:

``Accepted``, ``Rejected``, ``NotSupported`` (the status, or a CALLERROR NotSupported or
NotImplemented), ``CallError`` (any other CALLERROR), ``timeout``, ``offline`` and
``pending`` (the charger is not Accepted, D15).

Every profile is Relative with one period from 0 and no duration: in force from whenever
the charger starts it, for good, so a charger clock that is off cannot move it (an
Absolute schedule starting "now" by our clock starts in the future on a charger that is
behind, and limits nothing until then).
"""

from __future__ import annotations

from ocpp.v16 import call

from .. import errors
from .commands import Commands

USERNAME = "load-management"
# Above the dashboard's manual limits (stack level 0, ids 9001 and 9100+): within one
# purpose the highest stack level wins (§3.13.2), so the site's limit holds.
STACK_LEVEL = 1
# One fixed id per purpose and connector: a new limit replaces the old profile (§5.16)
# instead of stacking up to the charger's MaxChargingProfilesInstalled.
PROFILE_IDS = {"ChargePointMaxProfile": 7100, "TxDefaultProfile": 7200, "TxProfile": 7300}
TX_PROFILE, TX_DEFAULT_PROFILE, CHARGE_POINT_MAX = ("TxProfile", "TxDefaultProfile",
                                                    "ChargePointMaxProfile")
_NOT_SUPPORTED_CODES = ("NotSupported", "NotImplemented")


def profile_id(purpose: str, connector_id: int) -> int:
    return PROFILE_IDS[purpose] + (0 if purpose == CHARGE_POINT_MAX else connector_id)


def charging_profile(purpose: str, connector_id: int, limit_a: float,
                     number_phases: int | None = None,
                     transaction_id: int | None = None) -> dict:
    """The csChargingProfiles of one limit (snake case, as the library takes it).

    The limit is rounded to one decimal: the 1.6 schema says ``multipleOf: 0.1``; the
    library validates the JSON it writes with floats read back as Decimal, so 6.2 passes
    (docs/library-notes.md §6). (A Decimal itself it cannot write.)
    """
    period = {"start_period": 0, "limit": round(limit_a, 1)}
    if number_phases is not None:
        period["number_phases"] = number_phases
    profile = {
        "charging_profile_id": profile_id(purpose, connector_id),
        "stack_level": STACK_LEVEL,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Relative",
        "charging_schedule": {"charging_rate_unit": "A",
                              "charging_schedule_period": [period]},
    }
    if transaction_id is not None:
        profile["transaction_id"] = transaction_id
    return profile


class ProfileSender:
    """``await sender.set(charger_id, ...)`` / ``await sender.clear(charger_id)``: one word."""

    def __init__(self, commands: Commands, username: str = USERNAME):
        self._commands = commands
        self._username = username

    async def set(self, charger_id: str, connector_id: int, purpose: str, limit_a: float,
                  number_phases: int | None = None, transaction_id: int | None = None) -> str:
        payload = call.SetChargingProfile(
            connector_id=connector_id,
            cs_charging_profiles=charging_profile(purpose, connector_id, limit_a,
                                                  number_phases, transaction_id))
        return await self._send(charger_id, payload)

    async def clear(self, charger_id: str) -> str:
        """ClearChargingProfile of every profile at load management's stack level (§5.5:
        only the criteria given must match), whatever connector or purpose."""
        return await self._send(charger_id, call.ClearChargingProfile(stack_level=STACK_LEVEL))

    async def _send(self, charger_id: str, payload: object) -> str:
        try:
            result = await self._commands.send(charger_id, payload, username=self._username,
                                               batched_audit=True)
        except errors.ChargerCallError as exc:
            return "NotSupported" if exc.extra.get("code") in _NOT_SUPPORTED_CODES \
                else "CallError"
        except errors.ChargerTimeout:
            return "timeout"
        except errors.ChargerOffline:
            return "offline"
        except errors.ChargerNotAccepted:
            return "pending"
        except errors.NotFound:
            return "offline"  # the charger was deleted meanwhile
        except errors.EvedgeError:
            return "CallError"
        return str(result.status)
