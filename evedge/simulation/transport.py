"""The simulated charger's websocket: tornado's client under the ``ocpp`` library.

Opening a connection (`open_websocket`, with the charger URL and the HTTP Basic auth header of
security profile 1), the ``recv``/``send`` pair that ``ocpp.ChargePoint`` reads and writes
(`TornadoTransport`, with hooks that see every frame), and the errors a caller may catch:
`ConnectFailed`, `ConnectionClosed` and `NotConnected`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl as ssl_module
import urllib.parse
from typing import Awaitable, Callable

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClosedError, WebSocketError, websocket_connect

DEFAULT_URL = "ws://127.0.0.1:8000/ocpp"


class ConnectionClosed(Exception):
    """The websocket closed. ``code`` and ``reason`` come from the close frame; both are None
    when the link simply dropped."""

    def __init__(self, code: int | None = None, reason: str | None = None):
        super().__init__(f"connection closed (code={code}, reason={reason!r})")
        self.code = code
        self.reason = reason


class NotConnected(ConnectionClosed):
    """No connection is open to send on."""

    def __init__(self) -> None:
        super().__init__(None, "not connected")


class ConnectFailed(ConnectionError):
    """The websocket could not be opened. ``status_code`` is the HTTP status when the server
    answered the upgrade with one (401, 404, ...), and None otherwise."""

    def __init__(self, url: str, reason: str, status_code: int | None = None):
        super().__init__(f"cannot connect to {url}: {reason}")
        self.url = url
        self.status_code = status_code


class TornadoTransport:
    """The ``async recv()`` / ``async send(str)`` pair that ``ocpp.ChargePoint`` needs, on top of
    tornado's websocket client.

    ``inbound(text, binary)`` sees every received frame before the library does. If it returns
    True the frame is swallowed; the charger uses this to keep replies to raw frames away from the
    library's response queue. ``outbound(text)`` sees every frame that is sent.
    """

    def __init__(self, ws, inbound=None, outbound=None):
        self._ws = ws
        self.inbound: Callable[[str, bool], Awaitable[bool]] | None = inbound
        self.outbound: Callable[[str], None] | None = outbound
        self.subprotocol: str | None = ws.selected_subprotocol

    async def recv(self) -> str:
        while True:
            message = await self._ws.read_message()
            if message is None:
                raise ConnectionClosed(self._ws.close_code, self._ws.close_reason)
            binary = isinstance(message, bytes)
            if binary:
                message = message.decode("utf-8", "replace")
            if self.inbound is None or not await self.inbound(message, binary):
                return message

    async def send(self, message: str) -> None:
        if self.outbound is not None:
            self.outbound(message)
        try:
            await self._ws.write_message(message)
        except (WebSocketClosedError, OSError) as exc:
            raise ConnectionClosed(self._ws.close_code, self._ws.close_reason) from exc

    def close(self, code: int | None = 1000, reason: str | None = None) -> None:
        """Start the closing handshake. Idempotent."""
        self._ws.close(code, reason)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake, as a network failure does."""
        stream = getattr(getattr(self._ws, "protocol", None), "stream", None)
        if stream is None:
            self.close(None)
        else:
            stream.close()


class _Offline:
    """Stands in for the transport while the charger has no connection."""

    async def recv(self) -> str:
        raise NotConnected()

    async def send(self, message: str) -> None:
        raise NotConnected()


def client_ssl_context(ca_file: str | None, insecure: bool) -> ssl_module.SSLContext | None:
    """TLS for wss:// (and https://): the system CAs (None), a CA bundle, or no verification."""
    if not ca_file and not insecure:
        return None  # tornado's default verification against the system CAs
    context = ssl_module.create_default_context(cafile=ca_file)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    return context


def charger_url(base_url: str, charge_point_id: str) -> str:
    """``ws://host/ocpp`` + ``CP 1`` -> ``ws://host/ocpp/CP%201``."""
    return f"{base_url.rstrip('/')}/{urllib.parse.quote(charge_point_id, safe='')}"


def basic_auth_header(charge_point_id: str, password: str) -> str:
    """Security profile 1: HTTP Basic auth, user name = charge point id."""
    token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


async def open_websocket(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    subprotocols: tuple[str, ...] = ("ocpp1.6",),
    connect_timeout: float = 10.0,
    ping_interval: float | None = None,
):
    """Open a tornado websocket client connection. Raise ConnectFailed on any failure.

    An empty ``subprotocols`` offers none: no Sec-WebSocket-Protocol header is sent.
    """
    request = HTTPRequest(
        url,
        headers=headers or {},
        connect_timeout=connect_timeout,
        request_timeout=connect_timeout,
        ssl_options=ssl,
    )
    try:
        return await websocket_connect(
            request, subprotocols=list(subprotocols) or None, ping_interval=ping_interval or None
        )
    except HTTPClientError as exc:  # the server answered the upgrade with an HTTP error
        status = None if exc.code == 599 else exc.code  # 599: tornado's "no response" (timeout)
        raise ConnectFailed(url, str(exc), status) from exc
    except (OSError, WebSocketError, asyncio.TimeoutError) as exc:
        raise ConnectFailed(url, str(exc) or type(exc).__name__) from exc


class _WireLogger(logging.LoggerAdapter):
    """ocpp logs every frame at INFO. For a simulator those are DEBUG messages."""

    def info(self, msg, *args, **kwargs):
        self.debug(msg, *args, **kwargs)
