"""REST: a charger's local authorization list (OCPP 1.6 §3.5.3), read and synchronised."""

from __future__ import annotations

from ..domain import local_lists
from .base import ApiHandler


class LocalListHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self, charger_id: str) -> None:
        """The local list version and entries we believe the charger holds."""
        self.send_json(local_lists.local_list(charger_id))


class LocalListSyncHandler(ApiHandler):
    permissions = {"POST": "operator"}

    async def post(self, charger_id: str) -> None:
        """Send SendLocalList ({"mode": "differential"|"full"}); the charger's status is data:
        200 also for Failed or NotSupported, with nothing recorded."""
        mode = local_lists.clean_update_type(self.body.get("mode"))
        send = self.services.commands.local_list_sender(charger_id, self.user.username)
        self.send_json(await local_lists.sync_local_list(charger_id, mode, send))


ROUTES = [
    (r"/api/chargers/([^/]+)/local-list/", LocalListHandler),
    (r"/api/chargers/([^/]+)/local-list/sync/", LocalListSyncHandler),
]
