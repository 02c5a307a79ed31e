"""Commissioning: the simulated chargers the dashboard starts (the original system's
``/ui/run-simulator/`` and ``/ui/stop-simulator/``, and ``/api/simulators/``), and the
rehearsals a technician runs on them (``/ui/simulators/<charger_id>/<action>/``)."""

from __future__ import annotations

from .. import commissioning, errors, rehearsal
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


class SimulatorActionHandler(ApiHandler):
    permissions = {"POST": "operator"}

    async def post(self, charger_id: str, action: str) -> None:
        """Make a running simulated charger do what a technician rehearses: plug a car in or
        out, swipe a tag, fault or clear a fault, drop off the network or come back."""
        self.send_json(await self.services.simulators.act(charger_id, action, self.body))


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
    (r"/ui/simulators/([^/]+)/(%s)/" % "|".join(rehearsal.ACTIONS), SimulatorActionHandler),
]
