"""The long-lived objects of one evedge instance, built once and handed to handlers.

``build_services`` is used by ``server.py`` and by the tests alike, so a test
runs exactly the objects production runs. This module only assembles and
closes them; what each one does lives in its own module.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .chargers import protocol
from .chargers.charger_auth import ChargerPasswords
from .chargers.commands import Commands
from .chargers.dispatch import SessionContext
from .chargers.registry import ConnectedChargers
from .commissioning import SimulatorFleet
from .config import Config
from .domain import credentials, files
from .domain.accounts import Accounts
from .domain.hosts import AllowedHosts, own_host_names
from .domain.policy import Policy
from .domain.read_models import ChargerReads
from .domain.repairs import RepairLedger
from .events import Broadcaster
from .health import HealthCheck
from .housekeeping import Housekeeping
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
    repairs: RepairLedger = field(default_factory=RepairLedger)
    tasks: list[asyncio.Task] = field(default_factory=list)

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
        self.accounts.close()
        self.housekeeping.flush_last_seen()
        self.housekeeping.flush_repairs()
        self.committer.flush()
        close_database()


async def build_services(config: Config) -> Services:
    db_handle = open_database(config)
    protocol.prepare_library()
    secret = config.jwt_secret or credentials.load_or_create_secret(config.data_dir)
    committer = GroupCommit(db_handle, window=config.commit_window)
    events = Broadcaster()
    accounts = Accounts(config, secret)
    repairs = RepairLedger()
    context = SessionContext(
        committer=committer, events=events,
        policy=Policy(unknown_id_tags=config.unknown_id_tags,
                      admission=config.admission),
        heartbeat_interval=config.heartbeat_interval,
        boot_retry_interval=config.boot_retry_interval,
        command_timeout=config.command_timeout,
        max_connector_id=config.max_connector_id,
        strict_validation=config.strict_validation,
        repairs=repairs)
    chargers = ConnectedChargers(context, ChargerPasswords(accounts.check_password),
                                 takeover_probe_timeout=config.takeover_probe_timeout)
    reads = ReadPool()
    services = Services(
        config=config, committer=committer, events=events, accounts=accounts,
        chargers=chargers,
        commands=Commands(chargers, config.command_timeout),
        charger_reads=ChargerReads(reads, committer, chargers.is_online, chargers.last_seen,
                                   repairs),
        health=HealthCheck(committer, chargers, config.data_dir, config.min_free_bytes),
        housekeeping=Housekeeping(config, committer, chargers, events, repairs),
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
        repairs=repairs,
    )
    with db_handle.atomic():
        sql.mark_all_disconnected(utcnow())
    services.tasks.append(asyncio.create_task(services.housekeeping.every()))
    return services
