"""Periodic upkeep: last-seen times, repair counts, orphaned transactions, TxProfiles of
remote starts that started nothing, expired reservations, tokens and upload grants, and the
meter-sample retention.

:meth:`Housekeeping.run` does one synchronous round (tests call it directly with
the time they want); :meth:`Housekeeping.every` runs it on the event loop. The
retention is the one slow job: a round only starts its sweep, which deletes in
bounded steps on its own (retention.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from .chargers.registry import ConnectedChargers
from .config import Config
from .domain import charger_admin, charging, charging_profiles, upload_grants
from .domain import repairs as repair_ledger
from .domain.accounts import Accounts
from .events import Broadcaster
from .retention import MeterRetention
from .storage import sql
from .storage.group_commit import CommitFailed, GroupCommit, StorageError
from .timeutil import utcnow

log = logging.getLogger(__name__)

PERIOD = 30.0  # seconds between rounds


class Housekeeping:
    def __init__(self, config: Config, committer: GroupCommit, chargers: ConnectedChargers,
                 events: Broadcaster, repairs: repair_ledger.RepairLedger | None = None):
        self._config = config
        self._repairs = repairs
        self._committer = committer
        self._chargers = chargers
        self._events = events
        self.retention = MeterRetention(committer, config.meter_retention_days)

    def run(self, now: dt.datetime | None = None) -> charging.Closed:
        """One round; returns the transactions it closed as inferred."""
        now = now or utcnow()
        config, committer = self._config, self._committer
        self.flush_last_seen()
        self.flush_repairs()
        offline_before = now - dt.timedelta(seconds=config.orphan_timeout)
        booted_before = now - dt.timedelta(seconds=config.reboot_grace)
        closed = committer.run(
            lambda: charging.close_stale_transactions(offline_before, now)
            + charging.close_transactions_lost_in_reboot(booted_before, now))
        for charger_id, transaction_id in closed:
            self._events.publish_when_committed(committer, "transaction.stopped",
                                                charger_id=charger_id,
                                                transaction_id=transaction_id, inferred=True)
        committer.run(lambda: sql.expire_reservations(now))
        committer.run(lambda: charging_profiles.drop_unstarted_tx_profiles(now))
        self.retention.start(now)
        if config.forget_pending_after_days > 0:
            self._forget_pending(now - dt.timedelta(days=config.forget_pending_after_days))
        committer.run(Accounts.purge_expired)
        committer.run(lambda: upload_grants.purge(now))
        return closed

    def _forget_pending(self, seen_before: dt.datetime) -> None:
        connected = {session.id for session in self._chargers}
        forgotten = self._committer.run(
            lambda: charger_admin.forget_unapproved(seen_before, connected))
        for charger_id in forgotten:
            if self._repairs is not None:
                self._repairs.forget(charger_id)
        if forgotten:
            log.info("forgot %d Pending charger(s) never approved nor seen since %s: %s",
                     len(forgotten), seen_before.date(), ", ".join(forgotten[:20]))

    async def close(self) -> None:
        await self.retention.close()

    def flush_last_seen(self) -> None:
        """Persist the connected chargers' last-seen times (kept in memory per frame)."""
        seen = self._chargers.last_seen_all()
        if seen:
            self._committer.run(lambda: sql.touch_last_seen(seen))

    def flush_repairs(self) -> None:
        """Store the repair counts gathered since the last round (docs/decisions.md D22)."""
        if self._repairs is not None:
            repair_ledger.flush(self._repairs, self._committer)

    async def every(self, period: float = PERIOD) -> None:
        while True:
            await asyncio.sleep(period)
            started = time.perf_counter()
            try:
                self.run()
            except (CommitFailed, StorageError) as exc:  # the committer logged the episode
                log.warning("housekeeping skipped this round: %s: %s", type(exc).__name__, exc)
            except Exception:
                log.exception("housekeeping failed")
            log.debug("housekeeping took %.1f ms", (time.perf_counter() - started) * 1000)
