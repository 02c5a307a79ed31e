"""Is this evedge healthy? The answer /healthz gives systemd and monitoring."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .chargers.registry import ConnectedChargers
from .storage import sql
from .storage.group_commit import GroupCommit
from .timeutil import to_rfc3339, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    body: dict[str, Any]


class HealthCheck:
    def __init__(self, committer: GroupCommit, chargers: ConnectedChargers):
        self._committer = committer
        self._chargers = chargers

    async def check(self) -> HealthReport:
        """A real write, reported healthy only once it is committed."""
        try:
            self._committer.run(lambda: sql.write_probe(utcnow()))
            await self._committer.durable()
        except Exception as exc:  # any database failure means "not healthy"
            log.error("health check failed: %s", exc)
            return HealthReport(False, {"status": "error", "error": "database is not writable"})
        return HealthReport(True, {"status": "ok", "time": to_rfc3339(utcnow()),
                                   "chargers_online": len(self._chargers)})
