"""REST: /api/transactions/ (filtered, paginated) and one transaction with its samples."""

from __future__ import annotations

from .. import errors, queries
from ..timeutil import parse_api_time
from .base import ApiHandler


class TransactionsHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self) -> None:
        """Transactions, newest first: ?charger=&id_tag=&since=&until=&active=&limit=&offset="""
        self.send_json(queries.list_transactions(
            charger=self.get_query_argument("charger", None),
            id_tag=self.get_query_argument("id_tag", None),
            since=self._time_argument("since"),
            until=self._time_argument("until"),
            active=self._bool_argument("active"),
            limit=self.int_argument("limit", 50, 1, 1000),
            offset=self.int_argument("offset", 0, 0, 10**9)))

    def _time_argument(self, name: str):
        raw = self.get_query_argument(name, None)
        if not raw:
            return None
        try:
            return parse_api_time(raw)
        except ValueError as exc:
            raise errors.BadRequest(f"{name}: {exc}", field=name) from None

    def _bool_argument(self, name: str):
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return None
        if raw.lower() in ("1", "true", "yes"):
            return True
        if raw.lower() in ("0", "false", "no"):
            return False
        raise errors.BadRequest(f"{name} must be true or false", field=name)


class TransactionHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self, transaction_id: str) -> None:
        """One transaction with its meter samples (``?samples_limit=``, default 1000)."""
        limit = self.int_argument("samples_limit", 1000, 0, 100000)
        self.send_json(queries.transaction_detail(int(transaction_id), limit))


ROUTES = [
    (r"/api/transactions/", TransactionsHandler),
    (r"/api/transactions/([0-9]{1,18})/", TransactionHandler),
]
