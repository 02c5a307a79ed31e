"""Start-up and shutdown: build the services, listen, stop cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import ssl
import sys

from .config import MAX_BUFFERED_BODY_BYTES, Config
from .insecure import config_checks, state_checks, warn_insecure
from .metric_collectors import GateCollector
from .services import Services, build_services
from .web.app import make_app
from .web.connection_gate import GatedHTTPServer

log = logging.getLogger(__name__)

# Largest request body read into memory, and with it Tornado's default max_body_size
# (100 MB otherwise). No handler needs more: JSON and CSV bodies are small, and file
# uploads stream to disk and set their own limit (and body timeout) per request
# (web/files.py). How many such bodies may be in flight at once is capped too
# (max_buffered_bodies, web/connection_gate.py).
MAX_BUFFER_SIZE = MAX_BUFFERED_BODY_BYTES


def tune_garbage_collector() -> None:
    """Collect rarely: thousands of long-lived charger sessions make every full
    collection walk hundreds of thousands of objects.

    Measured with make bench (storm, one core): 10,000 chargers booting took 22.0 s
    and 20.9 s of CPU with CPython's defaults (700, 10, 10), 16.1 s and 15.0 s
    with these; MeterValues at saturation went from 359 to 337 us per message.
    Objects alive at start-up are frozen out of collection altogether.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)


def tls_context(config: Config) -> ssl.SSLContext | None:
    """TLS for wss:// (OCPP security profile 2), TLS 1.2 at least."""
    if not config.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert, config.tls_key)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # Python's default list drops static-RSA key exchange, so a charger offering only
    # TLS_RSA_WITH_AES_128/256_GCM (whitepaper edition 2, §4.1.x, the RSA pair) could not
    # connect at all; the forward-secret suites still come first.
    context.set_ciphers(config.tls_ciphers)
    return context


def http_server(config: Config, services: Services) -> GatedHTTPServer:
    """The HTTP server for the app, not yet listening (``serve`` and the tests use it).

    At most ``max_opening_connections`` connections are in their opening phase at
    once, so that a reconnect storm cannot starve the chargers already connected
    (web/connection_gate.py has the measurements).
    """
    server = GatedHTTPServer(make_app(services), ssl_options=tls_context(config),
                             idle_connection_timeout=120, max_buffer_size=MAX_BUFFER_SIZE,
                             body_timeout=config.request_body_timeout,
                             max_buffered_bodies=config.max_buffered_bodies,
                             max_opening_connections=config.max_opening_connections,
                             opening_deadline=config.opening_deadline,
                             max_opening_per_address=config.max_opening_per_address)
    services.metrics.watch(GateCollector(server))
    return server


def _box_name(config: Config) -> str:
    """How a technician reaches the box: its host name when it listens on every address."""
    return socket.gethostname() if config.host in ("0.0.0.0", "::", "") else config.host


def setup_banner(code: str, login_url: str) -> str:
    return (f"No admin yet. Create one with `evedge createuser` or open {login_url} and use "
            f"setup code {code}")


def show_setup_code(services: Services, login_url: str) -> None:
    """At every start until an admin exists: how to make the first one. In the log (on
    stdout: journald under systemd, the terminal under `make run`), and on stderr as
    well when the log level hides warnings."""
    code = services.accounts.setup_code
    if code is None:
        return
    banner = setup_banner(code, login_url)
    log.warning("%s", banner)
    if not log.isEnabledFor(logging.WARNING):
        print(banner, file=sys.stderr, flush=True)


async def serve(config: Config, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT, then close charger sockets and the database."""
    services = await build_services(config)
    tune_garbage_collector()
    server = http_server(config, services)
    tls = server.ssl_options
    server.listen(config.port, address=config.host, backlog=4096)
    scheme = "https" if tls else "http"
    shown = "127.0.0.1" if config.host in ("0.0.0.0", "") else config.host
    log.info("evedge listening on %s://%s:%d/ (OCPP: %s://%s:%d/ocpp/<charge_point_id>, "
             "dashboard: %s://%s:%d/ui/)", scheme, shown, config.port,
             "wss" if tls else "ws", shown, config.port, scheme, shown, config.port)
    warn_insecure(config_checks(config) + state_checks(config), log)
    show_setup_code(services, f"{scheme}://{_box_name(config)}:{config.port}/ui/")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)  # idempotent: a second signal is harmless
    if ready is not None:
        ready.set()
    await stop.wait()
    log.info("shutting down")
    server.stop()
    await services.close()
    try:
        await asyncio.wait_for(server.close_all_connections(), timeout=5)
    except TimeoutError:
        log.warning("some connections did not close within 5 s")
    log.info("stopped")
