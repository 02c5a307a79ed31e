"""REST: POST /api/chargers/<id>/<command>/ for the 19 OCPP 1.6 commands, and the audit log."""

from __future__ import annotations

from .. import errors
from ..chargers.catalog import COMMANDS
from ..domain import read_models
from .base import ApiHandler


class CommandHandler(ApiHandler):
    permissions = {"POST": "operator"}

    async def post(self, charger_id: str, slug: str) -> None:
        """Send the command; 200 with the charger's answer in snake_case."""
        response = await self.services.commands.run(charger_id, slug, self.body,
                                                    username=self.user.username)
        self.send_json(response)


class RemoteStartHandler(ApiHandler):
    """The original system's ``POST /api/chargers/start/<id>/``: remote-start, with
    the charger's Rejected answered as 409 as it always was."""

    permissions = {"POST": "operator"}

    async def post(self, charger_id: str) -> None:
        """Send RemoteStartTransaction and report the charger's answer (409 when Rejected)."""
        response = await self.services.commands.run(charger_id, "remote-start", self.body,
                                                    username=self.user.username)
        if response["status"] != "Accepted":
            raise errors.ChargerRejected(f"charger {charger_id} rejected the remote start",
                                         status=response["status"], charger_id=charger_id)
        self.send_json({"status": response["status"], "charger_id": charger_id,
                        "connector_id": self.body.get("connector_id"),
                        "id_tag": self.body.get("id_tag")})


class CommandLogHandler(ApiHandler):
    permissions = {"GET": "operator"}

    def get(self) -> None:
        """Audit log of commands, newest first: ?charger=&limit=&offset="""
        self.send_json(read_models.command_log(
            charger=self.get_query_argument("charger", None),
            limit=self.int_argument("limit", 50, 1, 1000),
            offset=self.int_argument("offset", 0, 0, 10**9)))


ROUTES = [
    (r"/api/chargers/start/([^/]+)/", RemoteStartHandler),
    (r"/api/chargers/([^/]+)/(%s)/" % "|".join(COMMANDS), CommandHandler),
    (r"/api/command-log/", CommandLogHandler),
]
