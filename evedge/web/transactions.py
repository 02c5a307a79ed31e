"""REST: /api/transactions/ (filtered, paginated) and one transaction with its samples."""

from __future__ import annotations

from ..domain import read_models
from .base import ApiHandler


class TransactionsHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self) -> None:
        """Transactions, newest first unless ?sort= says otherwise, with totals for the filter:
        ?charger=&id_tag=&q=&since=&until=&active=&sort=&limit=&offset="""
        self.send_json(read_models.list_transactions(
            charger=self.get_query_argument("charger", None),
            id_tag=self.get_query_argument("id_tag", None),
            q=self.get_query_argument("q", None),
            sort=self.get_query_argument("sort", None),
            since=self.time_argument("since"),
            until=self.time_argument("until"),
            active=self.bool_argument("active"),
            limit=self.int_argument("limit", 50, 1, 1000),
            offset=self.int_argument("offset", 0, 0, 10**9)))


class TransactionHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self, transaction_id: str) -> None:
        """One transaction with its meter samples.

        ``?samples_limit=`` (default 1000), ``?newest=true`` for the last samples
        instead of the first, ``?measurand=`` for one measurand only.
        """
        limit = self.int_argument("samples_limit", 1000, 0, 100000)
        self.send_json(read_models.transaction_detail(
            int(transaction_id), limit, newest=bool(self.bool_argument("newest")),
            measurand=self.get_query_argument("measurand", None) or None))


ROUTES = [
    (r"/api/transactions/", TransactionsHandler),
    (r"/api/transactions/([0-9]{1,18})/", TransactionHandler),
]
