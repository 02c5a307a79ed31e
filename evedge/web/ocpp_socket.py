"""The OCPP-J 1.6 WebSocket endpoint ``/ocpp/<charge_point_id>``: a transport.

``prepare()`` asks the registry whether the charger may connect (unknown ids,
HTTP Basic auth of security profile 1) before the upgrade, so a refused charger
gets a plain HTTP status. After the upgrade the registry owns the connection
(``chargers/registry.py``) and every frame goes synchronously to the charger's
session: no queue, no task per connection, and Tornado reads the next frame
only when the previous one was handled (natural back-pressure).

Tornado 6.6 internals relied on (tests/test_library_internals.py checks them):
``WebSocketProtocol13._write_frame`` for sending, and ``_handle_message``,
``_frame_compressed``, ``_message_bytes_in`` and ``_run_callback`` in ``_Protocol``,
which closes a connection whose text frame is not UTF-8 with 1007.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
from typing import TYPE_CHECKING, Awaitable

import tornado.web
import tornado.websocket
from tornado.iostream import StreamClosedError

from .. import errors
from ..domain.charger_ids import valid_charger_id
from ..metrics import refusal_reason
from .backpressure import TokenBucket

if TYPE_CHECKING:
    from ..chargers.registry import Admission
    from ..chargers.session import ChargePointSession
    from ..services import Services

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
_TEXT, _CLOSE = 0x1, 0x8
REFUSALS = (errors.NotFound, errors.Unauthorized, errors.Conflict, errors.TooManyRequests,
            errors.Busy)
LOGGED_BY_THE_REGISTRY = frozenset({errors.NotFound.status, errors.Unauthorized.status,
                                    errors.Conflict.status})


def basic_credentials(header: str) -> tuple[str, bytes] | None:
    """(user, password) of an HTTP Basic ``Authorization`` header, None if it is not one.
    The password stays bytes: an AuthorizationKey is binary (security whitepaper)."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        return (user.decode("utf-8"), password) if sep else None
    except (binascii.Error, UnicodeDecodeError):
        return None


class _Protocol(tornado.websocket.WebSocketProtocol13):
    """Tornado's RFC 6455 protocol, except for a text frame that is not UTF-8.

    Tornado 6.6 drops such a connection without a close frame (``_abort()``), so the
    charger sees a network failure (1006) and learns nothing. RFC 6455 §8.1 says to
    fail the connection, and §7.4.1 gives the code: 1007, invalid frame payload data.
    After that nothing more the charger sends is processed (§7.1.7) but its closing
    handshake; Tornado closes the TCP connection then, or after 5 s.
    """

    failed = False

    def _handle_message(self, opcode: int, data: bytes) -> Awaitable[None] | None:
        if self.failed and opcode != _CLOSE:
            return None
        # Compressed frames never arrive: evedge offers no permessage-deflate.
        if opcode != _TEXT or self._frame_compressed or self.client_terminated:
            return super()._handle_message(opcode, data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.failed = True
            log.info("closing %s: a text frame that is not UTF-8",
                     self.handler.path_args[0] if self.handler.path_args else "?")
            self.close(1007, "text frame is not valid UTF-8")
            return None
        self._message_bytes_in += len(data)
        return self._run_callback(self.handler.on_message, text)


class OcppSocketHandler(tornado.websocket.WebSocketHandler):
    def initialize(self, services: Services) -> None:
        self.services = services
        self.session: ChargePointSession | None = None
        self._admission: Admission | None = None
        self._pongs: dict[bytes, asyncio.Future] = {}
        config = services.config
        self._bucket = TokenBucket(config.charger_message_rate, config.charger_message_burst)

    async def prepare(self) -> None:
        charger_id = self.path_args[0]
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            # Checked here, not only by Tornado's get(): a plain GET must not register
            # a charger (admission "accept") before the upgrade is refused.
            self.services.metrics.connection_refused("not_websocket")
            raise tornado.web.HTTPError(400, "expected a WebSocket upgrade")
        if not valid_charger_id(charger_id):
            self.services.metrics.connection_refused("invalid_id")
            raise tornado.web.HTTPError(400, "invalid charge point id")
        password = basic_credentials(self.request.headers.get("Authorization", ""))
        try:
            self._admission = await self.services.chargers.admit(charger_id, password,
                                                                 self.request.remote_ip)
        except REFUSALS as exc:
            self.services.metrics.connection_refused(refusal_reason(exc))
            if isinstance(exc, errors.Unauthorized):
                self.set_header("WWW-Authenticate", 'Basic realm="evedge OCPP"')
            if getattr(exc, "retry_after", None):
                self.set_header("Retry-After", str(exc.retry_after))
            raise tornado.web.HTTPError(exc.status, exc.message) from None

    def get_websocket_protocol(self) -> tornado.websocket.WebSocketProtocol | None:
        protocol = super().get_websocket_protocol()
        if type(protocol) is not tornado.websocket.WebSocketProtocol13:
            return protocol   # a version Tornado refuses anyway (None), or a new class
        return _Protocol(self, False, protocol.params)

    def log_exception(self, typ, value, tb) -> None:  # type: ignore[override]
        """A refusal is one line, ``charger=<id>`` first, instead of Tornado's warning: the
        registry already logged unknown ids, failed passwords and refused takeovers (with
        their detail), and a throttled charger is counted in /metrics, not logged at its
        pace."""
        if not isinstance(value, tornado.web.HTTPError):
            super().log_exception(typ, value, tb)
        elif value.status_code not in LOGGED_BY_THE_REGISTRY:
            # No path_args when Tornado could not decode the id (invalid UTF-8, a lone
            # surrogate): the raw path then, cut short, since it comes from outside.
            args = getattr(self, "path_args", None)
            charger = args[0] if args else ascii(self.request.path[:80])
            log.log(logging.DEBUG if value.status_code == 429 else logging.INFO,
                    "charger=%s refused from %s (%d): %s", charger,
                    self.request.remote_ip, value.status_code, value.log_message)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return SUBPROTOCOL if SUBPROTOCOL in subprotocols else None

    def check_origin(self, origin: str) -> bool:
        # Chargers are not browsers; they are admitted by id (and password), not by Origin.
        return True

    def open(self, charge_point_id: str) -> None:
        if self.selected_subprotocol != SUBPROTOCOL:
            offered = self.request.headers.get("Sec-WebSocket-Protocol")
            # Many firmwares send no Sec-WebSocket-Protocol at all; they are taken as 1.6
            # (configurable). A charger that offers only other protocols (e.g. ocpp2.0.1)
            # would not understand us: close with 1002 (protocol error, RFC 6455 §7.4.1).
            if offered or not self.services.config.allow_missing_subprotocol:
                log.info("charger=%s closed: offered subprotocols %r, not ocpp1.6", charge_point_id,
                         offered)
                self.close(1002, "ocpp1.6 subprotocol required")
                self.services.metrics.connection_refused("subprotocol")
                return
        self.set_nodelay(True)
        self.session = self.services.chargers.connect(
            charge_point_id, self._send, self.close, self.probe, self._admission,
            self.request.remote_ip)
        self.services.metrics.connection_opened()
        # Nothing reads the handshake's headers once the WebSocket is open, yet Tornado's
        # suspended HTTP1Connection._read_message holds them for the connection's life:
        # ~0.7 KiB per charger (tracemalloc, 2,000 idle chargers).
        self.request.headers.clear()

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        if self.session is None:
            return None
        self.session.handle_frame(message)
        wait = self._bucket.take(len(message))
        # Tornado awaits what on_message returns before it reads the next frame: a charger
        # above its rate is read more slowly (backpressure.py), nothing it sent is dropped.
        return asyncio.sleep(wait) if wait else None

    def on_close(self) -> None:
        for waiter in self._pongs.values():
            if not waiter.done():
                waiter.set_result(False)
        if self.session is not None:
            self.services.chargers.disconnect(self.session, self.close_code)

    async def probe(self, timeout: float) -> bool:
        """Whether this connection is alive: it answers a WebSocket ping (RFC 6455 §5.5.2)
        within ``timeout`` seconds. Asked when another connection claims the same id."""
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return False
        token = os.urandom(8)
        waiter = self._pongs[token] = asyncio.get_running_loop().create_future()
        try:
            self.ping(token)
            return await asyncio.wait_for(waiter, timeout)
        except (TimeoutError, tornado.websocket.WebSocketClosedError):
            return False
        finally:
            self._pongs.pop(token, None)

    def on_pong(self, data: bytes) -> None:
        waiter = self._pongs.get(data)
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _send(self, frame: str | bytes) -> bool:
        """Write one text frame; False when the socket is already gone.

        Uses the protocol object's frame writer: the public ``write_message``
        wraps every frame in an asyncio Task (tornado/websocket.py), which costs
        more than the rest of a Heartbeat round trip and logs "Task exception
        was never retrieved" for frames to a closed socket.
        """
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return False
        try:
            connection._write_frame(True, _TEXT,
                                    frame if type(frame) is bytes else frame.encode("utf-8"))
        except StreamClosedError:
            return False
        return True
