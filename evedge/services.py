"""The long-lived objects of one evedge instance, built once and handed to handlers.

``build_services`` is used by ``server.py`` and by the tests alike, so a test
runs exactly the objects production runs. This module only assembles and
closes them; what each one does lives in its own module.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from .chargers import protocol
from .chargers.charger_auth import ChargerPasswords
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
from .domain.repairs import RepairLedger
from .events import Broadcaster
from .ftp.bridge import LoopBridge
from .ftp.server import FtpServer
from .ftp.transfers import Transfers
from .health import HealthCheck
from .housekeeping import Housekeeping
from .load_management.live import LoadManager, load_site
from .metric_collectors import LiveCollector, RetentionCollector, StorageCollector
from .metrics import Metrics
from .storage import sql, stats
from .storage.checkpoints import Checkpointer
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
    metrics: Metrics
    load: LoadManager
    ftp: FtpServer | None = None  # with ftp_port set
    repairs: RepairLedger = field(default_factory=RepairLedger)
    checkpoints: Checkpointer | None = None  # SQLite only
    tasks: list[asyncio.Task] = field(default_factory=list)

    async def close(self) -> None:
        """Stop simulators and background work, close charger sockets, flush and close the
        database."""
        # First, while the server still answers: simulators end their transactions properly.
        await self.simulators.close()
        if self.ftp is not None:  # while the loop still answers what its sessions ask
            await self.ftp.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.load.close()
        self.chargers.close_all(1001, "server shutting down")
        self.events.close()
        self.reads.close()
        self.accounts.close()
        await self.housekeeping.close()
        self.housekeeping.flush_last_seen()
        self.housekeeping.flush_repairs()
        self.committer.flush()
        if self.checkpoints is not None:
            self.checkpoints.close()
        close_database()


async def build_services(config: Config) -> Services:
    db_handle = open_database(config)
    protocol.prepare_library()
    secret = config.jwt_secret or credentials.load_or_create_secret(config.data_dir)
    metrics = Metrics()
    committer = GroupCommit(db_handle, window=config.commit_window, observe=metrics.commit)
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
        strict_validation=config.strict_validation, metrics=metrics, repairs=repairs)
    chargers = ConnectedChargers(context, ChargerPasswords(accounts.check_password),
                                 takeover_probe_timeout=config.takeover_probe_timeout)
    reads = ReadPool()
    # HTTP uploads (on the loop) and FTP uploads (in the FTP thread) share one free-space
    # floor and the diagnostics quotas: one lock for both stores (domain/files.py).
    volume_lock = threading.RLock()
    commands = Commands(chargers, config.command_timeout, accounts.hash_password, metrics,
                        committer)
    load = LoadManager(config, events, ProfileSender(commands),
                       lambda charger_id: _registration_status(chargers, charger_id))
    events.observe(load.observe)
    services = Services(
        config=config, committer=committer, events=events, accounts=accounts,
        chargers=chargers,
        commands=commands,
        charger_reads=ChargerReads(reads, committer, chargers.is_online, chargers.last_seen,
                                   repairs),
        health=HealthCheck(committer, chargers, config.data_dir, config.min_free_bytes),
        housekeeping=Housekeeping(config, committer, chargers, events, repairs),
        firmware=files.FileStore(config.data_dir / "firmware", config.firmware_max_bytes,
                                 "firmware file", min_free_bytes=config.min_free_bytes,
                                 volume_lock=volume_lock),
        diagnostics=files.DiagnosticsStore(
            config.data_dir / "diagnostics", config.diagnostics_max_bytes,
            min_free_bytes=config.min_free_bytes,
            quota_per_charger=config.diagnostics_quota_per_charger,
            quota_total=config.diagnostics_quota_total, volume_lock=volume_lock),
        simulators=SimulatorFleet(config, chargers.is_online),
        reads=reads,
        hosts=AllowedHosts(config.allowed_host_names, own_host_names()),
        metrics=metrics,
        repairs=repairs,
        load=load,
    )
    watch_state(services)
    with db_handle.atomic():
        sql.mark_all_disconnected(utcnow())
    try:
        load.start(*load_site(config))
    except Exception:
        close_database()
        raise
    if not config.database_url:
        services.checkpoints = Checkpointer(config.database_path).start()
    if config.ftp_port:
        services.ftp = start_ftp(services)
    services.tasks.append(asyncio.create_task(services.housekeeping.every()))
    return services


def start_ftp(services: Services) -> FtpServer:
    """The FTP server for chargers, listening (evedge/ftp/)."""
    bridge = LoopBridge(asyncio.get_running_loop(), services.committer)
    server = FtpServer(services.config, Transfers(
        bridge, services.firmware, services.diagnostics, services.events, services.committer))
    server.start()
    return server


def watch_state(services: Services) -> None:
    """The scrape-time collectors of /metrics over the objects that own the state
    (the connection gate's is added by server.http_server, which builds the gate)."""
    metrics, data_dir = services.metrics, services.config.data_dir
    metrics.watch(LiveCollector(services.chargers, services.events))
    metrics.watch(RetentionCollector(services.housekeeping.retention))
    metrics.watch(StorageCollector(lambda: services.reads.run(stats.read_stats, data_dir)))
    metrics.watch_process()


def _registration_status(chargers: ConnectedChargers, charger_id: str) -> str | None:
    session = chargers.get(charger_id)
    return None if session is None else session.registration_status
