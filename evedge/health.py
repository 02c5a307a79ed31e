"""Is this evedge healthy? The answer /healthz gives systemd and monitoring.

Unhealthy means chargers' messages cannot be stored: the database does not commit a
write (the last commit failed, or the probe write fails), or the data volume has less
free space than ``min_free_bytes``. Each change of state is logged once, with why.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .chargers.registry import ConnectedChargers
from .storage import sql
from .storage.group_commit import GroupCommit
from .timeutil import to_rfc3339, utcnow

log = logging.getLogger(__name__)


Problem = tuple[str, str]  # (kind, what to tell): a change of kind is logged


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    body: dict[str, Any]


class HealthCheck:
    def __init__(self, committer: GroupCommit, chargers: ConnectedChargers, data_dir: Path,
                 min_free_bytes: int):
        self._committer = committer
        self._chargers = chargers
        self._data_dir = data_dir
        self._min_free = min_free_bytes
        self._problem: str | None = None  # the kind last reported, to log changes only

    async def check(self) -> HealthReport:
        """A real write, reported healthy only once it is committed, and enough disk."""
        problem = self._disk_problem() or await self._write_problem()
        self._log_change(problem)
        if problem is not None:
            return HealthReport(False, {"status": "error", "error": problem[1]})
        return HealthReport(True, {"status": "ok", "time": to_rfc3339(utcnow()),
                                   "chargers_online": len(self._chargers)})

    def _disk_problem(self) -> Problem | None:
        try:
            free = shutil.disk_usage(self._data_dir).free
        except OSError as exc:
            return "disk", f"data directory unreadable: {exc.strerror}"
        if free < self._min_free:
            return "disk", (f"data volume has {free} bytes free, below min_free_bytes "
                            f"({self._min_free})")
        return None

    async def _write_problem(self) -> Problem | None:
        # The probe runs even while commits fail: it is how /healthz sees the recovery
        # when no charger is writing.
        try:
            self._committer.run(lambda: sql.write_probe(utcnow()))
            await self._committer.durable()
        except Exception as exc:  # any database failure means "not healthy"
            return "database", f"database is not writable ({type(exc).__name__})"
        return None

    def _log_change(self, problem: Problem | None) -> None:
        kind = problem[0] if problem else None
        if kind == self._problem:
            return
        if problem is None:
            log.info("healthy again")
        else:
            log.error("unhealthy: %s", problem[1])
        self._problem = kind
