"""The URL table: which handler answers which path. Nothing else.

Each handler module declares its own ``ROUTES`` (path regex, handler class);
the order below matters only for the catch-alls at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import tornado.web

from . import paths
from .handlers import (auth, chargers, commands, dashboard_socket, files, health, id_tags,
                       openapi, pages, reports, transactions, users)
from .handlers.base import NotFoundApiHandler
from .handlers.ocpp_socket import OcppSocketHandler

if TYPE_CHECKING:
    from .services import Services

MODULES = (health, openapi, auth, users, id_tags, files, transactions, reports, commands,
           chargers, pages, dashboard_socket)


def make_app(services: Services) -> tornado.web.Application:
    config = services.config
    deps = {"services": services}
    routes = [(r"/ocpp/([^/]+)/?", OcppSocketHandler, deps)]
    for module in MODULES:
        routes += [(path, handler, deps) for path, handler in module.ROUTES]
    routes.append((r"/api/.*", NotFoundApiHandler, deps))
    return tornado.web.Application(
        routes,
        template_path=paths.templates(),
        static_path=paths.static(),
        websocket_ping_interval=config.ws_ping_interval,
        websocket_ping_timeout=config.ws_ping_timeout,
        websocket_max_message_size=config.max_message_size,
        # No body limit here: the HTTPServer's max_buffer_size (server.py) caps the bodies
        # handlers read into memory, and upload handlers stream to disk and set their own
        # limit per request (handlers/files.py, UploadHandler).
    )
