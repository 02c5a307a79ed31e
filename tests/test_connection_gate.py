"""The connection gate (evedge/web/connection_gate.py): at most ``max_opening_connections``
in their opening phase; the rest wait, and neither connected chargers nor API requests are held up.

Real sockets on loopback. A connection is held in its opening phase on purpose with
``Expect: 100-continue``: the server answers ``100 Continue`` once it has started the
connection and parsed the upgrade's headers, and runs the handler (the upgrade) only when
the announced body byte arrives.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os

import pytest
import tornado.testing
import tornado.web
import websockets

from evedge.config import ConfigError
from evedge.storage.models import Charger
from evedge.web.connection_gate import GatedHTTPServer

from conftest import Api, make_config, ocpp_call

BOOT = [2, "b1", "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X"}]
HEARTBEAT = [2, "h1", "Heartbeat", {}]


class Gated:
    def __init__(self, server: GatedHTTPServer, port: int):
        self.server, self.port = server, port
        self.api = Api(f"http://127.0.0.1:{port}")

    async def open(self, request: bytes, source: str = "127.0.0.1"
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A raw connection that sends ``request``; ``source`` is the client address (any
        127.x.y.z is loopback on Linux, so tests can play several hosts)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port,
                                                       local_addr=(source, 0))
        writer.write(request)
        await writer.drain()
        return reader, writer


@pytest.fixture
def gated(start_server):
    """Factory: ``await gated(max_opening_connections=2, ...)`` -> conftest's server (the
    one ``serve`` builds, ``http_server``) with raw-socket helpers."""

    async def start(**overrides) -> Gated:
        running = await start_server(**overrides)
        return Gated(running.http, running.port)

    return start


@pytest.fixture
def admission_log(caplog):
    """``await admission_log("fragment")``: wait until evedge.web.connection_gate logs that."""
    caplog.set_level(logging.INFO, logger="evedge.web.connection_gate")
    logger = logging.getLogger("evedge.web.connection_gate")
    handlers = []

    class Waiter(logging.Handler):
        def __init__(self, fragment: str):
            super().__init__(logging.INFO)
            self.fragment, self.seen = fragment, asyncio.Event()

        def emit(self, record: logging.LogRecord) -> None:
            if self.fragment in record.getMessage():
                self.seen.set()

    def expect(fragment: str) -> asyncio.Event:
        waiter = Waiter(fragment)
        logger.addHandler(waiter)
        handlers.append(waiter)
        return waiter.seen

    yield expect
    for handler in handlers:
        logger.removeHandler(handler)


def upgrade(charger_id: str, held: bool = False) -> bytes:
    """A WebSocket upgrade for /ocpp/<id>; ``held``: announce a 1-byte body and wait for
    100 Continue, so that the server parses the headers but does not upgrade yet."""
    key = base64.b64encode(os.urandom(16)).decode()
    extra = "Expect: 100-continue\r\nContent-Length: 1\r\n" if held else ""
    return (f"GET /ocpp/{charger_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: ocpp1.6\r\n{extra}\r\n").encode()


async def status_line(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head.split(b"\r\n", 1)[0]


async def response(reader: asyncio.StreamReader) -> bytes:
    """Status line of a whole HTTP response (its body read by Content-Length)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    await asyncio.wait_for(reader.readexactly(length), 5)
    return head.split(b"\r\n", 1)[0]


async def test_the_gate_holds_new_connections_at_the_cap_and_releases_them(gated, admission_log):
    gate = await gated(max_opening_connections=2)
    server = gate.server
    reached = admission_log("max_opening_connections (2) reached")
    drained = admission_log("no connection waits for a slot")
    async with websockets.connect(f"ws://127.0.0.1:{gate.port}/ocpp/CP-ON",
                                  subprotocols=["ocpp1.6"], open_timeout=5) as connected:
        assert (await ocpp_call(connected, BOOT))[2]["status"] == "Accepted"
        a_reader, a_writer = await gate.open(upgrade("CP-A", held=True))
        assert await status_line(a_reader) == b"HTTP/1.1 100 (Continue)"
        b_reader, b_writer = await gate.open(upgrade("CP-B", held=True))
        assert await status_line(b_reader) == b"HTTP/1.1 100 (Continue)"
        assert server.opening_connections == 2

        c_reader, c_writer = await gate.open(upgrade("CP-C"))
        await asyncio.wait_for(reached.wait(), 5)  # C was accepted and waits for a slot
        c_answer = asyncio.create_task(status_line(c_reader))
        # Meanwhile the connected charger is served as usual, and C still waits.
        assert (await ocpp_call(connected, HEARTBEAT))[0] == 3
        assert not c_answer.done() and server.waiting_connections == 1

        a_writer.write(b"x")  # A's body: A is upgraded, its slot goes to C
        assert await status_line(a_reader) == b"HTTP/1.1 101 Switching Protocols"
        assert await c_answer == b"HTTP/1.1 101 Switching Protocols"
        await asyncio.wait_for(drained.wait(), 5)
        assert server.waiting_connections == 0

        b_writer.write(b"x")
        assert await status_line(b_reader) == b"HTTP/1.1 101 Switching Protocols"
        assert (await ocpp_call(connected, HEARTBEAT))[0] == 3
        assert server.opening_connections == 0
        for writer in (a_writer, b_writer, c_writer):
            writer.close()


async def test_connected_chargers_and_api_requests_hold_no_slot(gated):
    gate = await gated(max_opening_connections=2)

    async def charger(charger_id: str, stack: contextlib.AsyncExitStack):
        ws = await stack.enter_async_context(websockets.connect(
            f"ws://127.0.0.1:{gate.port}/ocpp/{charger_id}", subprotocols=["ocpp1.6"],
            open_timeout=5))
        assert (await ocpp_call(ws, BOOT))[2]["status"] == "Accepted"
        return ws

    async with contextlib.AsyncExitStack() as stack:
        chargers = await asyncio.gather(*(charger(f"CP-{i}", stack) for i in range(6)))
        assert gate.server.opening_connections == 0
        answers = await asyncio.gather(*(gate.api.get("/healthz") for _ in range(10)))
        assert [a.status for a in answers] == [200] * 10
        # Keep-alive: one connection, three requests; it holds no slot while it stays open.
        reader, writer = await gate.open(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")
        for _ in range(3):
            assert await response(reader) == b"HTTP/1.1 200 OK"
            assert gate.server.opening_connections == 0
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")
        writer.close()
        for ws in chargers:
            assert (await ocpp_call(ws, HEARTBEAT))[0] == 3


async def test_a_refused_upgrade_on_a_kept_alive_connection_frees_its_slot(gated):
    gate = await gated(max_opening_connections=1, admission="reject")
    Charger.create(id="CP-KNOWN")
    reader, writer = await gate.open(upgrade("CP-UNKNOWN"))
    assert await status_line(reader) == b"HTTP/1.1 404 Not Found"
    # The connection stays open (HTTP/1.1 keep-alive), the one slot is free again.
    async with websockets.connect(f"ws://127.0.0.1:{gate.port}/ocpp/CP-KNOWN",
                                  subprotocols=["ocpp1.6"], open_timeout=5) as ws:
        assert (await ocpp_call(ws, BOOT))[2]["status"] == "Accepted"
    assert (await gate.api.get("/healthz")).status == 200
    assert not reader.at_eof()
    writer.close()


class Hello(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("hello")


async def test_a_silent_connection_holds_no_slot_and_is_closed_after_the_idle_timeout():
    server = GatedHTTPServer(tornado.web.Application([(r"/", Hello)]),
                             max_opening_connections=1, idle_connection_timeout=0.3)
    sock, port = tornado.testing.bind_unused_port()
    server.add_sockets([sock])
    try:
        silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), 5)).endswith(b"hello")
        assert await asyncio.wait_for(silent_reader.read(), 5) == b""  # closed by the server
        assert server.waiting_connections == 0 and server.opening_connections == 0
        writer.close()
        silent_writer.close()
    finally:
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), 5)


async def test_zero_means_no_gate(gated):
    gate = await gated(max_opening_connections=0)
    assert (await gate.api.get("/healthz")).status == 200
    assert gate.server.opening_connections == 0 and gate.server.waiting_connections == 0


def test_a_negative_cap_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="max_opening_connections"):
        make_config(tmp_path, max_opening_connections=-1)


SLOWLORIS = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "  # never finished
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def test_a_slowloris_gives_its_slot_back_at_the_opening_deadline(gated):
    gate = await gated(max_opening_connections=2, opening_deadline=0.5)
    slow = [await gate.open(SLOWLORIS) for _ in range(2)]
    await wait_until(lambda: gate.server.opening_connections == 2)
    reader, writer = await gate.open(HEALTH, source="127.0.0.2")
    # Served once the deadline closed the two that never finish their headers.
    assert await asyncio.wait_for(response(reader), 5) == b"HTTP/1.1 200 OK"
    for slow_reader, _ in slow:
        assert await asyncio.wait_for(slow_reader.read(), 5) == b""  # closed by the server
    assert gate.server.expired_openings == 2
    for _, slow_writer in slow:
        slow_writer.close()
    writer.close()


async def test_one_address_holds_only_its_share_of_the_slots(gated):
    gate = await gated(max_opening_connections=4, max_opening_per_address=2,
                       opening_deadline=30)
    slow = [await gate.open(SLOWLORIS, source="127.0.0.3") for _ in range(5)]
    await wait_until(lambda: gate.server.waiting_connections == 3)
    assert gate.server.opening_connections == 2  # the other three wait, holding no slot
    for source in ("127.0.0.1", "127.0.0.4"):
        reader, writer = await gate.open(HEALTH, source=source)
        assert await asyncio.wait_for(response(reader), 5) == b"HTTP/1.1 200 OK"
        writer.close()
    for _, slow_writer in slow:
        slow_writer.close()


async def wait_until(condition, timeout: float = 5) -> None:
    """Poll a server-side counter the test cannot await otherwise (accepts happen in the
    server's own loop callbacks)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)
