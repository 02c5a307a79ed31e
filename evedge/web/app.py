"""The URL table: which handler answers which path. Nothing else.

Each handler module declares its own ``ROUTES`` (path regex, handler class);
the order below matters only for the catch-alls at the end. The Application checks
every request's Host and announced JSON size before routing it (request_checks.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import tornado.web

from .. import paths
from . import (accounts, chargers, commands, commissioning, dashboard_socket, files, health,
               id_tags, local_lists, metrics, openapi, pages, reports, site, transactions)
from .base import NotFoundApiHandler
from .ocpp_socket import OcppSocketHandler
from .request_checks import CheckedApplication

if TYPE_CHECKING:
    from ..services import Services

MODULES = (health, metrics, openapi, accounts, id_tags, local_lists, files, transactions,
           reports, commands, chargers, pages, site, commissioning, dashboard_socket)


def make_app(services: Services) -> tornado.web.Application:
    config = services.config
    deps = {"services": services}
    routes = [(r"/ocpp/([^/]+)/?", OcppSocketHandler, deps)]
    for module in MODULES:
        routes += [(path, handler, deps) for path, handler in module.ROUTES]
    routes.append((r"/api/.*", NotFoundApiHandler, deps))
    return CheckedApplication(
        routes,
        hosts=services.hosts,
        max_json_body_bytes=config.max_json_body_bytes,
        template_path=paths.templates(),
        static_path=paths.static(),
        websocket_ping_interval=config.ws_ping_interval,
        websocket_ping_timeout=config.ws_ping_timeout,
        websocket_max_message_size=config.max_message_size,
        # No body limit here: the HTTPServer's max_buffer_size (server.py) caps the bodies
        # handlers read into memory, and upload handlers stream to disk and set their own
        # limit per request (web/files.py, UploadHandler).
    )
