"""REST: /api/id-tags/ (CRUD, CSV export/import)."""

from __future__ import annotations

from .. import errors
from ..domain import id_tags
from .base import JSON_TYPES, ApiHandler

MAX_PAGE = 1000
# Not text/plain: that is the type a cross-site page may POST without a CORS preflight.
CSV_TYPES = ("text/csv", "application/csv")


class IdTagsHandler(ApiHandler):
    permissions = {"GET": "viewer", "POST": "operator"}

    def get(self) -> None:
        """Tags by id: ?q= (substring of id or note), ?status=, ?limit=&offset="""
        self.send_json(id_tags.list_tags(
            q=self.get_query_argument("q", None),
            status=self.get_query_argument("status", None),
            limit=self.int_argument("limit", 50, 1, MAX_PAGE),
            offset=self.int_argument("offset", 0, 0, 10**9)))

    def post(self) -> None:
        """Create a tag; 409 when it exists."""
        self.send_json(id_tags.create_tag(self.body), status=201)


class IdTagHandler(ApiHandler):
    permissions = {"GET": "viewer", "PATCH": "operator", "DELETE": "operator"}

    def get(self, id_tag: str) -> None:
        """One tag."""
        self.send_json(id_tags.get_tag(id_tag))

    def patch(self, id_tag: str) -> None:
        """Change the fields given; Authorize answers with the new values at once."""
        self.send_json(id_tags.update_tag(id_tag, self.body))

    def delete(self, id_tag: str) -> None:
        """Delete a tag; 409 while it is the parent of other tags."""
        id_tags.delete_tag(id_tag)
        self.send_json({"deleted": id_tag})


class ExportHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self) -> None:
        """All tags as CSV (the columns import reads back)."""
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", 'attachment; filename="id-tags.csv"')
        self.finish(id_tags.export_csv())


class ImportHandler(IdTagHandler):
    """POST imports a CSV file. The path also names a tag called "import", which keeps
    GET/PATCH/DELETE through the inherited verbs instead of becoming unreachable."""

    permissions = {**IdTagHandler.permissions, "POST": "operator"}
    body_types = (*CSV_TYPES, *JSON_TYPES)

    def post(self, _path: str) -> None:
        """Create or update the tags of a CSV file (text/csv body, or JSON {"csv": ...})."""
        self.send_json(id_tags.import_csv(self._csv_text()))

    @property
    def json_body(self) -> bool:  # type: ignore[override]
        """A text/csv body is read by post(); JSON ({"csv": ...}) goes through the base class."""
        return not self._is_csv()

    def _is_csv(self) -> bool:
        kind = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        return kind in CSV_TYPES

    def _csv_text(self) -> str:
        if not self._is_csv():
            text = self.body.get("csv")
            if not isinstance(text, str):
                raise errors.BadRequest("send the CSV as a text/csv body or as JSON "
                                        '{"csv": "..."}', field="csv")
            return text
        try:
            return self.request.body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise errors.BadRequest("the CSV file must be UTF-8", field="csv") from None


ROUTES = [
    (r"/api/id-tags/", IdTagsHandler),
    # Before the <id_tag> route, so that these paths are never read as tag names.
    (r"/api/id-tags/export\.csv", ExportHandler),
    (r"/api/id-tags/(import)/", ImportHandler),
    (r"/api/id-tags/([^/]+)/", IdTagHandler),
]
