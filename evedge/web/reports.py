"""REST: /api/reports/energy/, energy per UTC day, charger or id tag, as JSON or CSV."""

from __future__ import annotations

from .. import errors
from ..domain import reports
from .base import ApiHandler

FORMATS = ("json", "csv")


class EnergyReportHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self) -> None:
        """Finished sessions' energy grouped by UTC day, charger or id tag:
        ?group=day|charger|id_tag&since=&until=&charger=&id_tag=&format=json|csv"""
        fmt = self.get_query_argument("format", "json") or "json"
        if fmt not in FORMATS:
            raise errors.BadRequest("format must be json or csv", field="format")
        report = reports.energy_report(
            self.get_query_argument("group", "day") or "day",
            since=self.time_argument("since"), until=self.time_argument("until"),
            charger=self.get_query_argument("charger", None),
            id_tag=self.get_query_argument("id_tag", None))
        if fmt == "json":
            self.send_json(report)
            return
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition",
                        f'attachment; filename="energy-by-{report["group"]}.csv"')
        self.finish(reports.report_csv(report))


ROUTES = [(r"/api/reports/energy/", EnergyReportHandler)]
