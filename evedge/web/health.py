"""GET /healthz: 200 when the database commits a write, 503 otherwise."""

from __future__ import annotations

import logging

from ..storage import sql
from ..timeutil import to_rfc3339, utcnow
from .base import ApiHandler

log = logging.getLogger(__name__)


class HealthHandler(ApiHandler):
    async def get(self) -> None:
        """Liveness for systemd and monitoring: a real write, answered after its commit."""
        committer = self.services.committer
        try:
            committer.run(lambda: sql.write_probe(utcnow()))
            await committer.durable()
        except Exception as exc:  # any database failure means "not healthy"
            log.error("health check failed: %s", exc)
            self.send_json({"status": "error", "error": "database is not writable"}, status=503)
            return
        self.send_json({"status": "ok", "time": to_rfc3339(utcnow()),
                        "chargers_online": len(self.services.chargers)})


ROUTES = [(r"/healthz", HealthHandler)]
