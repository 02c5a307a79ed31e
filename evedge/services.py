"""The long-lived objects of one evedge instance, built once and handed to handlers.

``build_services`` is used by ``server.py`` and by the tests alike, so a test
runs exactly the objects production runs. This module only assembles and
closes them; what each one does lives in its own module.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .chargers import protocol
from .chargers.commands import Commands
from .chargers.dispatch import SessionContext
from .chargers.profiles import ProfileSender
from .chargers.registry import ConnectedChargers
from .commissioning import SimulatorFleet
from .config import Config
from .domain import credentials, files
from .domain.accounts import Accounts
from .domain.hosts import AllowedHosts, own_host_names
from .domain.policy import Policy
from .domain.read_models import ChargerReads
from .events import Broadcaster
from .health import HealthCheck
from .housekeeping import Housekeeping
from .load_management.live import LoadManager, load_site
from .storage import sql
from .storage.database import ReadPool, close_database, open_database
from .storage.group_commit import GroupCommit
from .timeutil import utcnow


@dataclass
class Services:
    config: Config
    committer: GroupCommit
    events: Broadcaster
    accounts: Accounts
    chargers: ConnectedChargers
    commands: Commands
    charger_reads: ChargerReads
    health: HealthCheck
    housekeeping: Housekeeping
    firmware: files.FileStore
    diagnostics: files.DiagnosticsStore
    simulators: SimulatorFleet
    reads: ReadPool
    hosts: AllowedHosts
    load: LoadManager
    tasks: list[asyncio.Task] = field(default_factory=list)

    async def close(self) -> None:
        """Stop simulators and background work, close charger sockets, flush and close the
        database."""
        # First, while the server still answers: simulators end their transactions properly.
        await self.simulators.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.load.close()
        self.chargers.close_all(1001, "server shutting down")
        self.events.close()
        self.reads.close()
        self.accounts.close()
        self.housekeeping.flush_last_seen()
        self.committer.flush()
        close_database()


async def build_services(config: Config) -> Services:
    db_handle = open_database(config)
    protocol.prepare_library()
    secret = config.jwt_secret or credentials.load_or_create_secret(config.data_dir)
    committer = GroupCommit(db_handle, window=config.commit_window)
    events = Broadcaster()
    accounts = Accounts(config, secret)
    context = SessionContext(
        committer=committer, events=events,
        policy=Policy(unknown_id_tags=config.unknown_id_tags,
                      admission=config.admission),
        heartbeat_interval=config.heartbeat_interval,
        boot_retry_interval=config.boot_retry_interval,
        command_timeout=config.command_timeout,
        max_connector_id=config.max_connector_id,
        strict_validation=config.strict_validation)
    chargers = ConnectedChargers(context, accounts.check_password,
                                 takeover_probe_timeout=config.takeover_probe_timeout)
    reads = ReadPool()
    commands = Commands(chargers, config.command_timeout, committer)
    load = LoadManager(config, events, ProfileSender(commands),
                       lambda charger_id: _registration_status(chargers, charger_id))
    events.observe(load.observe)
    services = Services(
        config=config, committer=committer, events=events, accounts=accounts,
        chargers=chargers,
        commands=commands,
        charger_reads=ChargerReads(reads, committer, chargers.is_online, chargers.last_seen),
        health=HealthCheck(committer, chargers, config.data_dir, config.min_free_bytes),
        housekeeping=Housekeeping(config, committer, chargers, events),
        firmware=files.FileStore(config.data_dir / "firmware", config.firmware_max_bytes,
                                 "firmware file", min_free_bytes=config.min_free_bytes),
        diagnostics=files.DiagnosticsStore(
            config.data_dir / "diagnostics", config.diagnostics_max_bytes,
            min_free_bytes=config.min_free_bytes,
            quota_per_charger=config.diagnostics_quota_per_charger,
            quota_total=config.diagnostics_quota_total),
        simulators=SimulatorFleet(config, chargers.is_online),
        reads=reads,
        hosts=AllowedHosts(config.allowed_host_names, own_host_names()),
        load=load,
    )
    with db_handle.atomic():
        sql.mark_all_disconnected(utcnow())
    try:
        load.start(*load_site(config))
    except Exception:
        close_database()
        raise
    services.tasks.append(asyncio.create_task(services.housekeeping.every()))
    return services


def _registration_status(chargers: ConnectedChargers, charger_id: str) -> str | None:
    session = chargers.get(charger_id)
    return None if session is None else session.registration_status
