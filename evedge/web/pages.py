"""Dashboard pages: server-rendered shells.

The pages hold no data: each is a template (templates/) whose ES module
(static/js/) calls the REST API with the bearer token the login page stored in
localStorage (shared by the box's tabs), and listens on /ws/dashboard. So a page itself needs no
authentication, and the API enforces roles whatever a page shows.
"""

from __future__ import annotations

import re
from typing import Any

from .base import BaseHandler

# The pages load only what the box serves itself: no CDN, no inline script, no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'{sockets}; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]+)?|\[[0-9A-Fa-f:.]+\](:[0-9]+)?")


def content_security_policy(host: str) -> str:
    """The pages' CSP. The live socket's ws:// or wss:// URL is named as well: older
    browsers (Safari before 15.4) do not count it as 'self'."""
    sockets = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
    return CSP.format(sockets=sockets)


class PageHandler(BaseHandler):
    template = ""

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", content_security_policy(self.request.host))
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-cache")

    def show(self, **values: Any) -> None:
        page = self.template.removesuffix(".html")
        self.render(self.template, page=page, charger_id=values.pop("charger_id", ""),
                    transaction_id=values.pop("transaction_id", ""), **values)


class RootHandler(PageHandler):
    template = "root.html"

    def get(self) -> None:
        """The box's address alone: a page that moves on to the login page."""
        # A page rather than a 302, so that every documented path answers 2xx (OpenAPI test).
        self.show()


class LoginPageHandler(PageHandler):
    template = "login.html"

    def get(self) -> None:
        """Login page (the dashboard's entry point)."""
        self.show()


class DashboardPageHandler(PageHandler):
    template = "dashboard.html"

    def get(self) -> None:
        """Dashboard: live charger list, remote commands, simulator commissioning."""
        self.show()


class ChargerPageHandler(PageHandler):
    template = "charger.html"

    def get(self, charger_id: str) -> None:
        """One charger: identity, connectors, live power, configuration, commands."""
        self.show(charger_id=charger_id)


class IdTagsPageHandler(PageHandler):
    template = "id_tags.html"

    def get(self) -> None:
        """ID tags: search, add, block, delete, CSV import and export."""
        self.show()


class TransactionsPageHandler(PageHandler):
    template = "transactions.html"

    def get(self) -> None:
        """Transaction history with filters, pages and CSV download."""
        self.show()


class TransactionPageHandler(PageHandler):
    template = "transaction.html"

    def get(self, transaction_id: str) -> None:
        """One transaction: its power and energy curve, duration and energy."""
        self.show(transaction_id=transaction_id)


class ReportsPageHandler(PageHandler):
    template = "reports.html"

    def get(self) -> None:
        """Energy per day, per charger and per id tag, as charts and CSV."""
        self.show()


class UsersPageHandler(PageHandler):
    template = "users.html"

    def get(self) -> None:
        """User accounts (for admins)."""
        self.show()


class FilesPageHandler(PageHandler):
    template = "files.html"

    def get(self) -> None:
        """Firmware and diagnostics files: upload, list, download."""
        self.show()


ROUTES = [
    (r"/", RootHandler),
    (r"/ui/", LoginPageHandler),
    (r"/ui/dashboard/?", DashboardPageHandler),
    (r"/ui/charger/([^/]+)/", ChargerPageHandler),
    (r"/ui/id-tags/", IdTagsPageHandler),
    (r"/ui/transactions/", TransactionsPageHandler),
    (r"/ui/transaction/([0-9]{1,18})/", TransactionPageHandler),
    (r"/ui/reports/", ReportsPageHandler),
    (r"/ui/users/", UsersPageHandler),
    (r"/ui/files/", FilesPageHandler),
]
