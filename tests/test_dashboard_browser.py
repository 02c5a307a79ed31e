"""A real headless Chromium drives the real server: log in, commission a simulated charger,
remote-start it from the dashboard, watch the power arrive live, stop it, log out.

Uses Playwright for Python with Debian's Chromium (/usr/bin/chromium): Playwright's own
browser download (`playwright install`) needs the internet, which the box and CI lack.
`.ci/run` installs the chromium package; without it these tests are skipped.
"""

from __future__ import annotations

import asyncio
import re

import pytest_asyncio

from browser_kit import FIXTURES, LOOP, browser_marks, chromium, expect
from evedge.web.dashboard_socket import DashboardSocketHandler

pytestmark = browser_marks
start_server, server, api, library_charger, _, module_chromium = FIXTURES


@pytest_asyncio.fixture(loop_scope=LOOP)
async def site(server, api):
    """The server with an admin, a viewer and an accepted id tag; simulators aimed at it."""
    admin = await api.register("admin", "admin-pass")
    token = admin["access"]
    assert (await api.post("/api/id-tags/", {"id_tag": "CARD-1"}, token=token)).status == 201
    assert (await api.post("/api/users/", {"username": "vic", "password": "viewer-pass"},
                           token=token)).status == 201
    server.services.simulators.url = server.ocpp_url  # tests serve on an unused port
    return server


async def test_technician_commissions_and_charges_a_simulated_charger(site, api, tmp_path):
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "admin", "admin-pass")
        reloads: list[str] = []
        page.on("load", lambda: reloads.append(page.url))

        # Commissioning panel: a simulated charger that sends meter values every second.
        panel = page.locator("#commissioning")
        await panel.get_by_label("Charger id").fill("SIM-B1")
        await panel.get_by_label("Meter values every (s)").fill("1")
        await panel.get_by_role("button", name="Start simulator").click()
        row = page.locator('tr[data-id="SIM-B1"]')
        await expect(row.locator(".badge", has_text="Online")).to_be_visible()
        await expect(row.locator(".connector .badge")).to_have_text("Available")
        await expect(page.locator("#count-online")).to_have_text("1 of 1")

        # Remote start with an id tag, from the dashboard.
        await page.get_by_role("button", name="Start charging: SIM-B1 connector 1").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_label("ID tag").fill("CARD-1")
        await dialog.get_by_role("button", name="Start charging").click()
        await expect(page.locator(".notice", has_text="Remote start on SIM-B1")).to_contain_text(
            "Accepted")
        await expect(row.locator(".connector .badge")).to_have_text("Charging")
        await expect(row.locator('[data-live="power"]')).to_have_text("11.0 kW")
        energy = row.locator('[data-live="energy"]')
        await expect(energy).to_have_text(re.compile(r"^\d+\.\d\d kWh$"))
        await expect(page.locator("#count-charging")).to_have_text("1")
        await browser.shot("dashboard-charging")
        assert reloads == [], "the dashboard reloaded instead of updating live"

        # The charger page draws the transaction's power as it arrives.
        await row.get_by_role("link", name="SIM-B1").click()
        await expect(page.locator("#active-tx .chart canvas")).to_be_visible()
        await expect(page.locator('#active-tx [data-live="power"]')).to_have_text("11.0 kW")
        # ... and each connector's latest meter reading (last_meter of the charger detail).
        connector = page.locator("#connectors .connector", has_text="Connector 1")
        await expect(connector).to_contain_text(re.compile(r"meter \d+\.\d\d kWh at "))
        await browser.shot("charger-charging")
        await page.go_back()
        await expect(page.locator("#live-state")).to_have_text("Live")

        # Remote stop, confirmed in a dialog.
        await page.get_by_role("button", name="Stop charging: SIM-B1 connector 1").click()
        await page.get_by_role("dialog").get_by_role("button", name="Stop charging").click()
        await expect(row.locator(".connector .badge")).to_have_text("Available")
        await expect(row.locator('[data-live="power"]')).to_have_count(0)

        # The other pages render without a script error.
        pages = [("/ui/transactions/", "#tx-table td"), ("/ui/id-tags/", "#tag-table td"),
                 ("/ui/users/", "#user-table td"), ("/ui/files/", "#diag-table .empty")]
        for path, ready in pages:
            await page.goto(site.http_url + path)
            await expect(page.locator(ready).first).to_be_visible()

        # Log out: back to the login page, and the tokens no longer work.
        token = await page.evaluate("JSON.parse(localStorage.getItem('evedge.session')).access")
        await page.get_by_role("button", name="Log out").click()
        await expect(page).to_have_url(re.compile(r"/ui/$"))
        assert await page.evaluate("localStorage.getItem('evedge.session')") is None
        assert (await api.get("/api/auth/me/", token=token)).status == 401
        assert browser.problems == []

    [tx] = (await api.get("/api/transactions/", token=(await api.post(
        "/api/auth/login/", {"username": "admin", "password": "admin-pass"})).body["access"])
    ).body["items"]
    assert tx["charger_id"] == "SIM-B1" and tx["id_tag"] == "CARD-1" and not tx["active"]
    assert tx["stop_reason"] == "Remote" and tx["energy_wh"] is not None


async def test_viewer_sees_the_chargers_but_no_actions(site, api, tmp_path):
    site.services.simulators.start("SIM-V1")
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "vic", "viewer-pass")
        row = page.locator('tr[data-id="SIM-V1"]')
        await expect(row.locator(".connector .badge")).to_have_text("Available")
        await expect(page.locator("#whoami")).to_have_text("vic (viewer)")
        await expect(page.locator("#commissioning")).to_be_hidden()
        await expect(page.get_by_role("link", name="Users")).to_be_hidden()
        actions = page.get_by_role("button", name=re.compile("Start|Stop|Reset|Unlock"))
        assert await actions.count() == 0
        await row.get_by_role("link", name="SIM-V1").click()
        await expect(page).to_have_url(re.compile(r"/ui/charger/SIM-V1/$"))
        await expect(page.locator("#charger-badges")).to_contain_text("Online")
        await expect(page.locator("#commands")).to_be_hidden()
        await expect(page.locator("#admin-panel")).to_be_hidden()
        await browser.shot("charger-viewer")
        assert browser.problems == []


async def test_tokens_are_refreshed_before_they_expire_and_live_updates_go_on(
        start_server, tmp_path, monkeypatch):
    sent: asyncio.Queue[str] = asyncio.Queue()  # tokens the browser authenticated the socket with
    authenticate = DashboardSocketHandler._authenticate

    def spy(handler, token):
        sent.put_nowait(token)
        authenticate(handler, token)

    monkeypatch.setattr(DashboardSocketHandler, "_authenticate", spy)
    # Access tokens of 62 s: the page refreshes them a minute early, so within 2 s.
    server = await start_server(access_token_ttl=62)
    await server.api.register("admin", "admin-pass")
    server.services.simulators.url = server.ocpp_url
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(server.http_url, "admin", "admin-pass")
        first = await page.evaluate("JSON.parse(localStorage.getItem('evedge.session')).access")
        async with page.expect_response(lambda r: r.url.endswith("/api/auth/refresh/")) as info:
            pass
        assert (await info.value).status == 200
        second = await page.evaluate("JSON.parse(localStorage.getItem('evedge.session')).access")
        assert second != first
        # The page re-authenticates its live socket with the new token, which still delivers.

        async def reauthenticated() -> None:
            while await sent.get() != second:
                pass

        await asyncio.wait_for(reauthenticated(), 5)
        server.services.simulators.start("SIM-R1")
        row = page.locator('tr[data-id="SIM-R1"]')
        await expect(row.locator(".connector .badge")).to_have_text("Available")
        await expect(page.locator("#live-state")).to_have_text("Live")
        assert browser.problems == []
