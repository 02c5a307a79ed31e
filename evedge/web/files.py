"""File transfer over HTTP: firmware for UpdateFirmware, uploads for GetDiagnostics.

``/api/firmware/`` and ``/api/diagnostics/`` are the authenticated API for people;
``/firmware/<name>`` and ``/diagnostics/<charger_id>/`` are what chargers use,
without a bearer token, since OCPP 1.6 gives them no way to carry one for file
transfer. The location endpoints hand out an HTTP or an FTP location (evedge/ftp/), as
the charger's SupportedFileTransferProtocols says (domain/transfer_protocols.py).
Request bodies are streamed to disk as they arrive (a firmware image
can be hundreds of MB on a box with 1 GB of RAM); storage rules live in
``domain/files.py``, form parsing in ``domain/multipart.py``. The two stores are built
once, from the settings, in ``services.py``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, Callable
from urllib.parse import quote

import tornado.web

from .. import errors
from ..domain import charger_ids, files, multipart, transfer_protocols, upload_grants
from ..timeutil import to_rfc3339, utcnow
from .base import ApiHandler, BaseHandler


def _firmware_json(handler: BaseHandler, stored: files.StoredFile) -> dict[str, Any]:
    return {**stored.as_json(), "url": f"{handler.public_base_url()}/firmware/{quote(stored.name)}"}


def _diagnostics_json(charger_id: str, stored: files.StoredFile) -> dict[str, Any]:
    return {"charger_id": charger_id, "name": stored.name, "size": stored.size,
            "sha256": stored.sha256, "received_at": stored.as_json()["modified_at"],
            "url": f"/api/diagnostics/{quote(charger_id, safe='')}/{quote(stored.name)}"}


def _transfer_choice(handler: ApiHandler, charger_id: str) -> transfer_protocols.Choice:
    """HTTP or FTP for a transfer with this charger (``?protocol=http|ftp`` forces one)."""
    return transfer_protocols.choose(
        transfer_protocols.reported_by(charger_id),
        handler.get_query_argument("protocol", None) or None,
        box_http=handler.request.protocol.upper(), ftp_on=bool(handler.services.config.ftp_port))


def _ftp_location(handler: BaseHandler, user: str, token: str, name: str = "") -> str:
    config = handler.services.config
    host = transfer_protocols.location_host(config.ftp_host or config.host,
                                            handler.request.host_name)
    return transfer_protocols.ftp_url(host, config.ftp_port, user, token, name)


async def _blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """Disk work that can take long on flash (fsync, hashing) runs off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


# --- receiving files ----------------------------------------------------------------------


@tornado.web.stream_request_body
class UploadHandler(ApiHandler):
    """Base of handlers whose PUT/POST body is a file, written to disk as it arrives.

    ``prepare`` authenticates as every ApiHandler does, then ``start(*path_args)``
    picks the destination with ``receive_raw`` or ``receive_multipart``, before a
    byte of the body is read: a refused upload (401, 403, 404, 409, 413 on the
    announced size) costs the client nothing, and one sent with
    ``Expect: 100-continue`` is never transmitted at all. The verb method calls
    ``received()`` once the body is complete.
    """

    json_body = False
    upload_methods: tuple[str, ...] = ("PUT", "POST")
    _write: Callable[[bytes], None] | None = None
    _reader: multipart.FilePartReader | None = None
    _upload: files.Upload | None = None

    def prepare(self) -> None:
        super().prepare()
        if self.request.method in self.upload_methods:
            self.start(*self.path_args)
        elif self.request.method in ("POST", "PUT", "PATCH"):
            raise tornado.web.HTTPError(405)  # before any body is read, let alone stored

    def start(self, *path_args: str) -> None:
        raise NotImplementedError

    @property
    def overwrite(self) -> bool:
        return self.get_query_argument("overwrite", "0").lower() in ("1", "true", "yes")

    def receive_raw(self, target: files.FileStore, name: str, overwrite: bool = False,
                    **begin: Any) -> None:
        """The body is the file itself. ``begin``: FileStore.begin's unique and quota."""
        declared = files.declared_size(self.request.headers.get("Content-Length"))
        self._allow_body(target.max_bytes)
        self._upload = target.begin(name, overwrite=overwrite, expected_size=declared, **begin)
        self._write = self._upload.write

    def receive_multipart(self, target: files.FileStore, boundary: str,
                          name_for: Callable[[str | None], str], overwrite: bool = False,
                          **begin: Any) -> None:
        """The body is a form; its file part is named by ``name_for(part filename)``."""
        limit = target.max_bytes + multipart.OVERHEAD
        declared = files.declared_size(self.request.headers.get("Content-Length"))
        if declared is not None and declared > limit:
            raise files.too_large(target.max_bytes)
        self._allow_body(limit)

        def open_file(filename: str | None) -> files.Upload:
            self._upload = target.begin(name_for(filename), overwrite=overwrite, **begin)
            return self._upload

        self._reader = multipart.FilePartReader(boundary, open_file)
        self._write = self._reader.feed

    def _allow_body(self, limit: int) -> None:
        # Tornado's own cap (max_body_size, which defaults to the server's max_buffer_size:
        # 16 MiB in server.py) would cut a firmware image off with a bare 400. Ours is
        # enforced while writing and answered with a JSON 413; the margin keeps Tornado's
        # check from firing first.
        self.request.connection.set_max_body_size(limit + multipart.OVERHEAD)
        # A firmware image over a slow site link takes longer than a JSON body may.
        self.request.connection.set_body_timeout(self.services.config.upload_timeout)

    def data_received(self, chunk: bytes) -> None:
        if self._finished or self._write is None:
            return
        try:
            self._write(chunk)
        except errors.EvedgeError as exc:
            # Answer at once; Tornado then closes the connection instead of reading
            # the rest of a body nobody wants.
            self._drop_upload()
            self.send_error(exc.status, exc_info=sys.exc_info())

    async def received(self) -> tuple[files.StoredFile, bool]:
        """The body is complete: publish the file. Returns it and whether it is new."""
        upload = self._reader.close() if self._reader is not None else self._upload
        assert upload is not None
        return await _blocking(upload.commit)

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._drop_upload()

    def on_finish(self) -> None:
        self._drop_upload()

    def _drop_upload(self) -> None:
        if self._upload is not None:
            self._upload.discard()  # a no-op once committed


# --- serving files ------------------------------------------------------------------------


def _etag(st: os.stat_result) -> str:
    """Changes whenever the file is replaced, without reading it (unlike Tornado's md5)."""
    return f'"{st.st_size:x}-{st.st_mtime_ns:x}"'


class DownloadHandler(ApiHandler, tornado.web.StaticFileHandler):
    """Serves one stored file through StaticFileHandler: Content-Length, ETag,
    Last-Modified, HEAD and Range (chargers resume interrupted downloads); errors
    are JSON like the rest of the API."""

    def initialize(self, services: Any) -> None:
        BaseHandler.initialize(self, services)
        tornado.web.StaticFileHandler.initialize(self, path="")  # root is set per request

    async def serve(self, target: files.FileStore, name: str, include_body: bool) -> None:
        path = target.existing_path(name)  # 400 for an unsafe name, 404 for a missing file
        self.root = str(target.directory)
        self._honour_if_range(path)
        await tornado.web.StaticFileHandler.get(self, name, include_body=include_body)

    def _honour_if_range(self, path: os.PathLike) -> None:
        # Tornado ignores If-Range. Without it, a charger resuming a download after the
        # file was replaced would get the new image's tail appended to the old one's head;
        # dropping Range sends the whole current file instead (RFC 9110 §13.1.5). A date
        # validator is treated as not matching, which the RFC allows.
        validator = self.request.headers.get("If-Range")
        if validator is not None and validator != _etag(os.stat(path)):
            self.request.headers.pop("Range", None)

    def compute_etag(self) -> str | None:
        return _etag(os.stat(self.absolute_path))

    def get_content_type(self) -> str:
        return "application/octet-stream"


class FirmwareDownloadHandler(DownloadHandler):
    # No authentication, on purpose: chargers fetch UpdateFirmware.location with a plain
    # GET, and OCPP 1.6 gives them no way to present a bearer token. Firmware images are
    # not secrets (vendors publish them), and a name that passes files.check_name cannot
    # reach anything outside the firmware directory.

    async def get(self, name: str, include_body: bool = True) -> None:
        """A firmware image, for chargers (GET, HEAD, Range)."""
        await self.serve(self.services.firmware, name, include_body)

    async def head(self, name: str) -> None:
        await self.get(name, include_body=False)


# --- firmware API -------------------------------------------------------------------------


class FirmwareListHandler(UploadHandler):
    permissions = {"GET": "viewer", "POST": "admin"}
    upload_methods = ("POST",)

    async def get(self) -> None:
        """Firmware files, each with the ``url`` to give UpdateFirmware as its location."""
        found = await _blocking(self.services.firmware.list)
        self.send_json({"items": [_firmware_json(self, f) for f in found]})

    def start(self) -> None:
        boundary = multipart.boundary_of(self.request.headers.get("Content-Type", ""))
        if boundary is None:
            raise errors.BadRequest("send multipart/form-data with a 'file' part, or PUT the "
                                    "raw file to /api/firmware/<name>", field="file")
        name = self.get_query_argument("name", None)
        self.receive_multipart(self.services.firmware, boundary,
                               lambda filename: files.check_name(name or filename),
                               self.overwrite)

    async def post(self) -> None:
        """Upload from the dashboard (form field ``file``; ``?name=`` overrides the file's
        own name, ``?overwrite=1`` replaces): 201 created, 200 replaced."""
        stored, created = await self.received()
        self.send_json(_firmware_json(self, stored), status=201 if created else 200)


class FirmwareFileHandler(UploadHandler):
    permissions = {"GET": "viewer", "PUT": "admin", "DELETE": "admin"}
    upload_methods = ("PUT",)

    def get(self, name: str) -> None:
        """One firmware file's size, sha256, time and download URL."""
        self.send_json(_firmware_json(self, self.services.firmware.info(name)))

    def start(self, name: str) -> None:
        self.receive_raw(self.services.firmware, name, self.overwrite)

    async def put(self, name: str) -> None:
        """Upload the raw body as ``name``: 201 created, 200 replaced (``?overwrite=1``),
        409 if it exists. Overwriting is opt-in because a charger may be downloading it."""
        stored, created = await self.received()
        self.send_json(_firmware_json(self, stored), status=201 if created else 200)

    def delete(self, name: str) -> None:
        """Remove a firmware file."""
        self.services.firmware.delete(name)
        self.set_status(204)
        self.finish()


class FirmwareLocationHandler(ApiHandler):
    permissions = {"GET": "operator"}

    async def get(self, name: str, charger_id: str) -> None:
        """The UpdateFirmware ``location`` of this file for this charger: its HTTP ``url``,
        or an ftp:// location with a login that may fetch this one file until
        ``expires_at`` (setting firmware_grant_ttl), as the charger supports."""
        self.services.firmware.info(name)  # 400 for a bad name, 404 for no such file
        charger_ids.require_known(charger_id)
        choice = _transfer_choice(self, charger_id)
        answer = {"name": name, "protocol": choice.protocol, "reason": choice.reason}
        if choice.protocol == "http":
            url = f"{self.public_base_url()}/firmware/{quote(name)}"
            self.send_json({**answer, "location": url, "expires_at": None})
            return
        ttl = self.services.config.firmware_grant_ttl
        token, expires = await self.committed(lambda: upload_grants.issue(
            charger_id, transfer_protocols.FIRMWARE_USER, utcnow(), ttl, file_name=name))
        location = _ftp_location(self, transfer_protocols.FIRMWARE_USER, token, name)
        self.send_json({**answer, "location": location, "expires_at": to_rfc3339(expires)})


# --- diagnostics --------------------------------------------------------------------------


class DiagnosticsUploadHandler(UploadHandler):
    """Where chargers upload the diagnostics GetDiagnostics asked for.

    No bearer token (OCPP 1.6 gives a charger no way to present one for a file
    transfer), so the location itself is the credential: ``/diagnostics/<charger
    id>/<token>/``, with a single-use token from ``GET /api/diagnostics/location/<id>/``
    (domain/upload_grants.py). An upload without a valid token is refused (403)
    before a byte of its body is read; one grant brings one file, never replaces an
    existing one, and counts against the charger's and the box's quotas and the
    free-space floor. Nothing uploaded is ever executed or served without
    authentication.

    Any method, any shape firmwares use: ``multipart/form-data`` (the part named
    ``file``, or else the first file part), or the raw body; the name comes from
    the URL, else the part's filename, else a generated one (docs/decisions.md D17).
    """

    _grant: str | None = None

    def start(self, charger_id: str, token: str = "", name: str | None = None) -> None:
        charger_ids.check_charger_id(charger_id, "charger_id")
        charger_ids.require_known(charger_id)
        diagnostics = self.services.diagnostics
        grant = upload_grants.valid(token, charger_id, "diagnostics", utcnow())
        if grant is None:
            raise errors.Forbidden("this location is not one the box handed out, or it was "
                                   "used already or expired; send GetDiagnostics again")
        if not diagnostics.claim(grant):
            raise errors.Conflict("an upload to this location is already in progress")
        self._grant = grant
        target = diagnostics.for_charger(charger_id)
        quota = diagnostics.quota(charger_id)
        default = files.generated_diagnostics_name()
        boundary = multipart.boundary_of(self.request.headers.get("Content-Type", ""))
        if boundary is None:
            self.receive_raw(target, files.name_from_charger(name, default), unique=True,
                             quota=quota)
        else:
            self.receive_multipart(
                target, boundary,
                lambda filename: files.name_from_charger(name or filename, default),
                unique=True, quota=quota)

    async def put(self, charger_id: str, token: str = "", name: str | None = None) -> None:
        """Upload by PUT (raw body or form); 201 with the stored file."""
        await self._stored(charger_id)

    async def post(self, charger_id: str, token: str = "", name: str | None = None) -> None:
        """Upload by POST (form or raw body); 201 with the stored file."""
        await self._stored(charger_id)

    async def _stored(self, charger_id: str) -> None:
        stored, _ = await self.received()
        grant = self._grant
        await self.committed(lambda: upload_grants.redeem(grant, stored.name, utcnow()))
        self.services.events.publish_when_committed(
            self.services.committer, "charger.diagnostics_received", charger_id=charger_id,
            name=stored.name, size=stored.size)
        self.send_json(_diagnostics_json(charger_id, stored), status=201)

    def on_finish(self) -> None:
        super().on_finish()
        self._release_grant()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._release_grant()

    def _release_grant(self) -> None:
        if self._grant is not None:
            self.services.diagnostics.unclaim(self._grant)
            self._grant = None


class DiagnosticsListHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    async def get(self) -> None:
        """Received diagnostics files, newest first: ``?charger=&limit=&offset=``;
        ``X-Total-Count`` carries the total."""
        limit = self.int_argument("limit", 100, 1, 1000)
        offset = self.int_argument("offset", 0, 0, 10**9)
        charger = self.get_query_argument("charger", None)
        if charger is not None:
            charger_ids.check_charger_id(charger, "charger")
        found = await _blocking(self.services.diagnostics.list, charger)
        self.set_header("X-Total-Count", str(len(found)))
        self.send_json({"items": [_diagnostics_json(d.charger_id, d.file)
                                  for d in found[offset:offset + limit]]})


class DiagnosticsFileHandler(DownloadHandler):
    permissions = {"GET": "viewer", "HEAD": "viewer", "DELETE": "admin"}

    def prepare(self) -> None:
        super().prepare()
        # The id names a directory: one no charger can have is refused before any path
        # is built from it (a 5,000-character id was ENAMETOOLONG, a 500).
        charger_ids.check_charger_id(self.path_args[0], "charger_id")

    async def get(self, charger_id: str, name: str, include_body: bool = True) -> None:
        """Download a diagnostics file (bearer auth; HEAD and Range too)."""
        await self.serve(self.services.diagnostics.for_charger(charger_id), name, include_body)

    async def head(self, charger_id: str, name: str) -> None:
        await self.get(charger_id, name, include_body=False)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Content-Disposition", f'attachment; filename="{path}"')

    def delete(self, charger_id: str, name: str) -> None:
        """Remove a diagnostics file."""
        self.services.diagnostics.for_charger(charger_id).delete(name)
        self.set_status(204)
        self.finish()


class DiagnosticsLocationHandler(ApiHandler):
    permissions = {"GET": "operator"}

    async def get(self, charger_id: str) -> None:
        """A GetDiagnostics ``location`` that lets this charger upload one file to the box
        (a single-use token, valid for ``diagnostics_grant_ttl`` seconds): over HTTP, or
        over FTP as the charger supports."""
        charger_ids.check_charger_id(charger_id, "charger_id")
        charger_ids.require_known(charger_id)
        choice = _transfer_choice(self, charger_id)
        ttl = self.services.config.diagnostics_grant_ttl
        token, expires = await self.committed(lambda: upload_grants.issue(
            charger_id, transfer_protocols.DIAGNOSTICS_USER, utcnow(), ttl))
        if choice.protocol == "http":
            location = (f"{self.public_base_url()}/diagnostics/"
                        f"{quote(charger_id, safe='')}/{token}/")
        else:
            location = _ftp_location(self, transfer_protocols.DIAGNOSTICS_USER, token)
        self.send_json({"location": location, "expires_at": to_rfc3339(expires),
                        "protocol": choice.protocol, "reason": choice.reason})


ROUTES = [
    (r"/api/firmware/", FirmwareListHandler),
    (r"/api/firmware/([^/]+)", FirmwareFileHandler),
    (r"/api/firmware/([^/]+)/location/([^/]+)/", FirmwareLocationHandler),
    (r"/firmware/([^/]+)", FirmwareDownloadHandler),
    (r"/api/diagnostics/", DiagnosticsListHandler),
    (r"/api/diagnostics/location/([^/]+)/", DiagnosticsLocationHandler),
    (r"/api/diagnostics/([^/]+)/([^/]+)", DiagnosticsFileHandler),
    # /diagnostics/<charger>/<token>/[<name>]; the forms without a token (before grants
    # existed) reach the same handler and are refused with 403.
    (r"/diagnostics/([^/]+)/", DiagnosticsUploadHandler),
    (r"/diagnostics/([^/]+)/([^/]+)/?", DiagnosticsUploadHandler),
    (r"/diagnostics/([^/]+)/([^/]+)/([^/]+)", DiagnosticsUploadHandler),
]
