"""The OCPP-J 1.6 WebSocket endpoint ``/ocpp/<charge_point_id>``.

Admission (unknown ids, HTTP Basic auth of security profile 1) is decided in
``prepare()``, before the upgrade, so a refused charger gets a plain HTTP
status. After the upgrade every frame goes synchronously to the charger's
``ChargePointSession``: no queue, no task per connection, and Tornado reads
the next frame only when the previous one was handled (natural back-pressure).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from typing import TYPE_CHECKING

import tornado.web
import tornado.websocket
from tornado.iostream import StreamClosedError

from ..domain import credentials, charging
from ..storage import sql
from ..chargers.session import ChargePointSession
from ..timeutil import utcnow

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
_TEXT = 0x1


def _valid_charger_id(charger_id: str) -> bool:
    return 0 < len(charger_id) <= 64 and charger_id.isprintable() and "/" not in charger_id


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        user, sep, password = decoded.partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class OcppSocketHandler(tornado.websocket.WebSocketHandler):
    def initialize(self, services: Services) -> None:
        self.services = services
        self.session: ChargePointSession | None = None
        self._registration = "Accepted"

    async def prepare(self) -> None:
        charger_id = self.path_args[0]
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            # Checked here, not only by Tornado's get(): a plain GET must not register
            # a charger (admission "accept") before the upgrade is refused.
            raise tornado.web.HTTPError(400, "expected a WebSocket upgrade")
        if not _valid_charger_id(charger_id):
            raise tornado.web.HTTPError(400, "invalid charge point id")
        services = self.services
        admission = services.committer.run(
            lambda: charging.admit_charger(charger_id, services.policy, utcnow()))
        if admission is None:
            log.info("refused unknown charger %s (admission policy 'reject')", charger_id)
            raise tornado.web.HTTPError(404, "unknown charge point id")
        self._registration, password_hash = admission
        if password_hash is not None and not await self._password_ok(charger_id, password_hash):
            log.warning("charger %s failed HTTP Basic authentication", charger_id)
            self.set_header("WWW-Authenticate", 'Basic realm="evedge OCPP"')
            raise tornado.web.HTTPError(401, "charger authentication failed")

    async def _password_ok(self, charger_id: str, password_hash: str) -> bool:
        """OCPP 1.6 security profile 1: Basic auth, username = charge point id."""
        given = _basic_credentials(self.request.headers.get("Authorization", ""))
        if given is None or given[0] != charger_id:
            return False
        return await asyncio.get_running_loop().run_in_executor(
            None, credentials.check_password, given[1], password_hash)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return SUBPROTOCOL if SUBPROTOCOL in subprotocols else None

    def check_origin(self, origin: str) -> bool:
        # Chargers are not browsers; they are admitted by id (and password), not by Origin.
        return True

    def open(self, charge_point_id: str) -> None:
        charger_id = charge_point_id
        services = self.services
        if self.selected_subprotocol != SUBPROTOCOL:
            offered = self.request.headers.get("Sec-WebSocket-Protocol")
            # Many firmwares send no Sec-WebSocket-Protocol at all; they are taken as 1.6
            # (configurable). A charger that offers only other protocols (e.g. ocpp2.0.1)
            # would not understand us: close with 1002 (protocol error, RFC 6455 §7.4.1).
            if offered or not services.config.allow_missing_subprotocol:
                log.info("closing %s: offered subprotocols %r, not ocpp1.6", charger_id, offered)
                self.close(1002, "ocpp1.6 subprotocol required")
                return
        self.set_nodelay(True)
        self.session = ChargePointSession(charger_id, self._send, services, self._registration)
        services.chargers.attach(self.session, self.close)
        services.committer.run(lambda: sql.set_connection_state(charger_id, True, utcnow()))
        services.events.publish("charger.connected", charger_id=charger_id)
        log.info("charger %s connected from %s", charger_id, self.request.remote_ip)
        # Nothing reads the handshake's headers once the WebSocket is open, yet Tornado's
        # suspended HTTP1Connection._read_message holds them for the connection's life:
        # ~0.7 KiB per charger (tracemalloc, 2,000 idle chargers).
        self.request.headers.clear()

    def on_message(self, message: str | bytes) -> None:
        if self.session is not None:
            self.session.handle_frame(message)

    def on_close(self) -> None:
        session = self.session
        if session is None:
            return
        session.connection_closed()
        if self.services.chargers.detach(session):
            self.services.committer.run(
                lambda: sql.set_connection_state(session.id, False, utcnow()))
            self.services.events.publish("charger.disconnected", charger_id=session.id)
        log.info("charger %s disconnected (code %s)", session.id, self.close_code)

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
