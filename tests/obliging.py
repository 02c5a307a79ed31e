"""A library charger (``ocpp.v16.ChargePoint``) that answers what these tests send it as a
real charger would, keeps what it received, and sends the BootNotification a
TriggerMessage asks for on the same connection (OCPP 1.6 §5.17: after its answer)."""

from __future__ import annotations

import asyncio

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

BOOT = call.BootNotification(charge_point_vendor="Acme", charge_point_model="X1")


class Obliging(ChargePoint):
    """Accepts profiles, remote starts, configuration changes and triggers; ``answers`` may
    name another status per action (e.g. ``{"SetChargingProfile": "Rejected"}``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict]] = []
        self.answers: dict[str, str] = {}
        self.triggered_boots: asyncio.Queue = asyncio.Queue()

    def _answer(self, action: str, kwargs: dict) -> str:
        self.received.append((action, kwargs))
        return self.answers.get(action, "Accepted")

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, **kwargs):
        return call_result.SetChargingProfile(status=self._answer("SetChargingProfile", kwargs))

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kwargs):
        return call_result.ClearChargingProfile(
            status=self._answer("ClearChargingProfile", kwargs))

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, **kwargs):
        return call_result.RemoteStartTransaction(
            status=self._answer("RemoteStartTransaction", kwargs))

    @on(Action.change_configuration)
    def on_change_configuration(self, **kwargs):
        return call_result.ChangeConfiguration(
            status=self._answer("ChangeConfiguration", kwargs))

    @on(Action.trigger_message)
    def on_trigger_message(self, **kwargs):
        return call_result.TriggerMessage(status=self._answer("TriggerMessage", kwargs))

    @after(Action.trigger_message)
    async def send_triggered(self, requested_message, **kwargs):
        if requested_message == "BootNotification" and self.answers.get(
                "TriggerMessage", "Accepted") == "Accepted":
            await self.triggered_boots.put(await self.call(BOOT))
