"""The connection gate: a reconnect storm must not starve the chargers already connected.

(Not the charger-id policy, the setting ``admission`` accept/pending/reject, which
``ConnectedChargers.admit`` applies before the WebSocket upgrade.)

After a power cut thousands of chargers connect at once. Tornado accepts up to
128 connections per loop turn and starts every one: with thousands of
handshakes in flight, one turn of the event loop takes seconds, and a frame from
a charger that stayed connected waits for all of them. ``GatedHTTPServer``
keeps at most ``max_opening_connections`` connections in their *opening phase*:
from the start of HTTP processing until the WebSocket upgrade is done (Tornado
detaches the stream right before ``open()``; ``HTTPServer.on_close`` fires), the
first request was answered, or the connection closed. A plain HTTP request (API,
dashboard page) leaves the opening phase as soon as its headers are parsed, so
keep-alive connections and long uploads hold no slot. Connections beyond the cap
are accepted and *parked*: they are not registered with the event loop, cost no
CPU, and are started, oldest first, when a slot frees and the client has sent
something. A parked connection that sends nothing is closed after the idle
timeout, as Tornado does with a silent started connection.

Measured on the 2-core box, server pinned to one core (``bench/run.py``,
``storm-impact``: 200 connected chargers sending the session mix at 200 msgs/s
while 5,000 new chargers boot; ``storm``: 10,000 chargers, nothing else; medians
of runs with ``--repeat``; the numbers are in bench/README.md's results and the
change's report):

========================================  ==========  ========  ========  ========
                                          no gate (0)  cap 32    cap 64   cap 128
========================================  ==========  ========  ========  ========
connected chargers' p99 during the storm    4,545 ms    126 ms    259 ms    359 ms
storm of 5,000 (+ connected load), done       7.9 s     8.8 s     8.8 s     9.5 s
storm of 10,000, all answered                16.7 s    17.1 s    17.4 s    16.6 s
========================================  ==========  ========  ========  ========

What did not work, measured the same way:

* Pausing the listening socket at the cap and leaving the rest to the kernel's
  listen backlog (4096 here, ``net.core.somaxconn``): a storm larger than the
  backlog overflows it, clients resend their SYN after 1 s, 3 s, 7 s..., and
  5,000 chargers took 10.5-16 s instead of 7-8 s (2,000-2,800 overflows).
* Fewer accepts per loop turn (4 instead of 128): the handshakes in flight are
  not bounded, p99 of connected chargers stayed above 1 s.
* A semaphore in ``prepare()``: the cost is in Tornado's accept, IOStream and
  HTTP parsing before it, p99 did not move (1.7 s vs 1.7 s).
* Starting parked connections in arrival order, whether or not the client had
  sent its request yet: a slot then waits for the network (slow links, a busy
  client), and 10,000 chargers took 18.5 s instead of 16.6 s.

Smaller caps make connected chargers faster and the storm's loop turns shorter
(more, smaller database commits: 13 for a 10,000-storm without the gate, 124
with cap 128, 477 with cap 32). A connection also holds its slot while it waits
for the network inside the opening phase (the TLS handshake's round trips), so
with wss over slow links raise the cap: about the connection rate (600-700/s on
one core here) times those seconds.

Tornado 6.6 internals this relies on (``tests/test_library_internals.py``):
``TCPServer._handle_connection(connection, address)``, ``HTTPServer.conn_params``
(its ``header_timeout``), the ``handle_stream``/``start_request``/``on_close``
hooks, ``HTTP1ServerConnection.stream``, and for the body budget
``routing._RoutingDelegate.delegate`` and ``web._HandlerDelegate.stream_request_body``.
"""

from __future__ import annotations

import collections
import errno
import logging
import selectors
import socket
from typing import Any, Awaitable, Iterable

import tornado.httpserver
import tornado.httputil
import tornado.iostream
from tornado.ioloop import IOLoop

log = logging.getLogger(__name__)

ACCEPTS_PER_TURN = 128  # as tornado.netutil.add_accept_handler
# accept() failures that mean "no file descriptor or memory for one more socket now".
# Tornado's accept handler lets them escape, and the still-readable listening socket
# then fails again on every loop turn: a busy loop and a flood of tracebacks exactly
# when a storm meets the fd limit. Accepting pauses instead and resumes after a second.
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_PAUSE = 1.0


class GatedHTTPServer(tornado.httpserver.HTTPServer):
    """``HTTPServer`` with ``max_opening_connections`` (0: plain Tornado, no gate)."""

    def initialize(self, request_callback: Any, max_opening_connections: int = 0,
                   opening_deadline: float = 10.0, max_opening_per_address: int = 0,
                   max_buffered_bodies: int = 0, **kwargs: Any) -> None:
        super().initialize(request_callback, **kwargs)
        # Request bodies Tornado holds in memory (not streamed uploads), over all connections:
        # forty slow 16 MiB bodies would otherwise hold 600 MiB of a 1 GB box.
        self.max_buffered_bodies = max_buffered_bodies
        self.buffered_bodies = 0
        self.max_opening_connections = max_opening_connections
        # Slowloris: a connection that holds a slot must finish its opening phase within
        # the deadline, and one address may hold only a share of the slots (not one: the
        # chargers behind a NAT router share an address).
        self.opening_deadline = opening_deadline
        self.max_opening_per_address = max_opening_per_address or max_opening_connections
        self._listening: list[socket.socket] = []
        self._opening: dict[tornado.iostream.IOStream, _Slot] = {}
        self._per_host: collections.Counter[str] = collections.Counter()
        self._deferred: dict[str, collections.deque[tuple[socket.socket, Any, float]]] = {}
        self._deferred_sweep: object | None = None
        self.expired_openings = 0  # connections closed for missing the opening deadline
        self._parked: _Parked | None = None
        self._stopping = False
        self._full_since: float | None = None  # connections wait for a slot since then
        self._paused: set[socket.socket] = set()  # listening sockets out of fds or memory
        self._out_of_resources = False

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        if not self.max_opening_connections:
            super().add_sockets(sockets)
            return
        if self._parked is None:
            self._parked = _Parked(self._admit, self.conn_params.header_timeout)
        for sock in sockets:
            self._listening.append(sock)
            IOLoop.current().add_handler(sock, self._accept, IOLoop.READ)

    def stop(self) -> None:
        super().stop()
        if self._stopping:
            return
        self._stopping = True
        for sock in self._listening:
            IOLoop.current().remove_handler(sock)
            sock.close()
        if self._parked is not None:
            self._parked.close()
        for queue in self._deferred.values():
            for connection, _, _ in queue:
                connection.close()
        self._deferred.clear()

    @property
    def opening_connections(self) -> int:
        """Connections in their opening phase now."""
        return len(self._opening)

    @property
    def waiting_connections(self) -> int:
        """Accepted connections waiting for a slot."""
        parked = len(self._parked) if self._parked is not None else 0
        return parked + sum(len(queue) for queue in self._deferred.values())

    def _accept(self, sock: socket.socket, events: int) -> None:
        for _ in range(ACCEPTS_PER_TURN):
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                break
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                self._pause_accepting(sock, exc)
                break
            self._parked.add(connection, address)
        self._admit()

    def _pause_accepting(self, sock: socket.socket, exc: OSError) -> None:
        loop = IOLoop.current()
        loop.remove_handler(sock)
        self._paused.add(sock)
        if not self._out_of_resources:
            self._out_of_resources = True
            log.warning("cannot accept connections (%s); retrying every %.0f s (raise the open "
                        "files limit: LimitNOFILE in systemd/evedge.service)",
                        exc.strerror, ACCEPT_PAUSE)
        loop.call_later(ACCEPT_PAUSE, self._resume_accepting, sock)

    def _resume_accepting(self, sock: socket.socket) -> None:
        self._paused.discard(sock)
        if self._stopping:
            return
        IOLoop.current().add_handler(sock, self._accept, IOLoop.READ)
        self._accept(sock, IOLoop.READ)  # pauses again if still out of resources
        if self._out_of_resources and not self._paused:
            self._out_of_resources = False
            log.info("accepting connections again")

    def _admit(self) -> None:
        """Start parked connections that have something to read while slots are free."""
        parked = self._parked
        while len(self._opening) < self.max_opening_connections and not self._stopping:
            item = self._next_deferred() or parked.pop_readable()
            if item is None:
                break
            host = _host(item[1])
            if self._per_host[host] >= self.max_opening_per_address:
                self._defer(host, item)  # this address holds its share; others go first
                continue
            try:
                self._handle_connection(*item)  # Tornado's own start: TLS, IOStream, handle_stream
            except Exception:
                log.exception("could not start a connection from %s", item[1])
                item[0].close()
        parked.wake_on_readable(len(self._opening) < self.max_opening_connections
                                and not self._stopping)
        self._log_episode()

    def _next_deferred(self) -> tuple[socket.socket, Any] | None:
        """The oldest deferred connection whose address is below its share again."""
        for host, queue in self._deferred.items():
            if self._per_host[host] < self.max_opening_per_address:
                connection, address, _ = queue.popleft()
                if not queue:
                    del self._deferred[host]
                return connection, address
        return None

    def _defer(self, host: str, item: tuple[socket.socket, Any]) -> None:
        loop = IOLoop.current()
        self._deferred.setdefault(host, collections.deque()).append((*item, loop.time()))
        if self._deferred_sweep is None:
            self._deferred_sweep = loop.call_later(10.0, self._sweep_deferred)

    def _sweep_deferred(self) -> None:
        """Close deferred connections that waited longer than the idle timeout."""
        self._deferred_sweep = None
        deadline = IOLoop.current().time() - self.conn_params.header_timeout
        for host in list(self._deferred):
            queue = self._deferred[host]
            while queue and queue[0][2] < deadline:
                queue.popleft()[0].close()
            if not queue:
                del self._deferred[host]
        if self._deferred and not self._stopping:
            self._deferred_sweep = IOLoop.current().call_later(10.0, self._sweep_deferred)

    def _log_episode(self) -> None:
        """One line when connections start waiting for a slot, one when none waits any more."""
        if self._stopping:
            return
        now = IOLoop.current().time()
        if self._full_since is None:
            if len(self._opening) >= self.max_opening_connections and len(self._parked):
                self._full_since = now
                log.info("max_opening_connections (%d) reached: new connections wait for a slot",
                         self.max_opening_connections)
        elif not len(self._parked):
            log.info("no connection waits for a slot any more (after %.1f s)",
                     now - self._full_since)
            self._full_since = None

    def _release(self, stream: tornado.iostream.IOStream) -> None:
        slot = self._opening.pop(stream, None)
        if slot is not None:
            IOLoop.current().remove_timeout(slot.deadline)
            self._per_host[slot.host] -= 1
            if not self._per_host[slot.host]:
                del self._per_host[slot.host]
            self._admit()

    def _expire(self, stream: tornado.iostream.IOStream) -> None:
        """The opening deadline passed: a slow or stalled client gives its slot back."""
        slot = self._opening.get(stream)
        if slot is None:
            return
        self.expired_openings += 1
        log.debug("closing a connection from %s: opening phase longer than %g s", slot.host,
                  self.opening_deadline)
        stream.close()
        self._release(stream)  # on_close may not follow for a stream never handed to HTTP

    # HTTPServer hooks: count a connection from its start to the end of its opening phase.

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple) -> None:
        if self.max_opening_connections:
            host = _host(address)
            deadline = IOLoop.current().call_later(self.opening_deadline, self._expire, stream)
            self._opening[stream] = _Slot(host, deadline)
            self._per_host[host] += 1
        super().handle_stream(stream, address)

    def start_request(self, server_conn: Any,
                      request_conn: Any) -> tornado.httputil.HTTPMessageDelegate:
        delegate = super().start_request(server_conn, request_conn)
        if self.max_buffered_bodies:
            delegate = _BodyBudget(delegate, self)
        stream = server_conn.stream
        slot = self._opening.get(stream)
        if slot is None:
            return delegate
        if slot.seen:  # the next request on a kept-alive connection: the first one was answered
            self._release(stream)
            return delegate
        slot.seen = True
        return _ReleaseUnlessUpgrade(delegate, self, stream)

    def on_close(self, server_conn: Any) -> None:
        # Also called when a WebSocket upgrade detaches the stream, right after open().
        self._release(server_conn.stream)
        super().on_close(server_conn)


class _BodyBudget(tornado.httputil.HTTPMessageDelegate):
    """Counts the bytes of a request body Tornado buffers against the server's budget.

    Streamed uploads (handlers with ``stream_request_body``) write to disk as they
    read and are not counted. Over the budget, the request is refused as a malformed
    one: Tornado answers 400 and closes the connection, and its bytes are freed.
    """

    __slots__ = ("delegate", "server", "counted", "streams")

    def __init__(self, delegate: tornado.httputil.HTTPMessageDelegate,
                 server: GatedHTTPServer) -> None:
        self.delegate, self.server, self.counted, self.streams = delegate, server, 0, False

    def headers_received(self, start_line: Any, headers: tornado.httputil.HTTPHeaders
                         ) -> Awaitable[None] | None:
        result = self.delegate.headers_received(start_line, headers)
        # web.Application's _RoutingDelegate has found the handler's delegate by now.
        handler = getattr(self.delegate, "delegate", None)
        self.streams = bool(getattr(handler, "stream_request_body", False))
        return result

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if not self.streams:
            server = self.server
            if server.buffered_bodies + len(chunk) > server.max_buffered_bodies:
                self._release()
                log.warning("refusing a request body: %d bytes of bodies in flight already "
                            "(max_buffered_bodies)", server.buffered_bodies)
                raise tornado.httputil.HTTPInputError("too many request bodies in flight")
            server.buffered_bodies += len(chunk)
            self.counted += len(chunk)
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self._release()
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self._release()
        self.delegate.on_connection_close()

    def _release(self) -> None:
        self.server.buffered_bodies -= self.counted
        self.counted = 0


class _Slot:
    """A connection in its opening phase: its client address and its deadline."""

    __slots__ = ("host", "deadline", "seen")

    def __init__(self, host: str, deadline: object) -> None:
        self.host, self.deadline, self.seen = host, deadline, False


def _host(address: Any) -> str:
    """The client address of an accepted socket (IPv4/IPv6 tuple), as text."""
    return str(address[0]) if isinstance(address, tuple) and address else str(address)


class _ReleaseUnlessUpgrade(tornado.httputil.HTTPMessageDelegate):
    """The first request's delegate: a plain HTTP request leaves the opening phase once its
    headers are parsed; a WebSocket upgrade stays in it until upgraded or answered."""

    __slots__ = ("delegate", "server", "stream")

    def __init__(self, delegate: tornado.httputil.HTTPMessageDelegate, server: GatedHTTPServer,
                 stream: tornado.iostream.IOStream) -> None:
        self.delegate, self.server, self.stream = delegate, server, stream

    def headers_received(self, start_line: Any, headers: tornado.httputil.HTTPHeaders
                         ) -> Awaitable[None] | None:
        if headers.get("Upgrade", "").lower() != "websocket":
            self.server._release(self.stream)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()


class _Parked:
    """Accepted sockets not started yet. Silent ones sit in a private selector, which the
    event loop watches (one fd) only while a slot is free; readable ones queue in order."""

    def __init__(self, on_readable: Any, idle_timeout: float) -> None:
        self._selector = selectors.DefaultSelector()
        self._readable: collections.deque[tuple[socket.socket, Any]] = collections.deque()
        self._on_readable = on_readable
        self._idle_timeout = idle_timeout
        self._watching = False
        self._sweep: object | None = None

    def __len__(self) -> int:
        silent = self._selector.get_map()  # None once closed
        return len(self._readable) + (len(silent) if silent else 0)

    def add(self, connection: socket.socket, address: Any) -> None:
        loop = IOLoop.current()
        self._selector.register(connection, selectors.EVENT_READ, (address, loop.time()))
        if self._sweep is None:
            self._sweep = loop.call_later(min(self._idle_timeout, 10.0), self._close_idle)

    def pop_readable(self) -> tuple[socket.socket, Any] | None:
        if not self._readable and self._selector.get_map():
            for key, _ in self._selector.select(0):
                self._selector.unregister(key.fileobj)
                self._readable.append((key.fileobj, key.data[0]))
        return self._readable.popleft() if self._readable else None

    def wake_on_readable(self, on: bool) -> None:
        on = on and bool(self._selector.get_map())
        if on == self._watching:
            return
        self._watching = on
        fd = self._selector.fileno()
        if on:
            IOLoop.current().add_handler(fd, lambda fd, events: self._on_readable(), IOLoop.READ)
        else:
            IOLoop.current().remove_handler(fd)

    def _close_idle(self) -> None:
        """Close parked connections that sent nothing within the idle timeout."""
        loop = IOLoop.current()
        self._sweep = None
        deadline = loop.time() - self._idle_timeout
        for key in list(self._selector.get_map().values()):
            if key.data[1] < deadline:
                self._selector.unregister(key.fileobj)
                key.fileobj.close()
        if self._selector.get_map():
            self._sweep = loop.call_later(min(self._idle_timeout, 10.0), self._close_idle)
        self.wake_on_readable(self._watching)

    def close(self) -> None:
        self.wake_on_readable(False)
        if self._sweep is not None:
            IOLoop.current().remove_timeout(self._sweep)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        while self._readable:
            self._readable.popleft()[0].close()
        self._selector.close()
