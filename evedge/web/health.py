"""GET /healthz: 200 when evedge is healthy (evedge/health.py), 503 otherwise."""

from __future__ import annotations

from .base import ApiHandler


class HealthHandler(ApiHandler):
    async def get(self) -> None:
        """Liveness for systemd and monitoring: a real write, answered after its commit."""
        report = await self.services.health.check()
        self.send_json(report.body, status=200 if report.ok else 503)


ROUTES = [(r"/healthz", HealthHandler)]
