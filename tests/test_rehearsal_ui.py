"""A commissioning rehearsal as a technician runs it, in a real headless Chromium against the
real server: start a simulated charger, plug a car in, swipe a tag, watch the session start
and the power arrive, fault a connector and see it in "Needs attention", clear it, take the
charger offline and see it lost and back; on the dashboard at laptop size, on the charger's
own page at tablet size. No console errors.
"""

from __future__ import annotations

import re

from browser_kit import FIXTURES, TABLET, browser_marks, chromium, expect

pytestmark = browser_marks
start_server, server, api, library_charger, site, module_chromium = FIXTURES


async def shot(browser, name: str) -> None:
    """A screenshot with the notices dismissed first, as a technician would to see the page
    (the notices sit over the bottom of the window, so over the panel in a full-page shot)."""
    notices = browser.page.locator("#notices")
    more = notices.get_by_role("button", name="Dismiss all")
    if await more.is_visible():
        await more.click()
    for close in await notices.get_by_role("button", name="Dismiss", exact=True).all():
        await close.click()
    await expect(notices.locator(".notice")).to_have_count(0)
    await browser.shot(name)


async def test_a_technician_rehearses_on_the_dashboard(site, tmp_path):
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "otto", "otto-pass-1")
        panel = page.locator("#commissioning")
        await panel.get_by_label("Charger id").fill("SIM-R1")
        await panel.get_by_label("Meter values every (s)").fill("1")
        await panel.get_by_role("button", name="Start simulator").click()
        row = page.locator('tr[data-id="SIM-R1"]')
        connector = row.locator('.connector[data-connector="1"]')
        simulator = panel.locator('tr[data-simulator="SIM-R1"]')
        await expect(connector.locator(".badge")).to_have_text("Available")
        await expect(simulator).to_contain_text("Connected")

        # A car, then a tag: Preparing, then the session and its power, live.
        await page.get_by_role("button", name="Plug in: SIM-R1 connector 1").click()
        await expect(page.locator(".notice", has_text="SIM-R1 connector 1: car plugged in")
                     ).to_contain_text("Preparing")
        await expect(connector.locator(".badge")).to_have_text("Preparing")
        await expect(simulator).to_contain_text("car plugged in")
        await page.get_by_role("button", name="Swipe tag: SIM-R1 connector 1").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_label("ID tag").fill("CARD-1")
        await dialog.get_by_role("button", name="Swipe tag").click()
        await expect(page.locator(".notice", has_text="CARD-1 Accepted")).to_contain_text(
            re.compile(r"transaction \d+ started"))
        await expect(connector.locator(".badge")).to_have_text("Charging")
        await expect(connector.locator('[data-live="power"]')).to_have_text("11.0 kW")
        await expect(page.locator("#count-charging")).to_have_text("1")
        await shot(browser, "rehearsal-charging-laptop")

        # A fault, with its code and text, in "Needs attention" from the live event alone.
        details: list[str] = []
        page.on("request", lambda r: details.append(r.url)
                if r.url.endswith("/api/chargers/SIM-R1/") else None)
        await page.get_by_role("button", name="Fault: SIM-R1 connector 1").click()
        await dialog.get_by_label("Error code").select_option("GroundFailure")
        await dialog.get_by_label(re.compile("What the charger says")).fill("RCD tripped")
        await dialog.get_by_role("button", name="Report the fault").click()
        strip = page.locator("#attention .attention-item")
        await expect(strip).to_have_count(1)
        await expect(strip).to_contain_text(re.compile(
            r"SIM-R1.*connector 1 Faulted: GroundFailure \(RCD tripped\).*just now"))
        await expect(connector.locator(".badge")).to_have_text("Faulted")
        await expect(connector.locator(".error-text")).to_have_text("GroundFailure")
        await expect(connector.locator('[data-live="power"]')).to_have_text("0.0 kW")
        await shot(browser, "rehearsal-fault-laptop")
        await page.get_by_role("button", name="Clear fault: SIM-R1 connector 1").click()
        await expect(strip).to_have_count(0)
        await expect(connector.locator(".badge")).to_have_text("Charging")
        await expect(connector.locator('[data-live="power"]')).to_have_text("11.0 kW")

        # Off the network until told, then back: lost, and live again with the session.
        await page.get_by_role("button", name="Go offline: SIM-R1").click()
        await dialog.get_by_role("button", name="Go offline").click()
        await expect(row.locator(".cell-state .badge")).to_have_text("Offline")
        await expect(connector).to_contain_text("last known:")
        await expect(strip).to_have_count(1)
        await expect(strip).to_contain_text(re.compile(r"SIM-R1\s*offline"))
        await expect(simulator).to_contain_text("until you bring it back")
        await expect(page.locator("#count-offline")).to_have_text("1")
        await shot(browser, "rehearsal-offline-laptop")
        await page.get_by_role("button", name="Go online: SIM-R1").click()
        await expect(row.locator(".cell-state .badge")).to_have_text("Online")
        await expect(strip).to_have_count(0)
        await expect(connector.locator(".badge")).to_have_text("Charging")
        await expect(simulator).to_contain_text("Connected")
        await expect(page.get_by_role("button", name="Go offline: SIM-R1")).to_be_focused()
        # Status events carry the fault's text and time: nothing was fetched for them.
        assert details == [], "a status was shown by refetching the charger"

        await page.get_by_role("button", name="Plug out: SIM-R1 connector 1").click()
        await expect(connector.locator(".badge")).to_have_text("Available")
        await expect(connector.locator('[data-live="power"]')).to_have_count(0)
        assert browser.problems == []


async def test_a_simulated_chargers_own_page_rehearses_too_on_a_tablet(site, tmp_path):
    site.services.simulators.start("SIM-T1", meter_interval=1, connectors=2)
    await site.services.simulators.simulated("SIM-T1").wait_online(10)
    async with chromium(tmp_path, viewport=TABLET) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "otto", "otto-pass-1")
        await page.goto(site.http_url + "/ui/charger/SIM-T1/")
        panel = page.locator("#rehearsal")
        await expect(panel).to_be_visible()
        await expect(panel.locator("#rehearsal-connection")).to_contain_text("Connected")
        page_connector = page.locator('#connectors .connector[data-connector="2"]')
        await expect(page_connector.locator(".badge")).to_have_text("Available")

        await panel.get_by_role("button", name="Plug in: SIM-T1 connector 2").click()
        await expect(page_connector.locator(".badge")).to_have_text("Preparing")
        await panel.get_by_role("button", name="Swipe tag: SIM-T1 connector 2").click()
        await page.get_by_role("dialog").get_by_label("ID tag").fill("CARD-1")
        await page.keyboard.press("Enter")  # a desk reader types the card and Enter
        await expect(page.locator('#active-tx [data-connector="2"] [data-live="power"]')
                     ).to_have_text("11.0 kW")
        await expect(panel.locator('[data-sim-connector="2"]')).to_contain_text(
            re.compile(r"car plugged in · transaction \d+"))

        await panel.get_by_role("button", name="Fault whole charger: SIM-T1").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_label("Error code").select_option("PowerMeterFailure")
        await dialog.get_by_role("button", name="Report the fault").click()
        whole = page.locator('#connectors .connector[data-connector="0"]')
        await expect(whole.locator(".badge")).to_have_text("Faulted")
        await expect(whole.locator(".error-text")).to_have_text("PowerMeterFailure")
        await browser.no_horizontal_scroll()
        await shot(browser, "rehearsal-charger-page-tablet")
        await panel.get_by_role("button", name="Clear charger fault: SIM-T1").click()
        await expect(whole.locator(".badge")).to_have_text("Available")

        # Offline for a few seconds, rebooting: the session ends, it boots and comes back.
        await panel.get_by_role("button", name="Go offline: SIM-T1").click()
        await dialog.get_by_label("Back after (seconds, optional)").fill("3")
        await dialog.get_by_label("When it is back").select_option("true")
        await dialog.get_by_role("button", name="Go offline").click()
        badges = page.locator("#charger-badges")
        await expect(badges).to_contain_text("Offline")
        await expect(panel.locator("#rehearsal-connection")).to_contain_text("back at")
        await expect(badges).to_contain_text("Online")
        await expect(page.locator("#active-tx")).to_contain_text("No transaction is running")
        await expect(panel.locator("#rehearsal-connection")).to_contain_text("Connected")
        await expect(page_connector.locator(".badge")).to_have_text("Preparing")  # car still in

        await page.goto(site.http_url + "/ui/dashboard")
        await expect(page.locator('#sim-rows tr[data-simulator="SIM-T1"]')).to_contain_text(
            "car plugged in")
        await browser.no_horizontal_scroll()
        await shot(browser, "rehearsal-dashboard-tablet")
        assert browser.problems == []
