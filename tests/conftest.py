"""Test fixtures: the real evedge server on an unused loopback port, and clients for it.

Every test gets its own data directory (a real SQLite file), the services that
production builds (``build_services``), and the URL table of ``make_app``. HTTP
goes through Tornado's client, OCPP through real WebSocket clients.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import socket
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.testing
import websockets
from hypothesis import settings
from ocpp.v16 import ChargePoint

from evedge.config import Config
from evedge.server import http_server
from evedge.services import Services, build_services
from evedge.web.connection_gate import GatedHTTPServer

# Every property test draws the same cases on every run, so make test and CI are
# deterministic: a case a random draw happened on in CI once failed an unrelated change.
# HYPOTHESIS_PROFILE=explore draws new cases (and the -m slow fuzz rounds always do); what
# they find becomes a test of its own.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


@dataclass
class Response:
    status: int
    body: Any
    headers: Any


class Api:
    """A tiny JSON client for the REST API over real HTTP.

    ``setup_code`` reads the running server's one-time setup code (None once the box has
    its admin): the tests take it where an installer reads it off the console, from the
    server's own Accounts.
    """

    def __init__(self, base: str, setup_code: Callable[[], str | None] | None = None):
        self.base = base
        self.client = tornado.httpclient.AsyncHTTPClient()
        self.setup_code = setup_code or (lambda: None)

    async def request(self, method: str, path: str, json_body: Any = None, token: str | None = None,
                      raw: bytes | None = None, headers: dict | None = None) -> Response:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        body = raw if raw is not None else (None if json_body is None else json.dumps(json_body))
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        response = await self.client.fetch(self.base + path, method=method, body=body,
                                           headers=all_headers, raise_error=False,
                                           request_timeout=20)
        text = response.body.decode() if response.body else ""
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return Response(response.code, parsed, response.headers)

    async def get(self, path: str, token: str | None = None) -> Response:
        return await self.request("GET", path, token=token)

    async def post(self, path: str, json_body: Any = None, token: str | None = None) -> Response:
        return await self.request("POST", path, json_body, token=token)

    async def register(self, username: str = "alice", password: str = "correct-horse") -> dict:
        """Self-registration: the first admin with the setup code while the box has none;
        later accounts as ``registration`` allows (open: registration_role)."""
        body = {"username": username, "password": password}
        code = self.setup_code()
        if code is not None:
            body["setup_code"] = code
        response = await self.post("/api/auth/register/", body)
        assert response.status == 201, response.body
        return response.body

    async def login(self, username: str, password: str) -> str:
        """An access token for an existing account."""
        response = await self.post("/api/auth/login/",
                                   {"username": username, "password": password})
        assert response.status == 200, response.body
        return response.body["access"]


def free_port() -> int:
    """A TCP port nothing listens on now (for servers started as separate processes)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def fetch(url: str, **kwargs: Any) -> tornado.httpclient.HTTPResponse:
    """A raw HTTP exchange (bytes, any status); the Api helper is for JSON."""
    return await tornado.httpclient.AsyncHTTPClient().fetch(url, raise_error=False,
                                                            request_timeout=20, **kwargs)


async def ocpp_call(ws, frame: Any, timeout: float = 5) -> list:
    """Send one OCPP-J frame on a websockets connection and read the next frame."""
    await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


@dataclass
class Running:
    port: int
    services: Services
    config: Config
    api: Api
    http: GatedHTTPServer

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# PostgreSQL portability run (docs/architecture.md §7): with EVEDGE_TEST_POSTGRES set to a
# server URL (e.g. postgresql://postgres@127.0.0.1:5433/postgres), every test gets its
# own fresh database there instead of a SQLite file. Needs psycopg2; off by default.
TEST_POSTGRES = os.environ.get("EVEDGE_TEST_POSTGRES", "")


def _postgres_database(data_dir) -> str:
    """A database of its own per data directory (a restart in a test reuses it)."""
    import psycopg2  # only for the opt-in PostgreSQL run

    name = "evedge_" + hashlib.sha1(str(data_dir).encode()).hexdigest()[:16]
    admin = psycopg2.connect(TEST_POSTGRES)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return TEST_POSTGRES.rsplit("/", 1)[0] + "/" + name


def make_config(tmp_path, **overrides: Any) -> Config:
    # Cheap bcrypt (cost 4) through Config's private test switch: production cannot have it.
    # "box" is the name the raw-HTTP tests send as Host (an allowed_hosts entry).
    values = dict(data_dir=tmp_path, jwt_secret=TEST_SECRET, bcrypt_rounds=4,
                  _cheap_bcrypt_for_tests=True, allowed_hosts="box",
                  command_timeout=3.0, takeover_probe_timeout=1.0, log_level="info")
    values.update(overrides)
    if TEST_POSTGRES and "database_url" not in overrides:
        values["database_url"] = _postgres_database(values["data_dir"])
    return Config(**values)


def pytest_collection_modifyitems(config, items) -> None:
    if TEST_POSTGRES:
        skip = pytest.mark.skip(reason="checks the SQLite file itself (EVEDGE_TEST_POSTGRES run)")
        for item in items:
            if item.get_closest_marker("sqlite_only"):
                item.add_marker(skip)


@pytest.fixture
async def start_server(tmp_path) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    """Factory: ``await start_server(**config_overrides)`` -> a running server."""
    servers = Servers(tmp_path)
    yield servers.start
    await servers.close()


class Servers:
    """Real servers on unused ports, as ``start_server`` starts them (also for fixtures on
    another event loop, tests/browser_kit.py)."""

    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path
        self.started: list[tuple[tornado.httpserver.HTTPServer, Services]] = []

    async def start(self, **overrides: Any) -> Running:
        config = make_config(self.tmp_path, **overrides)
        services = await build_services(config)
        sock, port = tornado.testing.bind_unused_port()
        http = http_server(config, services)  # the server production runs, admission gate included
        http.add_sockets([sock])
        self.started.append((http, services))
        api = Api(f"http://127.0.0.1:{port}", lambda: services.accounts.setup_code)
        return Running(port, services, config, api, http)

    async def close(self) -> None:
        for http, services in self.started:
            http.stop()
            await services.close()
            await asyncio.wait_for(http.close_all_connections(), 5)


@pytest.fixture
async def server(start_server) -> Running:
    return await start_server()


@pytest.fixture
async def api(server) -> Api:
    return server.api


# The accounts tests log in with: the first account (admin) and one per other role.
ROLE_USERS = {"admin": ("alice", "correct-horse"), "operator": ("oscar", "operator-pass"),
              "viewer": ("vera", "viewer-pass")}


@pytest.fixture
async def token(api) -> str:
    """The access token of the first admin (made with the setup code)."""
    return (await api.register(*ROLE_USERS["admin"]))["access"]


@pytest.fixture
async def tokens(api, token) -> dict[str, str]:
    """Access tokens per role: ``tokens["admin"]``, ``["operator"]``, ``["viewer"]``."""
    found = {"admin": token}
    for role in ("operator", "viewer"):
        username, password = ROLE_USERS[role]
        created = await api.post("/api/users/", {"username": username, "password": password,
                                                 "role": role}, token=token)
        assert created.status == 201, created.body
        found[role] = await api.login(username, password)
    return found


class RawCharger:
    """A raw OCPP-J client: send any frame, read the next one (for malformed input)."""

    def __init__(self, ws):
        self.ws = ws

    async def send(self, frame: Any) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 5) -> Any:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def call(self, frame: Any, timeout: float = 5) -> Any:
        await self.send(frame)
        return await self.recv(timeout)


@pytest.fixture
async def raw_charger(server):
    """Connect raw OCPP clients: ``async with raw_charger("CP-1") as cp``."""
    import contextlib

    @contextlib.asynccontextmanager
    async def connect(charger_id: str, subprotocols=("ocpp1.6",), url: str | None = None,
                      **kwargs):
        async with websockets.connect(f"{url or server.ocpp_url}/{charger_id}",
                                      subprotocols=list(subprotocols) or None,
                                      open_timeout=5, **kwargs) as ws:
            yield RawCharger(ws)

    return connect


@pytest.fixture
async def library_charger(server):
    """Connect an ``ocpp.v16.ChargePoint`` client (schema-validating) over websockets.

    ``async with library_charger("CP-1", cls=MyChargePoint) as cp`` runs ``cp.start()``
    in the background for the duration of the block.
    """
    return library_chargers(server)


def library_chargers(server: Running):
    """``library_charger``'s connect function, for ``server``."""
    import contextlib

    @contextlib.asynccontextmanager
    async def connect(charger_id: str, cls: type = ChargePoint, **kwargs):
        async with websockets.connect(f"{server.ocpp_url}/{charger_id}",
                                      subprotocols=["ocpp1.6"], open_timeout=5, **kwargs) as ws:
            cp = cls(charger_id, ws, response_timeout=5)
            task = asyncio.create_task(cp.start())
            try:
                yield cp
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    return connect


def replace_config(config: Config, **changes: Any) -> Config:
    return dataclasses.replace(config, **changes)
