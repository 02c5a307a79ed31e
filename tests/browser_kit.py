"""What the browser tests share: a real headless Chromium (Debian's /usr/bin/chromium through
Playwright; never `playwright install`, which downloads a browser), a page that collects what
the console says, log-in, screenshots in the test's output folder, and a TCP relay that cuts
the network between the browser and the box for real.

One Chromium serves a whole test module (starting Playwright's driver and the browser costs
about a second a test); each test gets its own browser context (its own storage, as a fresh
browser profile), its own server and database. So the module's tests share one event loop:
``FIXTURES`` are conftest's server fixtures on that loop. A module uses them with

    pytestmark = browser_marks
    start_server, server, api, library_charger, site, module_chromium = FIXTURES
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

playwright_api = pytest.importorskip("playwright.async_api")
async_playwright, expect = playwright_api.async_playwright, playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
# As the machine notes say: without the background-networking flags Chromium keeps trying
# to reach Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 15_000
LAPTOP = {"width": 1280, "height": 900}
TABLET = {"width": 768, "height": 1024}
PHONE = {"width": 390, "height": 844}

LOOP = "module"
browser_marks = [
    pytest.mark.slow,
    pytest.mark.timeout(60),
    pytest.mark.asyncio(loop_scope=LOOP),
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"),
]


class Browser:
    """One Chromium page, with everything the console said."""

    def __init__(self, page, tmp_path: Path | None = None):
        self.page = page
        self.tmp_path = tmp_path
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    async def log_in(self, base: str, username: str, password: str,
                     landing: str = r"/ui/dashboard$") -> None:
        page = self.page
        if not re.search(r"/ui/(\?.*)?$", page.url):
            await page.goto(base + "/ui/")
        await page.get_by_label("User name").fill(username)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(re.compile(landing))
        if landing.endswith("dashboard$"):
            await expect(page.locator("#live-state")).to_have_text("Live")

    async def shot(self, name: str) -> Path:
        """A full-page screenshot in the test's output folder; its path is printed."""
        assert self.tmp_path is not None
        path = self.tmp_path / f"{name}.png"
        await self.page.screenshot(path=path, full_page=True)
        print(f"screenshot: {path}")
        return path

    async def no_horizontal_scroll(self) -> None:
        overflow = await self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow} px"


_shared: dict[str, Any] = {}  # the module's Chromium, while its tests run


@pytest_asyncio.fixture(scope="module", loop_scope=LOOP, autouse=True)
async def module_chromium():
    """One Chromium for the module's tests (launched by the first test that asks)."""
    yield
    launched = _shared.pop("browser", None)
    playwright = _shared.pop("playwright", None)
    if launched is not None:
        await launched.close()
    if playwright is not None:
        await playwright.stop()


async def _launched():
    if "browser" not in _shared:
        _shared["playwright"] = await async_playwright().start()
        _shared["browser"] = await _shared["playwright"].chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    return _shared["browser"]


@contextlib.asynccontextmanager
async def chromium(tmp_path, viewport: dict | None = None, **context: Any):
    """A Browser on a fresh context (a fresh profile: no storage, no cookies);
    ``browser.page.context.new_page()`` opens more tabs of it."""
    ctx = await (await _launched()).new_context(viewport=viewport or LAPTOP, **context)
    try:
        ctx.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)
        yield Browser(await ctx.new_page(), tmp_path)
    finally:
        await ctx.close()


async def admin_token(api, username: str = "admin", password: str = "admin-pass") -> str:
    return (await api.post("/api/auth/login/", {"username": username, "password": password})
            ).body["access"]


class Relay:
    """A TCP relay between the browser and the box: ``cut()`` drops every connection and
    refuses new ones (the site network is gone), ``restore()`` listens again."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = 0
        self.server: asyncio.base_events.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> "Relay":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.links |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self.links.discard(writer)
            writer.close()

    async def cut(self) -> None:
        self.server.close()
        await self.server.wait_closed()
        for writer in list(self.links):
            writer.transport.abort()
        self.links.clear()

    async def restore(self) -> None:
        await self.start()


@contextlib.asynccontextmanager
async def site_chargers(library_charger, specs: dict[str, dict[int, Any]], cls=None):
    """Library chargers booted and with their connector statuses sent: ``specs`` maps a
    charger id to {connector_id: status or (status, error_code, info, timestamp)}."""
    from ocpp.v16 import ChargePoint, call

    async with contextlib.AsyncExitStack() as stack:
        points = {}
        for charger_id, connectors in specs.items():
            cp = await stack.enter_async_context(
                library_charger(charger_id, cls=cls or ChargePoint))
            await cp.call(call.BootNotification(charge_point_vendor="Acme",
                                                charge_point_model="X1"))
            for connector_id, status in connectors.items():
                await send_status(cp, connector_id, status)
            points[charger_id] = cp
        yield points


async def send_status(cp, connector_id: int, status) -> None:
    from ocpp.v16 import call

    parts = (status,) if isinstance(status, str) else tuple(status)
    name, error, info, timestamp = (parts + (None, None, None))[:4]
    extra = {}
    if info:
        extra["info"] = info
    if timestamp:
        extra["timestamp"] = timestamp
    await cp.call(call.StatusNotification(connector_id=connector_id, status=name,
                                          error_code=error or "NoError", **extra))


# --- conftest's server fixtures, on the module's event loop ---------------------------------------

@pytest_asyncio.fixture(name="start_server", loop_scope=LOOP)
async def _start_server(tmp_path):
    """Factory: ``await start_server(**config_overrides)`` -> a running server."""
    from conftest import Servers
    servers = Servers(tmp_path)
    yield servers.start
    await servers.close()


@pytest_asyncio.fixture(name="server", loop_scope=LOOP)
async def _server(start_server):
    return await start_server()


@pytest_asyncio.fixture(name="api", loop_scope=LOOP)
async def _api(server):
    return server.api


@pytest_asyncio.fixture(name="library_charger", loop_scope=LOOP)
async def _library_charger(server):
    """``async with library_charger("CP-1", cls=MyChargePoint) as cp`` (conftest's, here)."""
    from conftest import library_chargers
    return library_chargers(server)


@pytest_asyncio.fixture(name="site", loop_scope=LOOP)
async def _site(server, api):
    """The server with an admin, an operator, a viewer and an accepted id tag CARD-1;
    simulators aimed at it."""
    token = (await api.register("admin", "admin-pass"))["access"]
    assert (await api.post("/api/id-tags/", {"id_tag": "CARD-1"}, token=token)).status == 201
    for name, role in (("vic", "viewer"), ("otto", "operator")):
        assert (await api.post("/api/users/", {"username": name, "password": f"{name}-pass-1",
                                               "role": role}, token=token)).status == 201
    server.services.simulators.url = server.ocpp_url  # tests serve on an unused port
    server.token = token
    return server


async def until(page, expression: str, timeout: float = 10.0) -> Any:
    """Evaluate ``expression`` in the page until it is truthy (for state no DOM event shows,
    such as a chart library's internals); returns its value. Bounded by ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"never true: {expression}"
        await asyncio.sleep(0.05)


FIXTURES = (_start_server, _server, _api, _library_charger, _site, module_chromium)
