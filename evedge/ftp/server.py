"""The FTP server's thread: pyftpdlib's own IOLoop, started and stopped with the services.

pyftpdlib is not asyncio: it runs an asyncore-style IOLoop of its own. evedge gives it
one thread, in which every FTP session runs (its async model: a few chargers transfer
files at a time, and sendfile serves firmware without copying). File reads, writes and
the fsync of a finished upload happen there, never on evedge's event loop; database
work goes back to the loop (bridge.py). The loop is woken for a stop through a socket
pair, so a stop takes no polling interval.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

from pyftpdlib.ioloop import AsyncChat, IOLoop
from pyftpdlib.servers import FTPServer

from ..config import Config
from .session import ChargerFTPHandler
from .transfers import Transfers

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0  # seconds to wait for the FTP thread at shutdown


class _Waker(AsyncChat):
    """One end of a socket pair in the IOLoop: a byte on it makes the loop's poll return."""

    def __init__(self, ioloop: IOLoop):
        self._peer, mine = socket.socketpair()
        AsyncChat.__init__(self, mine, ioloop=ioloop)

    def wake(self) -> None:
        try:
            self._peer.send(b"x")
        except OSError:  # already closed with the loop
            pass

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def handle_read(self) -> None:
        try:
            self.recv(512)
        except OSError:
            pass

    def close(self) -> None:
        super().close()
        self._peer.close()


class FtpServer:
    """Listens on ``ftp_host`` (or ``host``) : ``ftp_port`` once ``start`` returns."""

    def __init__(self, config: Config, transfers: Transfers):
        self._config = config
        self._transfers = transfers
        self._stopping = threading.Event()
        self._ioloop: IOLoop | None = None
        self._server: FTPServer | None = None
        self._waker: _Waker | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "not started"
        return self._server.address

    def handler_class(self) -> type[ChargerFTPHandler]:
        """The session handler with this server's settings (pyftpdlib reads class
        attributes)."""
        config = self._config
        ports = config.ftp_passive_port_range
        return type("EvedgeFTPHandler", (ChargerFTPHandler,), {
            "transfers": self._transfers,
            "passive_ports": list(ports) if ports is not None else None,
            "auth_failed_timeout": config.ftp_login_failure_delay,
        })

    def start(self) -> None:
        """Bind the port (an error, such as the port in use, is raised here) and serve."""
        config = self._config
        self._ioloop = IOLoop()
        self._server = FTPServer((config.ftp_host or config.host, config.ftp_port),
                                 self.handler_class(), ioloop=self._ioloop, backlog=128)
        self._waker = _Waker(self._ioloop)
        self._thread = threading.Thread(target=self._serve, name="evedge-ftp", daemon=True)
        self._thread.start()
        host, port = self.address
        log.info("FTP server for chargers on %s:%d (passive ports: %s)", host, port,
                 config.ftp_passive_ports or "any")

    def _serve(self) -> None:
        ioloop = self._ioloop
        assert ioloop is not None
        timeout = None  # until the next scheduled call of a session (timeouts, delays)
        try:
            while not self._stopping.is_set():
                ioloop.poll(timeout)
                timeout = ioloop.sched.poll()
        except Exception:
            log.exception("the FTP server stopped on an error")
        finally:
            ioloop.close()  # every session: an upload still arriving is discarded

    async def close(self) -> None:
        """Stop serving. The event loop keeps running meanwhile: an FTP session waiting for
        it (a grant, a commit) is answered before its thread ends."""
        thread = self._thread
        if thread is None:
            return
        self._thread = None
        self._stopping.set()
        assert self._waker is not None
        self._waker.wake()
        await asyncio.to_thread(thread.join, STOP_TIMEOUT)
        if thread.is_alive():
            log.warning("the FTP thread did not stop within %.0f s", STOP_TIMEOUT)
