"""A fleet of simulated chargers that live like real ones (``evedge simulate run``): sessions,
faults and reconnects (`behaviour`), until told to stop.

``Fleet(url, ids, FleetOptions(...), speed=60, **charger_options)`` builds one
`SimulatedCharger` per id; ``await fleet.run(stop)`` keeps them online and alive until ``stop``
is set, then stops their sessions (reason Local) and disconnects. ``fleet.stats`` counts what
the Central System acknowledged; ``await fleet.stats.wait_until(predicate, timeout)`` waits
for it; ``fleet.protocol_errors()`` lists what any charger saw go wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from .behaviour import ChargerLife, FleetOptions, FleetStats
from .charger import SimulatedCharger, _sleep_unless

log = logging.getLogger("evedge.simulator")

DELIVERY_GRACE = 10.0  # s a stopping charger that is offline gets to reconnect and stop its
# sessions, so that stopping the fleet leaves no transaction open in the central system


class Fleet:
    def __init__(
        self,
        url: str,
        charger_ids: list[str],
        options: FleetOptions | None = None,
        *,
        stagger: float = 0.05,
        report_interval: float | None = None,
        **charger_options,
    ):
        """``stagger`` spreads the start-ups (real seconds); every ``report_interval`` real
        seconds the fleet logs a summary. ``charger_options`` go to each SimulatedCharger."""
        if len(set(charger_ids)) != len(charger_ids) or not charger_ids:
            raise ValueError(f"charger ids must be distinct, and at least one: {charger_ids!r}")
        self.options = options or FleetOptions()
        self.stats = FleetStats()
        self.stagger = stagger
        self.report_interval = report_interval
        self.chargers = {
            cid: SimulatedCharger(cid, url=url, **charger_options) for cid in charger_ids
        }

    def protocol_errors(self) -> dict[str, list[str]]:
        """Charger id -> what it saw go wrong, for the chargers that saw anything."""
        return {cid: c.protocol_errors for cid, c in self.chargers.items() if c.protocol_errors}

    def summary(self) -> str:
        online = sum(1 for charger in self.chargers.values() if charger.accepted)
        errors = sum(len(errors) for errors in self.protocol_errors().values())
        return (
            f"fleet: {online}/{len(self.chargers)} online, {self.stats.summary()}, "
            f"{errors} protocol errors"
        )

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run every charger until ``stop`` is set (or the task is cancelled)."""
        stop = stop or asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                for index, charger in enumerate(self.chargers.values()):
                    group.create_task(self._run_one(charger, index * self.stagger, stop))
                if self.report_interval:
                    group.create_task(self._report(stop))
        finally:
            log.info("%s", self.summary())

    async def _run_one(self, charger: SimulatedCharger, delay: float, stop: asyncio.Event):
        await _sleep_unless(stop, delay)
        if stop.is_set():
            return
        life = ChargerLife(charger, self.options, self.stats, self._random(charger.id))
        life.start()
        leave = asyncio.Event()  # the charger closes only once its life has stopped
        running = asyncio.create_task(charger.run(leave), name=f"{charger.id}-run")
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            await life.stop()
            await self._deliver_before_leaving(charger)
            leave.set()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    async def _deliver_before_leaving(self, charger: SimulatedCharger) -> None:
        sessions = any(c.transaction is not None for c in charger._outlets())
        if charger.accepted or not (sessions or charger._outbox):
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await charger.wait_online(DELIVERY_GRACE)

    def _random(self, charger_id: str) -> random.Random:
        """Each charger draws from its own generator: with a seed, a charger's choices do not
        depend on how many others run or on the order their tasks are scheduled."""
        seed = self.options.seed
        return random.Random(f"{seed}/{charger_id}") if seed is not None else random.Random()

    async def _report(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _sleep_unless(stop, self.report_interval)
            if not stop.is_set():
                log.info("%s", self.summary())
