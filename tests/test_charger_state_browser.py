"""The charger page shows what evedge keeps about a charger: the firmware deviations it
repaired (docs/decisions.md D22) and a stop without a reason as Local (D26); in a real
headless Chromium against the real server."""

from __future__ import annotations

import json

import websockets

from browser_kit import FIXTURES, browser_marks, chromium, expect

pytestmark = browser_marks
start_server, server, api, library_charger, site, module_chromium = FIXTURES

T0 = "2026-11-20T10:00:00Z"


async def call(ws, frame: list) -> list:
    await ws.send(json.dumps(frame))
    return json.loads(await ws.recv())


async def test_the_charger_page_lists_the_repairs_for_the_vendor(site, tmp_path):
    async with websockets.connect(f"{site.ocpp_url}/CP-VENDOR", subprotocols=["ocpp1.6"]) as ws:
        assert (await call(ws, [2, "b", "BootNotification", {
            "chargePointVendor": "Acme", "chargePointModel": "X1"}]))[0] == 3
        start = await call(ws, [2, "s", "StartTransaction", {
            "connectorId": 1, "idTag": "CARD-1", "meterStart": 0, "timestamp": T0}])
        for n in range(3):
            assert (await call(ws, [2, f"m{n}", "MeterValues", {
                "connectorId": 1, "transactionId": start[2]["transactionId"],
                "meterValue": [{"timestamp": T0, "sampledValue": [
                    {"value": "5", "unit": "mA", "measurand": "Current.Import"}]}]}]))[0] == 3
        assert (await call(ws, [2, "t", "StopTransaction", {   # no reason: Local
            "transactionId": start[2]["transactionId"], "meterStop": 10,
            "timestamp": T0}]))[0] == 3

        async with chromium(tmp_path) as browser:
            page = browser.page
            await browser.log_in(site.http_url, "vic", "vic-pass-1")   # a viewer sees it too
            await page.goto(site.http_url + "/ui/charger/CP-VENDOR/")
            section = page.locator("#repairs")
            row = section.locator('tr[data-kind="enum_raw"]')
            await expect(row).to_contain_text("MeterValues")
            await expect(row).to_contain_text("meterValue[].sampledValue[].unit")
            await expect(row).to_contain_text("unlisted value, kept as sent")
            await expect(row.locator('td[data-label="Count"]')).to_have_text("3")
            await expect(row.locator('td[data-label="Example"]')).to_have_text("mA")
            await expect(row.locator('td[data-label="First seen"]')).not_to_have_text("–")
            await expect(page.get_by_role("heading", name="Firmware deviations evedge repaired")
                         ).to_be_visible()
            await expect(page.locator("#recent")).to_contain_text("Local")
            await browser.shot("charger-repairs")
            assert browser.problems == []


async def test_a_charger_without_deviations_says_so(site, library_charger, tmp_path):
    from ocpp.v16 import call as ocpp

    async with library_charger("CP-CLEAN") as cp:
        await cp.call(ocpp.BootNotification(charge_point_vendor="Acme", charge_point_model="X1"))
        async with chromium(tmp_path) as browser:
            page = browser.page
            await browser.log_in(site.http_url, "admin", "admin-pass")
            await page.goto(site.http_url + "/ui/charger/CP-CLEAN/")
            await expect(page.locator("#repairs")).to_contain_text(
                "everything this charger sent followed the OCPP 1.6 schemas")
            assert browser.problems == []
