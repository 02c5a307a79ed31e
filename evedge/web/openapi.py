"""GET /api/openapi.json: an OpenAPI 3.1 document of every endpoint, built from the route table.

Paths, methods, path parameters, summaries and required roles come from the
Application's own router, the handlers' verb signatures and docstrings, and
their ``permissions``: what is served is what is documented. Bodies and
answers come from ``openapi_specs.py``. ``tests/test_openapi.py`` checks both directions
against the router and real answers against these schemas.
"""

from __future__ import annotations

import inspect
import itertools
import json
import re
import weakref
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import tornado.web
import tornado.websocket
from tornado.util import re_unescape

from .. import __version__
from .base import ApiHandler
from .commands import CommandHandler
from .openapi_specs import (INT, RESPONSES, SCHEMAS, SPECS, STR, Schema, Spec, command_components,
                            command_spec, ref)
from .request_checks import BODY_METHODS

OPENAPI_VERSION = "3.1.0"


# --- from the route table to paths ---------------------------------------------------------

class RouteError(ValueError):
    """A route the generator cannot document faithfully (fix the route or the generator)."""


_META = set(".^$*+?{}[]|()")
_INTEGER_GROUP = re.compile(r"(\[0-9\]|\\d)(\+|\{\d+(,\d+)?\})")


def _literal(raw: str) -> str | None:
    """The text a regex fragment matches, or None if it is not a plain literal."""
    if _META & set(re.sub(r"\\.", "", raw)):
        return None
    try:
        return re_unescape(raw)
    except ValueError:
        return None


@dataclass
class Group:
    regex: str
    literals: list[str] | None  # an alternation of plain words: one path each


def split_route(pattern: str) -> list[str | Group]:
    """A route regex as literal text and capturing groups (no nesting, no named groups)."""
    if pattern.endswith("$"):
        pattern = pattern[:-1]
    if pattern.endswith("/?"):
        pattern = pattern[:-2]  # documented without the optional trailing slash
    pieces: list[str | Group] = []
    text = ""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            text += pattern[i:i + 2]
            i += 2
        elif pattern[i] == "(":
            end = pattern.find(")", i)
            inner = pattern[i + 1:end]
            if end < 0 or inner.startswith("?") or "(" in inner:
                raise RouteError(f"unsupported group in route {pattern!r}")
            words = [_literal(alt) for alt in re.split(r"(?<!\\)\|", inner)]
            pieces += [_plain(text, pattern), Group(inner, None if None in words else words)]
            text, i = "", end + 1
        else:
            text += pattern[i]
            i += 1
    return [*pieces, _plain(text, pattern)]


def _plain(raw: str, pattern: str) -> str:
    text = _literal(raw)
    if text is None:
        raise RouteError(f"route {pattern!r} has a non-literal part {raw!r}")
    return text


def handler_verbs(cls: type) -> dict[str, Any]:
    """HTTP verb -> function, for the verbs evedge itself implements (not Tornado's defaults).

    A WebSocket handler's only verb is the GET of its handshake, documented by `open`.
    """
    if issubclass(cls, tornado.websocket.WebSocketHandler):
        return {"get": cls.open}
    verbs = {}
    for method in cls.SUPPORTED_METHODS:
        name = method.lower()
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is not None and owner.__module__.split(".")[0] == "evedge":
            verbs[name] = getattr(cls, name)
    return verbs


def _path_names(cls: type, verb: str, fn: Any, groups: int, pattern: str) -> list[str]:
    params = list(inspect.signature(fn).parameters.values())[1:]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    needed = [p for p in positional[groups:] if p.default is p.empty]
    if len(positional) < groups or needed:
        raise RouteError(f"{cls.__name__}.{verb} takes {len(positional)} path arguments "
                         f"but route {pattern!r} has {groups} groups")
    return [p.name for p in positional[:groups]]


@dataclass
class Route:
    path: str                       # OpenAPI template
    handler: type
    verbs: dict[str, Any]
    parameters: list[Schema]
    literals: dict[int, str]        # group index -> the word this path was expanded with
    names: dict[str, list[str]]     # verb -> its names for the groups


def routes(app: tornado.web.Application) -> list[Route]:
    """Every (path, handler, verbs) the application serves, in routing order."""
    found = []
    for rule in app.wildcard_router.rules:
        cls = rule.target
        verbs = handler_verbs(cls) if isinstance(cls, type) else {}
        if not verbs:
            continue  # Tornado's static files, the JSON 404 catch-all
        pattern = rule.matcher.regex.pattern
        pieces = split_route(pattern)
        groups = [p for p in pieces if isinstance(p, Group)]
        names = {verb: _path_names(cls, verb, fn, len(groups), pattern)
                 for verb, fn in verbs.items()}
        choices = [g.literals or [None] for g in groups]
        for words in itertools.product(*choices):
            found.append(_route(cls, verbs, pieces, names, words, pattern))
    return found


def _route(cls: type, verbs: dict[str, Any], pieces: list, names: dict[str, list[str]],
           words: tuple, pattern: str) -> Route:
    path, parameters, literals, index = "", [], {}, 0
    for piece in pieces:
        if not isinstance(piece, Group):
            path += piece
            continue
        if words[index] is not None:
            path += words[index]
            literals[index] = words[index]
        else:
            spelled = {verb_names[index] for verb_names in names.values()}
            if len(spelled) > 1:
                raise RouteError(f"{cls.__name__}'s verbs name group {index + 1} of "
                                 f"{pattern!r} differently: {sorted(spelled)}")
            name = spelled.pop()
            path += "{" + name + "}"
            parameters.append({"name": name, "in": "path", "required": True,
                               "schema": _group_schema(piece.regex)})
        index += 1
    return Route(path, cls, verbs, parameters, literals, names)


def _group_schema(regex: str) -> Schema:
    """What a path group matches: digits (``[0-9]{1,18}``: 0..10^18-1), or a non-empty
    string (an empty one is another path)."""
    digits = _INTEGER_GROUP.fullmatch(regex)
    if digits is None:
        return {**STR, "minLength": 1}
    schema = {**INT, "minimum": 0}
    bounds = re.fullmatch(r"\{(\d+)(?:,(\d+))?\}", digits.group(2))
    if bounds is not None:
        schema["maximum"] = 10 ** int(bounds.group(2) or bounds.group(1)) - 1
    return schema


# --- operations --------------------------------------------------------------------------

def _markdown(text: str) -> str:
    return text.replace("``", "`")


def _docstring(fn: Any) -> tuple[str | None, str]:
    """(first paragraph as one line, the rest), with reST ``code`` as Markdown `code`."""
    doc = _markdown(inspect.getdoc(fn) or "")
    first, _, rest = doc.partition("\n\n")
    return (" ".join(first.split()) or None), rest.strip()


def _content(value: Any) -> dict[str, Any]:
    """A schema becomes JSON content; a {media type: ...} mapping is used as it is."""
    if value is None or value == {}:
        return {}
    if isinstance(value, dict) and all("/" in key for key in value):
        return value
    return {"application/json": {"schema": value}}


def _response(status: int, value: Any, headers: dict[str, Schema] | None = None) -> Schema:
    response: Schema = {"description": HTTPStatus(status).phrase}
    content = _content(value)
    if content:
        response["content"] = content
    if headers and 200 <= status < 300:
        response["headers"] = headers
    return response


def _spec_for(route: Route, fn: Any) -> Spec | None:
    """The verb's Spec; a route expanded into one path per word may have one per word,
    ``SPECS["Class.verb[word]"]`` (the words joined by "/" when there are several)."""
    if route.handler is CommandHandler and route.literals:  # one path per command
        return command_spec(next(iter(route.literals.values())))
    if route.literals:
        words = "/".join(route.literals[index] for index in sorted(route.literals))
        own = SPECS.get(f"{fn.__qualname__}[{words}]")
        if own is not None:
            return own
    return SPECS.get(fn.__qualname__)


def _error_name(status: int) -> str:
    return HTTPStatus(status).phrase.replace(" ", "")


def error_responses() -> dict[str, Schema]:
    return {_error_name(status): {"description": text, "content": {
        "application/json": {"schema": ref("Error")}}} for status, text in RESPONSES.items()}


def operation(route: Route, verb: str, fn: Any) -> Schema:
    spec = _spec_for(route, fn)
    summary, description = _docstring(fn)
    if spec is not None and spec.summary:
        summary = spec.summary
    if spec is not None and spec.action:
        summary = f"{spec.action}: {summary}"
    op: Schema = {
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{verb}{route.path}").strip("_"),
        "tags": [route.handler.__module__.rsplit(".", 1)[-1]],
        "summary": summary or f"{verb.upper()} {route.path}",
    }
    if spec is not None and spec.action:
        op["x-ocpp-action"] = spec.action
    if route.parameters or (spec and spec.query):
        op["parameters"] = [*route.parameters, *(spec.query if spec else ())]
    notes = [description, spec.note if spec else None]
    notes += [f"Here `{route.names[verb][index]}` is `{word}`."
              for index, word in route.literals.items()
              if not route.names[verb][index].startswith("_") and not (spec and spec.action)]
    notes.append(_security(op, route, verb, spec))
    if spec is None:
        op["x-evedge-undocumented"] = True  # tests/test_openapi.py refuses this
        op["responses"] = {"200": _response(200, None)}
    else:
        if spec.body is not None:
            op["requestBody"] = {"required": spec.body_required, "content": _content(spec.body)}
        op["responses"] = _responses(route, verb, spec, _role(route, verb))
    if any(notes):
        op["description"] = "\n\n".join(note for note in notes if note)
    return op


def _role(route: Route, verb: str) -> str | None:
    """The least role the handler's `permissions` ask for; None: no bearer token needed."""
    if not issubclass(route.handler, ApiHandler):
        return None
    return route.handler.permissions.get(verb.upper())


def _security(op: Schema, route: Route, verb: str, spec: Spec | None) -> str | None:
    """Set the operation's security (and x-evedge-role); returns a note for people."""
    role = _role(route, verb)
    if role:
        op["security"], op["x-evedge-role"] = [{"bearer": []}], role
        return f"Needs a bearer token of the `{role}` role or higher."
    if spec and spec.bearer:
        op["security"] = [{"bearer": []}]
        return "Needs a bearer token (any role)."
    if issubclass(route.handler, tornado.websocket.WebSocketHandler):
        op["security"] = [{}, {"chargerBasic": []}]  # Basic auth only for chargers with one
    else:
        op["security"] = []  # no authentication, on purpose
    return None


def _responses(route: Route, verb: str, spec: Spec, role: str | None) -> dict[str, Schema]:
    responses = {status: _response(status, value, spec.headers)
                 for status, value in spec.ok.items()}
    errors = set(spec.errors) | ({401, 403} if role else {401} if spec.bearer else set())
    errors |= _body_errors(route.handler, verb) | _input_errors(route, verb)
    for status in errors:
        if status in spec.error_text or not issubclass(route.handler, ApiHandler):
            # Tornado's own handlers answer errors in HTML, not as JSON `Error`.
            responses[status] = {"description": spec.error_text.get(status, RESPONSES[status])}
        else:
            responses[status] = {"$ref": f"#/components/responses/{_error_name(status)}"}
    return {str(status): responses[status] for status in sorted(responses)}


def _input_errors(route: Route, verb: str) -> set[int]:
    """400 and 404 any operation with path parameters or a JSON body can answer.

    A path value the route does not match (``-1`` for a digits group) reaches no
    handler: 404. One the database cannot hold (NUL, a lone surrogate) or that is not
    UTF-8 is a 400 naming it, as is a JSON body that is not a JSON object
    (``ApiHandler.prepare``; domain/text_checks.py).
    """
    found = {400, 404} if route.parameters else set()
    handler = route.handler
    if (issubclass(handler, ApiHandler) and verb.upper() in BODY_METHODS
            and handler.json_body is not False):
        found.add(400)
    return found


def _body_errors(handler: type, verb: str) -> set[int]:
    """413 and 415 of ApiHandler.prepare: a body of the wrong type, or too large for JSON."""
    if not issubclass(handler, ApiHandler) or verb.upper() not in BODY_METHODS:
        return set()
    found = set()
    if handler.body_types is not None or handler.json_body is True:
        found.add(415)
    if handler.json_body is not False:
        found.add(413)
    return found


INFO = """\
The REST API of evedge, an OCPP 1.6J Central System, plus the endpoints chargers use.

* JSON in and out, snake_case keys, RFC 3339 UTC times; paths under `/api/` end in `/`.
* Errors answer `{"error": "...", "field": "..."}` (field only when one input is at fault).
* Log in at `/api/auth/login/` and send `Authorization: Bearer <access>`. Roles rank
  `viewer` < `operator` < `admin`; each operation names the least role it needs
  (`x-evedge-role`).
* Lists page with `?limit=&offset=`.
* Bodies of POST, PUT, PATCH and DELETE are `application/json` (415 otherwise; file
  uploads and the CSV import name their types) and at most `max_json_body_bytes` (413;
  the site model `max_site_model_bytes`).
  A request without a body needs no type.
* The box answers only Host headers that are an IP address, `localhost`, its own names or
  a name in the setting `allowed_hosts`; any other gets 400 (DNS rebinding).
* Chargers connect to the OCPP-J WebSocket `ws[s]://<box>/ocpp/<charge_point_id>` with
  subprotocol `ocpp1.6` (listed below as the GET of its handshake), fetch firmware from
  `/firmware/<name>` and upload diagnostics to the single-use location
  `/diagnostics/<charge_point_id>/<token>/` GetDiagnostics gave them, all without bearer
  tokens.
"""


def build_document(app: tornado.web.Application) -> Schema:
    """The OpenAPI document of everything `app` serves."""
    paths: dict[str, Schema] = {}
    tags: dict[str, str] = {}
    for route in routes(app):
        item = paths.setdefault(route.path, {})
        for verb, fn in route.verbs.items():
            if verb in item:
                raise RouteError(f"{verb.upper()} {route.path} is routed twice")
            item[verb] = operation(route, verb, fn)
        module = inspect.getmodule(route.handler)
        tags.setdefault(module.__name__.rsplit(".", 1)[-1],
                        _markdown((inspect.getdoc(module) or "").split("\n")[0]))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "evedge", "version": __version__, "description": INFO},
        "tags": [{"name": name, "description": text} for name, text in tags.items()],
        "paths": paths,
        "components": {
            "schemas": {**SCHEMAS, **command_components()},
            "responses": error_responses(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "access token from /api/auth/login/"},
                "chargerBasic": {"type": "http", "scheme": "basic",
                                 "description": "OCPP 1.6 security profile 1: the charge "
                                                "point id and its password"},
            },
        },
    }


_documents: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def document_json(app: tornado.web.Application) -> bytes:
    """The document as sent, built on the first request and kept for the app's lifetime."""
    cached = _documents.get(app)
    if cached is None:
        cached = _documents[app] = json.dumps(build_document(app), separators=(",", ":")).encode()
    return cached


class OpenApiHandler(ApiHandler):
    def get(self) -> None:
        """This document: OpenAPI 3.1 for every endpoint, built from the route table."""
        self.finish(document_json(self.application))


ROUTES = [(r"/api/openapi\.json", OpenApiHandler)]
