"""The simulated OCPP 1.6J charge point behind ``simulator.py`` (see its docstring for usage).

Import the public API from ``simulator``; the modules here are its implementation, one concern
each:

* `clock`: UTC now and RFC 3339, and the simulated clock (``speed``);
* `transport`: tornado websocket client, Basic auth, connection errors;
* `state`: connectors, transactions, reservations, configuration keys, local list;
* `smart_charging`: charging profiles, limits and composite schedules;
* `charger`: `SimulatedCharger` itself, assembled from the mixins below, and its lifecycle;
* `messages`, `registration`: what the charger sends on its own, and BootNotification;
* `sessions`, `metering`: charging sessions, connector status, the load and the energy meter;
* `rehearsal`: what a technician makes the charger do (plug in, swipe, fault, go offline);
* `load`, `ev`: pure rules of the current a car draws (reaction delay, 6 A minimum, phases, a
  charge point's limit shared) and of the car's battery;
* `handlers_core`, `handlers_smart`, `handlers_firmware`: the 19 Central-System-initiated actions;
* `events`, `protocol`, `frames`: event history for tests, CALL plumbing, checks on every frame;
* `runner`, `cli`: running chargers, and the command line;
* `fleet`, `behaviour`: ``simulate run``, a fleet whose drivers, faults and network drops are
  drawn from seeded random generators in simulated time;
* `check_steps`, `check`, `rest`: ``simulate check``, the scripted commissioning scenario, its
  command line and report, and the small REST client it uses.

Like ``simulator.py`` before it was split, this package depends only on ``ocpp`` and tornado,
imports nothing else from evedge, and has no side effects at import time. Every module logs to
the "evedge.simulator" logger (frames go to "evedge.simulator.wire"), as the single-file
simulator did, so existing logging configuration keeps working.
"""
