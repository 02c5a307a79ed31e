"""Commissioning: the simulated chargers the dashboard starts (the original system's
``/ui/run-simulator/`` and ``/ui/stop-simulator/``, and ``/api/simulators/``)."""

from __future__ import annotations

from .. import commissioning, errors
from .base import ApiHandler

SIMULATOR_FIELDS = {"charger_id", "password", *commissioning.OPTIONS}


class RunSimulatorHandler(ApiHandler):
    permissions = {"POST": "operator"}

    def post(self) -> None:
        """Start a simulated charger that connects to this box like a real one."""
        unknown = sorted(set(self.body) - SIMULATOR_FIELDS)
        if unknown:
            raise errors.BadRequest(f"{unknown[0]} is not a simulator option", field=unknown[0])
        options = commissioning.clean_options(self.body)
        self.send_json(self.services.simulators.start(self.body.get("charger_id"), **options))


class StopSimulatorHandler(ApiHandler):
    permissions = {"POST": "operator"}

    async def post(self) -> None:
        """Stop a simulated charger: it ends its transactions and disconnects."""
        self.send_json(await self.services.simulators.stop(self.body.get("charger_id")))


class SimulatorsHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self) -> None:
        """The simulated chargers running now, and how many may run at once."""
        fleet = self.services.simulators
        self.send_json({"items": fleet.running(), "limit": fleet.limit})


ROUTES = [
    (r"/ui/run-simulator/", RunSimulatorHandler),
    (r"/ui/stop-simulator/", StopSimulatorHandler),
    (r"/api/simulators/", SimulatorsHandler),
]
