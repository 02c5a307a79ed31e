"""The charger page hands an FTP-only charger ftp:// locations: firmware update and
diagnostics, clicked in a real headless Chromium against the real server with FTP on.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest_asyncio
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from browser_kit import FIXTURES, LOOP, browser_marks, chromium, expect, site_chargers
from conftest import free_port

pytestmark = browser_marks
start_server, _, api, library_charger, site, module_chromium = FIXTURES


@pytest_asyncio.fixture(name="server", loop_scope=LOOP)
async def _server_with_ftp(start_server):
    return await start_server(ftp_port=free_port())


class FtpOnlyCharger(ChargePoint):
    """Reports SupportedFileTransferProtocols = FTP and keeps the locations it is sent."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.locations: asyncio.Queue = asyncio.Queue()

    @on(Action.get_configuration)
    def on_get_configuration(self, **kwargs):
        return call_result.GetConfiguration(configuration_key=[
            {"key": "SupportedFileTransferProtocols", "readonly": True, "value": "FTP"}])

    @on(Action.update_firmware)
    def on_update_firmware(self, location, **kwargs):
        self.locations.put_nowait(("UpdateFirmware", location))
        return call_result.UpdateFirmware()

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location, **kwargs):
        self.locations.put_nowait(("GetDiagnostics", location))
        return call_result.GetDiagnostics(file_name="diag.log")


async def test_the_charger_page_sends_ftp_locations_to_an_ftp_only_charger(
        site, api, library_charger, tmp_path):
    uploaded = await api.request("PUT", "/api/firmware/fw-9.bin", raw=b"\x01" * 64,
                                 token=site.token,
                                 headers={"Content-Type": "application/octet-stream"})
    assert uploaded.status == 201
    ftp_port = site.config.ftp_port
    async with site_chargers(library_charger, {"CP-FTP": {1: "Available"}},
                             cls=FtpOnlyCharger) as cps:
        cp = cps["CP-FTP"]
        learned = await api.post("/api/chargers/CP-FTP/get-configuration/", {},
                                 token=site.token)
        assert learned.status == 200
        async with chromium(tmp_path) as browser:
            page = browser.page
            await browser.log_in(site.http_url, "otto", "otto-pass-1")
            await page.goto(site.http_url + "/ui/charger/CP-FTP/")
            await page.locator("#firmware-file").select_option(label="fw-9.bin")
            await page.get_by_role("button", name="Update firmware…").click()
            await page.get_by_role("dialog").get_by_role("button",
                                                         name="Update firmware").click()
            action, location = await asyncio.wait_for(cp.locations.get(), 10)
            parts = urlsplit(location)
            assert (action, parts.scheme, parts.username) == ("UpdateFirmware", "ftp",
                                                              "firmware")
            assert parts.port == ftp_port and parts.path == "/fw-9.bin" and parts.password

            await page.get_by_role("button", name="Get diagnostics (upload to the box)").click()
            action, location = await asyncio.wait_for(cp.locations.get(), 10)
            parts = urlsplit(location)
            assert (action, parts.scheme, parts.username) == ("GetDiagnostics", "ftp",
                                                              "diagnostics")
            await expect(page.locator(".notice", has_text="Diagnostics files")).to_be_visible()
            assert browser.problems == []
