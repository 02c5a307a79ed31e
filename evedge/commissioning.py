"""Simulated chargers run inside evedge, for commissioning from the dashboard.

``SimulatorFleet`` owns them: it is built once in ``services.build_services``,
started and stopped through ``/ui/run-simulator/`` and ``/ui/stop-simulator/``
(``web/commissioning.py``), rehearsed with (``act``: plug in, swipe, fault, go offline; the
actions are in ``rehearsal.py``), and closed with the services. Each simulator is a
``simulation.runner``-style task running a ``SimulatedCharger`` against this
server's own OCPP endpoint over loopback, so it is admitted, authenticated and
recorded exactly like a real charger: what the dashboard shows for it is what a
real one would show.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable

from . import errors, rehearsal
from .config import Config
from .domain import charger_admin
from .domain.charger_ids import check_charger_id
from .simulation.charger import SimulatedCharger
from .simulation.state import Connector

log = logging.getLogger(__name__)

# A depot box has 1-4 GB of RAM and two cores; each simulator is a websocket, a few tasks
# and MeterValues every few seconds. Fifty is plenty for commissioning a site's dashboard
# and leaves the box to the real chargers; load tests use `evedge simulate` from a laptop.
MAX_SIMULATORS = 50
STOP_TIMEOUT = 10.0

# What the dashboard may choose, with (type, low, high). Everything else keeps the
# simulator's defaults (simulation/charger.py).
OPTIONS: dict[str, tuple[type, float, float]] = {
    "connectors": (int, 1, 8),
    "power_w": (float, 100, 350_000),
    "meter_interval": (float, 1, 3600),
}
PASSWORD_LENGTH = (8, 64)


def own_ocpp_url(config: Config) -> str:
    """Where this server's OCPP endpoint answers on this machine."""
    host = config.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # listening everywhere includes loopback
    elif ":" in host:
        host = f"[{host}]"
    scheme = "wss" if config.tls_cert else "ws"
    return f"{scheme}://{host}:{config.port}/ocpp"


def own_tls_context(config: Config) -> ssl.SSLContext | None:
    """TLS that trusts exactly this server's own certificate.

    The simulators connect to 127.0.0.1, which the certificate seldom names, so the host
    name is not checked; the chain is, against the certificate file itself (a leaf is
    accepted as its own trust anchor).
    """
    if not config.tls_cert:
        return None
    context = ssl.create_default_context(cafile=config.tls_cert)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def clean_options(body: dict[str, Any]) -> dict[str, Any]:
    """The simulator options of a request body; 400 naming the field for a bad one."""
    options: dict[str, Any] = {}
    for name, (kind, low, high) in OPTIONS.items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or (kind is int and value != int(value)) or not low <= value <= high:
            raise errors.BadRequest(f"{name} must be a number from {low:g} to {high:g}",
                                    field=name)
        options[name] = kind(value)
    password = body.get("password")
    if password is not None:
        low, high = PASSWORD_LENGTH
        if not isinstance(password, str) or not low <= len(password) <= high:
            raise errors.BadRequest(f"password must be {low} to {high} characters",
                                    field="password")
        options["password"] = password
    return options


@dataclass
class Simulator:
    charger: SimulatedCharger
    task: asyncio.Task
    stop: asyncio.Event
    started_at: float

    def as_json(self) -> dict[str, Any]:
        charger = self.charger
        back_at = charger.offline_until
        return {"charger_id": charger.id, "connected": charger.connected,
                "registration_status": charger.registration_status,
                "connectors": len(charger.connectors) - 1, "power_w": charger.power_w,
                "meter_interval": charger.meter_interval,
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                            time.gmtime(self.started_at)),
                "held_offline": charger.held_offline,
                "back_at": back_at.strftime("%Y-%m-%dT%H:%M:%SZ") if back_at else None,
                "connector_states": [_connector_json(c) for c in charger.connectors.values()]}


def _connector_json(connector: Connector) -> dict[str, Any]:
    """A connector as the simulator itself knows it (the dashboard's rehearsal controls)."""
    transaction = connector.transaction
    return {"connector_id": connector.connector_id, "status": connector.status,
            "error_code": connector.error_code, "info": connector.info or "",
            "plugged_in": connector.plugged_in,
            "transaction_id": transaction.transaction_id if transaction else None}


class SimulatorFleet:
    """Owner of the simulated chargers of one evedge instance."""

    def __init__(self, config: Config, is_online: Callable[[str], bool],
                 limit: int = MAX_SIMULATORS):
        # Tests serve on an unused port, not config.port: they set ``url`` to theirs.
        self._config = config
        self.url = own_ocpp_url(config)
        self._ssl = own_tls_context(config)
        self._is_online = is_online
        self.limit = limit
        self._running: dict[str, Simulator] = {}

    def start(self, charger_id: Any, **options: Any) -> dict[str, Any]:
        """Start a simulated charger; 400 for a bad id, 409 if it runs already or the
        fleet is full, or if a real charger with that id is online."""
        check_charger_id(charger_id, "charger_id")
        if charger_id in self._running:
            raise errors.Conflict(f"simulator {charger_id} is running already",
                                  field="charger_id")
        if self._is_online(charger_id):
            # It would replace the live charger's session, and the two would take turns.
            raise errors.Conflict(f"a charger {charger_id} is connected; choose another id",
                                  field="charger_id")
        if len(self._running) >= self.limit:
            raise errors.Conflict(f"at most {self.limit} simulated chargers run at once")
        # Admitted like a real charger would be: Pending unless the box accepts newcomers.
        charger_admin.claim_for_simulator(
            charger_id, "Accepted" if self._config.admission == "accept" else "Pending")
        charger = SimulatedCharger(charger_id, url=self.url, ssl=self._ssl, **options)
        stop = asyncio.Event()
        task = asyncio.create_task(self._run(charger, stop), name=f"simulator-{charger_id}")
        simulator = self._running[charger_id] = Simulator(charger, task, stop, time.time())
        log.info("charger=%s simulator started against %s", charger_id, self.url)
        return simulator.as_json()

    async def _run(self, charger: SimulatedCharger, stop: asyncio.Event) -> None:
        try:
            await charger.run(stop)
        except Exception:
            log.exception("charger=%s simulator failed", charger.id)
        finally:
            simulator = self._running.get(charger.id)
            if simulator is not None and simulator.charger is charger:
                del self._running[charger.id]

    async def stop(self, charger_id: Any) -> dict[str, Any]:
        """Stop a simulated charger (it ends running transactions and disconnects);
        409 when none of that id runs."""
        simulator = self._running.get(charger_id) if isinstance(charger_id, str) else None
        if simulator is None:
            check_charger_id(charger_id, "charger_id")
            raise errors.Conflict(f"no simulator {charger_id} is running", field="charger_id")
        answer = simulator.as_json()
        simulator.stop.set()
        await self._finish(simulator)
        log.info("charger=%s simulator stopped", charger_id)
        return {**answer, "connected": False}

    async def _finish(self, simulator: Simulator) -> None:
        done, _ = await asyncio.wait({simulator.task}, timeout=STOP_TIMEOUT)
        if not done:
            simulator.task.cancel()
            await asyncio.gather(simulator.task, return_exceptions=True)

    async def act(self, charger_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """Run a rehearsal action (``rehearsal.ACTIONS``) on a running simulator; answers its
        state after it, with what the action did. 404 when no simulator of that id runs."""
        simulator = self._simulator(charger_id)
        done = await rehearsal.perform(simulator.charger, action, body)
        return {**simulator.as_json(), "action": action, **done}

    def simulated(self, charger_id: str) -> SimulatedCharger:
        """The running simulator's charger (to await its events); 404 when none runs."""
        return self._simulator(charger_id).charger

    def _simulator(self, charger_id: str) -> Simulator:
        simulator = self._running.get(charger_id)
        if simulator is None:
            raise errors.NotFound(f"no simulator {charger_id} is running: start it in the "
                                  "commissioning panel first")
        return simulator

    def running(self) -> list[dict[str, Any]]:
        """The simulators that run now, by id."""
        return [self._running[key].as_json() for key in sorted(self._running)]

    async def close(self) -> None:
        """Stop every simulator (part of the server's shutdown)."""
        simulators = list(self._running.values())
        for simulator in simulators:
            simulator.stop.set()
        await asyncio.gather(*(self._finish(s) for s in simulators), return_exceptions=True)
