"""REST: /api/chargers/ (list, detail) and the original remote-start endpoint."""

from __future__ import annotations

from .. import errors
from ..domain import charger_admin, read_models
from .base import ApiHandler

MAX_PAGE = 1000


class ChargersHandler(ApiHandler):
    permissions = {"GET": "viewer", "POST": "admin"}

    async def get(self) -> None:
        """All chargers with connectors, online flag, last seen and active transactions.

        A plain JSON list, as the original system answered; ``?limit=&offset=``
        page through it and ``X-Total-Count`` carries the total.
        """
        limit = self.int_argument("limit", 0, 1, MAX_PAGE) or None
        offset = self.int_argument("offset", 0, 0, 10**9)
        page, total = await self.services.charger_reads.list(limit, offset)
        self.set_header("X-Total-Count", str(total))
        self.send_json(page)

    async def post(self) -> None:
        """Pre-register a charger: ``{"id", "label", "location", "registration_status",
        "password"}`` (all but id optional)."""
        _, password = charger_admin.password_change(self.body)
        hashed = await self.services.accounts.hash_password(password) if password else None
        charger = charger_admin.create_charger(self.body, hashed)
        self.send_json(self.services.charger_reads.detail(charger.id), status=201)


class ChargerHandler(ApiHandler):
    permissions = {"GET": "viewer", "PATCH": "admin", "DELETE": "admin"}

    def get(self, charger_id: str) -> None:
        """One charger with its configuration, reservations and charging profiles."""
        self.send_json(self.services.charger_reads.detail(charger_id))

    async def patch(self, charger_id: str) -> None:
        """Approve/reject (``registration_status``), relabel, set or remove the password."""
        changed, password = charger_admin.password_change(self.body)
        hashed = await self.services.accounts.hash_password(password) if password else None
        charger = charger_admin.update_charger(charger_id, self.body, hashed, changed)
        self.services.chargers.registration_changed(charger_id, charger.registration_status)
        self.send_json(self.services.charger_reads.detail(charger_id))

    def delete(self, charger_id: str) -> None:
        """Retire a charger that is not connected; its transactions are kept."""
        if self.services.chargers.get(charger_id) is not None:
            raise errors.Conflict(f"charger {charger_id} is still connected: retire it once "
                                  "it is disconnected (unplug it, or change its central "
                                  "system URL)")
        closed = charger_admin.retire_charger(charger_id)
        self.services.chargers.passwords.forget(charger_id)
        self.services.repairs.forget(charger_id)
        events = self.services.events
        for _, transaction_id in closed:
            events.publish_when_committed(self.services.committer, "transaction.stopped",
                                          charger_id=charger_id, transaction_id=transaction_id,
                                          inferred=True)
        self.send_json({"deleted": charger_id})


class StatusLogHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self, charger_id: str) -> None:
        """The charger's StatusNotifications as received, newest first: ?limit=&offset="""
        self.send_json(read_models.status_log(charger_id, self.int_argument("limit", 50, 1, 1000),
                                              self.int_argument("offset", 0, 0, 10**9)))


class AnomaliesHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self, charger_id: str) -> None:
        """What the charger did that evedge answered but did not expect (unknown ids,
        inferred stops, firmware quirks), newest first: ?limit=&offset="""
        self.send_json(read_models.anomalies(charger_id, self.int_argument("limit", 50, 1, 1000),
                                             self.int_argument("offset", 0, 0, 10**9)))


ROUTES = [
    (r"/api/chargers/", ChargersHandler),
    (r"/api/chargers/([^/]+)/", ChargerHandler),
    (r"/api/chargers/([^/]+)/status-log/", StatusLogHandler),
    (r"/api/chargers/([^/]+)/anomalies/", AnomaliesHandler),
]
