"""The long-lived objects of one evedge instance, built once and handed to handlers.

``build_services`` is used by ``server.py`` and by the tests alike, so a test
runs exactly the objects production runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

import ocpp.messages

from .domain import credentials, charging, files, read_models
from .storage import sql
from .storage.database import ReadPool, close_database, open_database
from .storage.group_commit import GroupCommit
from .domain.accounts import Accounts
from .chargers import protocol
from .chargers.commands import Commands
from .chargers.registry import ConnectedChargers
from .config import Config
from .events import Broadcaster
from .simulators import SimulatorFleet
from .timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass
class Services:
    config: Config
    policy: charging.Policy
    committer: GroupCommit
    events: Broadcaster
    chargers: ConnectedChargers
    commands: Commands
    accounts: Accounts
    firmware: files.FileStore
    diagnostics: files.DiagnosticsStore
    simulators: SimulatorFleet
    reads: ReadPool = field(default_factory=ReadPool)
    tasks: list[asyncio.Task] = field(default_factory=list)
    _fleet: asyncio.Future | None = field(default=None, repr=False)

    async def fleet(self, limit: int | None = None, offset: int = 0
                    ) -> tuple[list[dict], int]:
        """Chargers as GET /api/chargers/ lists them, read off the event loop.

        Callers asking for the whole list while it is being read share that read:
        twenty dashboards reconnecting at once cost one query, not twenty. The
        reader sees committed data only, so it waits for the open group commit:
        a client reads its own writes.
        """
        await self.committer.durable()
        if limit is not None or offset:
            return await self.reads.run(read_models.list_chargers, self.chargers.is_online,
                                        self.last_seen, limit, offset)
        if self._fleet is None:
            self._fleet = asyncio.ensure_future(self.reads.run(
                read_models.list_chargers, self.chargers.is_online, self.last_seen))
            self._fleet.add_done_callback(self._fleet_read)
        return await asyncio.shield(self._fleet)

    def _fleet_read(self, future: asyncio.Future) -> None:
        if self._fleet is future:
            self._fleet = None

    def last_seen(self, charger_id: str) -> dt.datetime | None:
        """Live last-seen time of a connected charger (the database lags by up to a minute)."""
        session = self.chargers.get(charger_id)
        if session is None:
            return None
        return dt.datetime.fromtimestamp(session.last_seen, dt.timezone.utc).replace(tzinfo=None)

    async def close(self) -> None:
        """Stop simulators and background work, close charger sockets, flush and close the
        database."""
        # First, while the server still answers: simulators end their transactions properly.
        await self.simulators.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.chargers.close_all(1001, "server shutting down")
        self.events.close()
        self.reads.close()
        self.flush_last_seen()
        self.committer.flush()
        close_database()

    def flush_last_seen(self) -> None:
        seen = [(s.id, dt.datetime.fromtimestamp(s.last_seen, dt.timezone.utc).replace(tzinfo=None))
                for s in self.chargers]
        if seen:
            self.committer.run(lambda: sql.touch_last_seen(seen))


async def build_services(config: Config) -> Services:
    db_handle = open_database(config)
    protocol.self_check()
    # Validation of CS->CP calls inline: the thread-pool hop costs more than it saves
    # and brings fork+thread trouble (mobilityhouse/ocpp#676, stack-notes.md §1.3).
    ocpp.messages.ASYNC_VALIDATION = False
    secret = config.jwt_secret or credentials.load_or_create_secret(config.data_dir)
    chargers = ConnectedChargers()
    services = Services(
        config=config,
        policy=charging.Policy(unknown_id_tags=config.unknown_id_tags, admission=config.admission),
        committer=GroupCommit(db_handle, window=config.commit_window),
        events=Broadcaster(),
        chargers=chargers,
        commands=Commands(chargers, config.command_timeout),
        accounts=Accounts(config, secret),
        firmware=files.FileStore(config.data_dir / "firmware", config.firmware_max_bytes,
                                 "firmware file", min_free_bytes=config.min_free_bytes),
        diagnostics=files.DiagnosticsStore(config.data_dir / "diagnostics",
                                           config.diagnostics_max_bytes,
                                           min_free_bytes=config.min_free_bytes),
        simulators=SimulatorFleet(config, chargers.is_online),
    )
    with db_handle.atomic():
        sql.mark_all_disconnected(utcnow())
    services.tasks.append(asyncio.create_task(_maintenance(services)))
    return services


async def _maintenance(services: Services, period: float = 30.0) -> None:
    """Every ``period`` seconds: persist last-seen times, close orphaned transactions,
    apply the meter retention and forget expired token revocations."""
    config = services.config
    while True:
        await asyncio.sleep(period)
        started = time.perf_counter()
        try:
            services.flush_last_seen()
            now = utcnow()
            offline_before = now - dt.timedelta(seconds=config.orphan_timeout)
            booted_before = now - dt.timedelta(seconds=config.reboot_grace)
            closed = services.committer.run(
                lambda: charging.close_stale_transactions(offline_before, now)
                + charging.close_transactions_lost_in_reboot(booted_before, now))
            for transaction_id in closed:
                services.events.publish("transaction.stopped", transaction_id=transaction_id,
                                        inferred=True)
            services.committer.run(lambda: sql.expire_reservations(now))
            if config.meter_retention_days > 0:
                cutoff = now - dt.timedelta(days=config.meter_retention_days)
                services.committer.run(lambda: sql.delete_samples_before(cutoff))
            services.committer.run(Accounts.purge_expired)
        except Exception:
            log.exception("maintenance failed")
        log.debug("maintenance took %.1f ms", (time.perf_counter() - started) * 1000)
