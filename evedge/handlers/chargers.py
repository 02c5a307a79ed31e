"""REST: /api/chargers/ (list, detail) and the original remote-start endpoint."""

from __future__ import annotations

from ocpp.v16 import call

from .. import errors, queries
from .base import ApiHandler

MAX_PAGE = 1000


class ChargersHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self) -> None:
        """All chargers with connectors, online flag, last seen and active transactions.

        A plain JSON list, as the original system answered; ``?limit=&offset=``
        page through it and ``X-Total-Count`` carries the total.
        """
        limit = self.int_argument("limit", MAX_PAGE, 1, MAX_PAGE)
        offset = self.int_argument("offset", 0, 0, 10**9)
        page, total = queries.list_chargers(self.services.chargers.is_online,
                                            self.services.last_seen, limit, offset)
        self.set_header("X-Total-Count", str(total))
        self.send_json(page)


class ChargerHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self, charger_id: str) -> None:
        """One charger in detail."""
        self.send_json(queries.charger_detail(charger_id, self.services.chargers.is_online,
                                              self.services.last_seen))


class RemoteStartHandler(ApiHandler):
    permissions = {"POST": "operator"}

    async def post(self, charger_id: str) -> None:
        """Send RemoteStartTransaction and report the charger's answer (409 when Rejected)."""
        id_tag = self.body.get("id_tag")
        if not isinstance(id_tag, str) or not 1 <= len(id_tag) <= 20:
            raise errors.BadRequest("id_tag must be a string of 1 to 20 characters",
                                    field="id_tag")
        connector_id = self.body.get("connector_id")
        if connector_id is not None and (type(connector_id) is not int or connector_id < 1):
            raise errors.BadRequest("connector_id must be a positive integer",
                                    field="connector_id")
        result = await self.services.commands.send(
            charger_id, call.RemoteStartTransaction(id_tag=id_tag, connector_id=connector_id),
            username=self.user.username)
        body = {"status": result.status, "charger_id": charger_id,
                "connector_id": connector_id, "id_tag": id_tag}
        if result.status != "Accepted":
            raise errors.ChargerRejected(f"charger {charger_id} rejected the remote start",
                                         status=result.status, charger_id=charger_id)
        self.send_json(body)


ROUTES = [
    (r"/api/chargers/", ChargersHandler),
    (r"/api/chargers/start/([^/]+)/", RemoteStartHandler),
    (r"/api/chargers/([^/]+)/", ChargerHandler),
]
