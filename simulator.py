"""Simulated OCPP 1.6J charge points: evedge's commissioning tool, demo driver and test client.

A `SimulatedCharger` behaves like a real charge point on a real websocket. It keeps its own
connectors, transactions, configuration keys, reservations, charging profiles and local
authorization list. It answers all 19 Central-System-initiated OCPP 1.6 actions in line with that
state, and sends the follow-up messages a real charger would: StartTransaction after a
RemoteStartTransaction, a reboot after Reset, firmware download, diagnostics upload, and so on.

Its cars draw current like real ones: they follow the charging profiles in force (§3.13) per
phase, after a reaction delay, never below 6 A (below, they pause), and its MeterValues report
Current.Import per phase. ``charger.drawn_current(n)`` and ``await charger.wait_for_current(n,
predicate, timeout)`` show what a connector's car draws.

There are three ways to use it:

* from the shell: ``python simulator.py [run] --url ws://127.0.0.1:8000/ocpp --count 5`` keeps
  a lifelike fleet running (sessions, faults, reconnects; `Fleet`), and ``python simulator.py
  check --url ... --api ... --user U --password P`` runs the commissioning check
  (`run_check`); ``evedge simulate ...`` is the same, through `main`;
* from tests: ``async with simulator.connect(url, "CP-1") as charger: ...``. Drive the charger
  with its charger-initiated API (``await charger.heartbeat()``), observe it with
  ``await charger.wait_for("RemoteStartTransaction")``, and assert
  ``charger.protocol_errors == []``;
* in-process (the dashboard): ``asyncio.create_task(simulator.run_charger(url, cp_id, stop=ev))``,
  stopped by setting the event or by cancelling the task. A technician rehearses with it there
  through ``plug_in``, ``plug_out``, ``swipe``, ``inject_fault``, ``clear_fault``, ``go_offline``
  and ``go_online`` (`NotNow` when an action does not apply to its state).

Importing this module has no side effects. The transport is tornado's websocket client. The
protocol is the mobilityhouse ``ocpp`` library 2.1.0, with its schema validation left on in both
directions. "§" refers to the OCPP 1.6 specification (edition 2); "OCPP-J §" to its JSON
transport document.

This module is the stable entry point: it re-exports the API, and ``python simulator.py`` runs
`main`. The implementation lives in the package ``evedge.simulation``, one module per concern
(see that package's docstring).
"""

from __future__ import annotations

import sys

from evedge.simulation.behaviour import FleetOptions
from evedge.simulation.charger import SimulatedCharger
from evedge.simulation.check import run_check
from evedge.simulation.cli import main
from evedge.simulation.clock import parse_rfc3339, rfc3339
from evedge.simulation.check_steps import CheckOptions
from evedge.simulation.ev import Car
from evedge.simulation.fleet import Fleet
from evedge.simulation.rehearsal import NotNow, Swipe
from evedge.simulation.runner import connect, run_charger, run_chargers, run_many
from evedge.simulation.transport import ConnectFailed, ConnectionClosed, NotConnected

__all__ = [
    "Car",
    "CheckOptions",
    "ConnectFailed",
    "ConnectionClosed",
    "Fleet",
    "FleetOptions",
    "NotConnected",
    "NotNow",
    "SimulatedCharger",
    "Swipe",
    "connect",
    "main",
    "parse_rfc3339",
    "rfc3339",
    "run_charger",
    "run_chargers",
    "run_check",
    "run_many",
]

# Also importable from here, as when this module held the whole simulator: the constants, the
# state classes and the helpers that tests and tools use.
from evedge.simulation.cli import _parse_args  # noqa: F401
from evedge.simulation.clock import utc_now  # noqa: F401
from evedge.simulation.events import _raw_frame_id  # noqa: F401
from evedge.simulation.frames import OCPP16_ERROR_CODES  # noqa: F401
from evedge.simulation.messages import VENDOR_ID  # noqa: F401
from evedge.simulation.registration import BOOT_RETRY_DEFAULT  # noqa: F401
from evedge.simulation.smart_charging import (  # noqa: F401
    PHASES,
    VOLTAGE,
    ChargingProfiles,
    InstalledProfile,
)
from evedge.simulation.state import (  # noqa: F401
    DEFAULT_MEASURANDS,
    SAMPLED_MEASURANDS,
    Configuration,
    Connector,
    LocalAuthList,
    Reservation,
    Transaction,
)
from evedge.simulation.transport import (  # noqa: F401
    DEFAULT_URL,
    TornadoTransport,
    basic_auth_header,
    charger_url,
    open_websocket,
)

if __name__ == "__main__":
    sys.exit(main())
