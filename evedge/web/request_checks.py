"""Checks made once for every request, before any handler runs and before the body is
read: the Host header, the body's media type, and the size a JSON body announces.

``CheckedApplication.get_handler_delegate`` is where Tornado turns a routed request into
its handler, for every route: the API, the pages, static files, the 404s and both
WebSockets. A refused request goes to ``RefusalHandler`` instead, which streams (so
Tornado reads no body for it) and answers at once.
"""

from __future__ import annotations

import json
from typing import Any

import tornado.httputil
import tornado.web

from ..domain.hosts import AllowedHosts

BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def declared_length(request: tornado.httputil.HTTPServerRequest) -> int:
    """The body size a request announces (Content-Length; Tornado refused bad values)."""
    return int(request.headers.get("Content-Length") or 0)


def has_body(request: tornado.httputil.HTTPServerRequest) -> bool:
    return (declared_length(request) > 0
            or "chunked" in request.headers.get("Transfer-Encoding", "").lower())


def media_type(request: tornado.httputil.HTTPServerRequest) -> str:
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


def reads_json(handler: type) -> bool:
    """Handlers whose body the base class parses as JSON (ApiHandler.json_body). Those
    that read their own body (uploads, the CSV import) set their own limits."""
    return getattr(handler, "json_body", False) is True


@tornado.web.stream_request_body
class RefusalHandler(tornado.web.RequestHandler):
    def initialize(self, status: int, message: str, as_json: bool,
                   extra: dict[str, Any] | None = None) -> None:
        self.refusal = (status, message, as_json, extra or {})

    def prepare(self) -> None:
        status, message, as_json, extra = self.refusal
        self.set_status(status)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        if as_json:
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json.dumps({"error": message, **extra}))
        else:
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(message + "\n")

    def data_received(self, chunk: bytes) -> None:
        pass  # never wanted; Tornado closes the connection after the answer


class CheckedApplication(tornado.web.Application):
    def __init__(self, handlers: list, hosts: AllowedHosts, max_json_body_bytes: int,
                 **settings: Any):
        super().__init__(handlers, **settings)
        self.hosts = hosts
        self.max_json_body_bytes = max_json_body_bytes

    def get_handler_delegate(self, request: tornado.httputil.HTTPServerRequest,
                             target_class: type[tornado.web.RequestHandler],
                             target_kwargs: dict[str, Any] | None = None,
                             path_args: list[bytes] | None = None,
                             path_kwargs: dict[str, bytes] | None = None) -> Any:
        refusal = self.refusal(request, target_class)
        if refusal is not None:
            return super().get_handler_delegate(request, RefusalHandler, refusal)
        return super().get_handler_delegate(request, target_class, target_kwargs, path_args,
                                            path_kwargs)

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        # A client ignoring Retry-After gets thousands of 429s a second, one access-log line
        # each (4xx log at WARNING): measured, a third of the loop's time, and a journal
        # filled at the attacker's pace. The throttle logs each block once (login_guard.py).
        if handler.get_status() != 429:
            super().log_request(handler)

    def refusal(self, request: tornado.httputil.HTTPServerRequest,
                handler: type) -> dict[str, Any] | None:
        """RefusalHandler's arguments when the request must not reach ``handler``."""
        if not self.hosts.allows(request.host):
            return {"status": 400, "as_json": request.path.startswith("/api/"),
                    "message": f"this box does not answer to the host name {request.host!r} "
                               "(setting allowed_hosts)", "extra": {"field": "Host"}}
        if request.method not in BODY_METHODS or not has_body(request):
            return None  # a request without a body (a logout, a DELETE) is no form post
        # Before Tornado parses a form body for it, and before auth: a cross-site form or a
        # text/plain POST (neither needs a CORS preflight) reaches no handler at all.
        accepted = getattr(handler, "accepted_body_types", lambda: None)()
        media = media_type(request)
        if accepted is not None and media not in accepted:
            return {"status": 415, "as_json": True,
                    "message": f"send the body as {' or '.join(accepted)} (Content-Type), not "
                               f"{media or 'without a type'}", "extra": {"field": "Content-Type"}}
        limit = self.max_json_body_bytes
        if reads_json(handler) and declared_length(request) > limit:
            return {"status": 413, "as_json": True,
                    "message": f"the body is larger than {limit} bytes, the limit for JSON "
                               "(setting max_json_body_bytes)", "extra": {"limit_bytes": limit}}
        return None
