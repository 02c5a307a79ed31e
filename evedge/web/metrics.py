"""GET /metrics: the Prometheus exposition of evedge/metrics.py, never open to anyone.

Prometheus authenticates with ``Authorization: Bearer <metrics_token>`` (the setting;
compared in constant time), or a person with a logged-in user's access token of any
role, like every other read of the API. Anything else is the API's JSON 401.
"""

from __future__ import annotations

import hmac

from .base import ApiHandler


class MetricsHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def prepare(self) -> None:
        if not self._has_metrics_token():
            super().prepare()  # the usual bearer JWT, else 401

    def _has_metrics_token(self) -> bool:
        expected = self.services.config.metrics_token
        if not expected:
            return False
        scheme, _, presented = self.request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode("utf-8", "surrogateescape"), expected.encode())

    async def get(self) -> None:
        """Prometheus metrics of this evedge: chargers, OCPP messages, commits, commands,
        connections, dashboards, the database and the data volume."""
        body, content_type = await self.services.metrics.scrape(
            self.request.headers.get("Accept", ""))
        self.set_header("Content-Type", content_type)
        self.finish(body)


ROUTES = [(r"/metrics", MetricsHandler)]
