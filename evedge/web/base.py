"""Shared handler plumbing: services injection, JSON bodies and errors, bearer auth, roles.

The Host header, the body's media type (``ApiHandler.body_types``) and the announced size
of JSON bodies are checked before any handler runs and before the body is read
(request_checks.py); ``ApiHandler.prepare`` checks a JSON body's real size and that it is
a JSON object.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
import logging
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import tornado.concurrent
import tornado.web

from .. import errors
from ..domain import text_checks
from ..storage.group_commit import CommitFailed, StorageError
from ..storage.models import User
from ..timeutil import parse_api_time

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

ROLE_RANK = {"viewer": 0, "operator": 1, "admin": 2}
JSON_TYPES = ("application/json",)


T = TypeVar("T")


class BaseHandler(tornado.web.RequestHandler):
    def initialize(self, services: Services) -> None:
        self.services = services

    async def committed(self, work: Callable[[], T]) -> T:
        """Run a write in the group commit and return its result once it is durable: a
        REST answer, like an OCPP one, is sent only after its data is committed."""
        committer = self.services.committer
        result = committer.run(work)
        await committer.durable()
        return result

    def public_base_url(self) -> str:
        """This box as the client reached it (``http://192.168.1.5:8000``), for the URLs
        the box hands out: firmware ``url``, diagnostics ``location``. Safe to echo: the
        Host was checked against allowed_hosts before any handler ran (request_checks.py),
        so it cannot carry a rebinding attacker's name."""
        return f"{self.request.protocol}://{self.request.host}"


@functools.lru_cache(maxsize=None)
def parameter_names(verb: Callable[..., Any]) -> list[str]:
    """The positional parameter names of a handler's verb method, after ``self``."""
    parameters = list(inspect.signature(verb).parameters.values())[1:]
    return [p.name for p in parameters
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def parse_json_object(raw: bytes, limit: int, setting: str) -> dict[str, Any]:
    """A request body as a JSON object, or the 4xx that says why not (413 over ``limit``,
    the size the setting named ``setting`` allows)."""
    if len(raw) > limit:  # chunked, so no Content-Length said so before
        raise errors.PayloadTooLarge(f"the body is larger than {limit} bytes, the limit for "
                                     f"JSON (setting {setting})", limit_bytes=limit)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise errors.BadRequest("request body is not valid JSON") from None
    except RecursionError:  # json's C decoder recurses once per [ or {
        raise errors.BadRequest("request body is not valid JSON: nested too deeply") \
            from None
    if not isinstance(body, dict):
        raise errors.BadRequest("request body must be a JSON object")
    return body


class ApiHandler(BaseHandler):
    """JSON in, JSON out; errors as ``{"error": ..., "field": ...}``; bearer tokens.

    ``permissions`` maps an HTTP method to the least role allowed to call it;
    a method missing from it needs no authentication at all.
    """

    permissions: dict[str, str] = {}
    # False for handlers that read their body themselves (CSV, file uploads, streaming).
    json_body = True
    # Media types a POST/PUT/PATCH/DELETE body may have; any other is a 415, so that a
    # cross-site form or a text/plain POST (neither needs a CORS preflight) reaches no
    # handler. None: JSON for JSON handlers, any type for those that read their body
    # themselves (json_body False: the streamed uploads, whose bytes are the file).
    body_types: tuple[str, ...] | None = None
    body: dict[str, Any]
    user: User | None = None
    _held: tornado.concurrent.Future | None = None  # the answer waiting for a commit

    # A write made with ``atomic()`` while the chargers' group transaction is open is a
    # savepoint inside it: durable only when that batch commits. So the answer to a request
    # that may write waits for the commit, and becomes a 503 if the batch was rolled back
    # (docs/conventions.md, one write discipline): nothing acknowledged is ever lost.
    _WRITING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    def prepare(self) -> None:
        role = self.permissions.get(self.request.method)
        if role is not None:
            self.user = self.services.accounts.authenticate(self.bearer_token())
            if ROLE_RANK[self.user.role] < ROLE_RANK[role]:
                raise errors.Forbidden(f"this needs the {role} role; you are {self.user.role}")
        for name, value in zip(self._path_names(), self.path_args):
            text_checks.require_storable(value, name)
        self.body = self._json_body()
        text_checks.require_storable_json(self.body)

    def _path_names(self) -> list[str]:
        """The names of the path parameters, as the verb method calls them (the OpenAPI
        document's names too): ``charger_id``, ``name``..."""
        verb = getattr(type(self), self.request.method.lower(), None)
        return parameter_names(verb) if verb is not None else []

    @classmethod
    def accepted_body_types(cls) -> tuple[str, ...] | None:
        """What ``body_types`` means for this handler (request_checks.py enforces it)."""
        if cls.body_types is not None:
            return cls.body_types
        return JSON_TYPES if cls.json_body is True else None

    def bearer_token(self) -> str:
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.Unauthorized("missing bearer token (Authorization: Bearer <access>)")
        return token.strip()

    def _json_body(self) -> dict[str, Any]:
        if (not self.json_body or self.request.method not in ("POST", "PUT", "PATCH")
                or not self.request.body):
            return {}
        return parse_json_object(self.request.body, self.services.config.max_json_body_bytes,
                                 "max_json_body_bytes")

    def finish(self, chunk: Any = None) -> Any:
        if self._held is not None:  # Tornado's _execute finishes again after the method
            return self._held
        committer = self.services.committer
        if self._finished or self.request.method not in self._WRITING \
                or not committer.in_transaction:
            return super().finish(chunk)
        if chunk is not None:
            self.write(chunk)
        self._held = tornado.concurrent.Future()
        committer.when_committed(self._release, self._lost)
        return self._held

    def _release(self) -> None:
        if self._finished:  # cannot happen while held; never leave the future pending
            self._held.set_result(None)
        else:
            tornado.concurrent.chain_future(super().finish(), self._held)

    def _lost(self) -> None:
        """The batch holding this request's writes was rolled back: whatever the handler
        meant to answer, a success would be a lie."""
        if self.get_status() < 400:
            self.clear()
            self.set_status(503)
            self.set_header("Retry-After", "1")
            self.write(json.dumps({"error": "the database could not store this; nothing "
                                            "was changed, try again"}))
        self._release()

    def send_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(value, separators=(",", ":"), default=str))

    # --- query parameters ---------------------------------------------------------------

    def int_argument(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise errors.BadRequest(f"{name} must be an integer", field=name) from None
        if not low <= value <= high:
            raise errors.BadRequest(f"{name} must be between {low} and {high}", field=name)
        return value

    def bool_argument(self, name: str) -> bool | None:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return None
        if raw.lower() in ("1", "true", "yes"):
            return True
        if raw.lower() in ("0", "false", "no"):
            return False
        raise errors.BadRequest(f"{name} must be true or false", field=name)

    def time_argument(self, name: str) -> dt.datetime | None:
        raw = self.get_query_argument(name, None)
        if not raw:
            return None
        try:
            return parse_api_time(raw)
        except ValueError as exc:
            raise errors.BadRequest(f"{name}: {exc}", field=name) from None

    # --- errors ---------------------------------------------------------------------------

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, errors.EvedgeError):
            self.set_status(exc.status)
            if isinstance(exc, errors.Unauthorized):
                self.set_header("WWW-Authenticate", 'Bearer realm="evedge"')
            if isinstance(exc, (errors.TooManyRequests, errors.Busy)):
                self.set_header("Retry-After", str(exc.retry_after))
            body = exc.as_json()
        elif isinstance(exc, (CommitFailed, StorageError)):
            # A write lock held elsewhere (a backup, an admin's sqlite3), a full disk: the
            # request changed nothing and may be retried (storage logged the cause once).
            self.set_status(503)
            self.set_header("Retry-After", "1")
            body = {"error": "the database cannot take writes right now; nothing was "
                             "changed, try again"}
        elif isinstance(exc, tornado.web.HTTPError):
            body = {"error": exc.reason or self._reason}
        else:
            body = {"error": self._reason}
        self.finish(json.dumps(body))

    def log_exception(self, typ, value, tb) -> None:  # type: ignore[override]
        if isinstance(value, (CommitFailed, StorageError)):
            log.warning("%s %s -> 503: %s: %s", self.request.method, self.request.path,
                        typ.__name__, value)
            return
        if isinstance(value, errors.EvedgeError):
            log.debug("%s %s -> %s: %s", self.request.method, self.request.path, value.status,
                      value.message)
            return
        super().log_exception(typ, value, tb)


class NotFoundApiHandler(ApiHandler):
    """JSON 404 for unknown paths under /api/."""

    def prepare(self) -> None:
        raise errors.NotFound(f"no such endpoint: {self.request.path}")
