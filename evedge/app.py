"""The URL table: which handler answers which path. Nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

import tornado.web

from . import paths
from .handlers import auth, chargers, health, transactions
from .handlers.base import NotFoundApiHandler
from .handlers.ocpp_socket import OcppSocketHandler

if TYPE_CHECKING:
    from .services import Services


def make_app(services: Services) -> tornado.web.Application:
    config = services.config
    deps = {"services": services}
    routes = [
        (r"/ocpp/([^/]+)/?", OcppSocketHandler, deps),
        (r"/healthz", health.HealthHandler, deps),
        (r"/api/auth/register/", auth.RegisterHandler, deps),
        (r"/api/auth/login/", auth.LoginHandler, deps),
        (r"/api/auth/logout/", auth.LogoutHandler, deps),
        (r"/api/auth/refresh/", auth.RefreshHandler, deps),
        (r"/api/auth/me/", auth.MeHandler, deps),
        (r"/api/chargers/", chargers.ChargersHandler, deps),
        (r"/api/chargers/start/([^/]+)/", chargers.RemoteStartHandler, deps),
        (r"/api/chargers/([^/]+)/", chargers.ChargerHandler, deps),
        (r"/api/transactions/", transactions.TransactionsHandler, deps),
        (r"/api/transactions/([0-9]{1,18})/", transactions.TransactionHandler, deps),
        (r"/api/.*", NotFoundApiHandler, deps),
    ]
    return tornado.web.Application(
        routes,
        template_path=paths.templates(),
        static_path=paths.static(),
        websocket_ping_interval=config.ws_ping_interval,
        websocket_ping_timeout=config.ws_ping_timeout,
        websocket_max_message_size=config.max_message_size,
        xheaders=False,
    )
