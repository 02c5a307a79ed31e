"""The dashboard's round-two defects, each as a technician meets it, in a real headless
Chromium against the real server (simulators and the ocpp library's ChargePoint as chargers,
real sockets, a real SQLite file). Each test failed on the dashboard before the fix.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from browser_kit import (FIXTURES, TABLET, Relay, browser_marks, chromium, expect,
                         site_chargers, until)
from evedge.storage.models import Charger, Transaction
from evedge.timeutil import utcnow

pytestmark = browser_marks
start_server, server, api, library_charger, site, module_chromium = FIXTURES


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


async def charging_simulator(site, charger_id: str = "SIM-1", **options):
    """A simulated charger that is Available and sends meter values every second."""
    simulator = site.services.simulators
    simulator.start(charger_id, meter_interval=1, **options)
    for _ in range(200):
        if Charger.select().where(Charger.id == charger_id,
                                  Charger.last_boot_at.is_null(False)).exists():
            break
        await asyncio.sleep(0.025)  # a record to appear: nothing to await on in the fleet


# --- Enter submits every dialog -----------------------------------------------------------------

async def test_enter_submits_remote_start_reset_and_new_password(site, api, tmp_path):
    site.services.simulators.start("SIM-E", meter_interval=1)
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "admin", "admin-pass")
        row = page.locator('tr[data-id="SIM-E"]')
        await expect(row.locator(".connector .badge")).to_have_text("Available")

        # A USB RFID desk reader types the card number, then Enter.
        await page.get_by_role("button", name="Start charging: SIM-E connector 1").click()
        await page.get_by_role("dialog").get_by_label("ID tag").press_sequentially("CARD-1")
        await page.keyboard.press("Enter")
        await expect(page.locator(".notice", has_text="Remote start on SIM-E")).to_contain_text(
            "Accepted")
        await expect(row.locator(".connector .badge")).to_have_text("Charging")

        # Reset: the dialog opens on the reset type, Enter sends it.
        await page.get_by_role("button", name="Reset SIM-E").click()
        await expect(page.get_by_role("dialog").get_by_label("Reset type")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.locator(".notice", has_text="Soft reset of SIM-E")).to_contain_text(
            "Accepted")
        await expect(page.get_by_role("dialog")).to_have_count(0)

        # A new password for a user, typed and Enter.
        await page.goto(site.http_url + "/ui/users/")
        await page.get_by_role("row", name=re.compile("vic")).get_by_role(
            "button", name="New password…").click()
        await page.get_by_role("dialog").get_by_label("Password").fill("new-vic-pass")
        await page.keyboard.press("Enter")
        await expect(page.locator(".notice", has_text="Password of vic set")).to_be_visible()
        assert browser.problems == []
    login = await api.post("/api/auth/login/", {"username": "vic", "password": "new-vic-pass"})
    assert login.status == 200


# --- remote start tells the truth ----------------------------------------------------------------

async def test_remote_start_warns_before_a_refused_tag_and_says_what_happened(
        site, api, tmp_path):
    for tag, status in (("CARD-B", "Blocked"),):
        assert (await api.post("/api/id-tags/", {"id_tag": tag, "status": status},
                               token=site.token)).status == 201
    await charging_simulator(site, "SIM-T", connectors=2)
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "otto", "otto-pass-1")
        row = page.locator('tr[data-id="SIM-T"]')
        await expect(row.locator(".connector .badge").first).to_have_text("Available")
        dialog = page.get_by_role("dialog")

        # An unknown tag: named before anything is sent; Cancel sends nothing.
        await page.get_by_role("button", name="Start charging: SIM-T connector 1").click()
        await dialog.get_by_label("ID tag").fill("NO-SUCH-CARD")
        await dialog.get_by_role("button", name="Start charging").click()
        await expect(dialog.get_by_role("alert")).to_contain_text("not a known ID tag")
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_have_count(0)

        # A blocked tag (any case): warned, sent anyway, and then told nothing charges.
        await page.get_by_role("button", name="Start charging: SIM-T connector 1").click()
        await dialog.get_by_label("ID tag").fill("card-b")
        await page.keyboard.press("Enter")
        await expect(dialog.get_by_role("alert")).to_contain_text("CARD-B is Blocked")
        await browser.shot("remote-start-warning")
        await dialog.get_by_role("button", name="Send anyway").click()
        refused = page.locator(".notice", has_text="Remote start on SIM-T, connector 1")
        await expect(refused).to_contain_text("the box refused card-b (Blocked)")
        await expect(refused).to_contain_text("nothing charges")

        # A good tag: the follow-up says the session started.
        await page.get_by_role("button", name="Start charging: SIM-T connector 2").click()
        await dialog.get_by_label("ID tag").fill("CARD-1")
        await page.keyboard.press("Enter")
        started = page.locator(".notice", has_text="Remote start on SIM-T, connector 2")
        await expect(started).to_contain_text(re.compile(r"charging started \(transaction \d+\)"))
        assert browser.problems == []
    [refused_tx] = Transaction.select().where(Transaction.id_tag == "card-b")
    assert refused_tx.auth_status == "Blocked"


class AcceptsButNeverStarts(ChargePoint):
    """Accepts a RemoteStartTransaction and then does nothing (no car plugged in)."""

    @on(Action.remote_start_transaction)
    def on_remote_start(self, **kwargs):
        return call_result.RemoteStartTransaction(status="Accepted")


async def test_remote_start_that_starts_nothing_is_reported_after_30_seconds(
        site, library_charger, tmp_path):
    async with site_chargers(library_charger, {"CP-IDLE": {1: "Available"}},
                             cls=AcceptsButNeverStarts):
        async with chromium(tmp_path) as browser:
            page = browser.page
            await page.clock.install()  # the page's timers, so that 30 s can pass at once
            await browser.log_in(site.http_url, "admin", "admin-pass")
            await page.get_by_role("button", name="Start charging: CP-IDLE connector 1").click()
            await page.get_by_role("dialog").get_by_label("ID tag").fill("CARD-1")
            await page.keyboard.press("Enter")
            notice = page.locator(".notice", has_text="Remote start on CP-IDLE, connector 1")
            await expect(notice).to_contain_text("waiting for the charger to start the session")
            await page.clock.fast_forward("00:31")
            await expect(notice).to_contain_text("no session started within 30 s")
            assert browser.problems == []


# --- stale data never looks live ------------------------------------------------------------------

async def test_with_the_box_unreachable_nothing_looks_live(site, api, tmp_path):
    await charging_simulator(site, "SIM-L")
    await charging_simulator(site, "SIM-GONE")
    started = await api.post("/api/chargers/start/SIM-L/", {"connector_id": 1, "id_tag": "CARD-1"},
                             token=site.token)
    assert started.status == 200
    relay = await Relay(site.port).start()
    async with chromium(tmp_path) as browser:
        page = browser.page
        await page.goto(relay.url + "/ui/")
        await browser.log_in(relay.url, "admin", "admin-pass")
        row = page.locator('tr[data-id="SIM-L"]')
        await expect(row.locator(".connector .badge")).to_have_text("Charging")
        await expect(row.locator('[data-live="power"]')).to_have_text("11.0 kW")
        stop = page.get_by_role("button", name="Stop charging: SIM-L connector 1")
        await expect(stop).to_be_enabled()

        # An offline charger: its connectors are the last known state, greyed, with since when.
        await site.services.simulators.stop("SIM-GONE")
        gone = page.locator('tr[data-id="SIM-GONE"]')
        await expect(gone.locator(".connector")).to_contain_text("last known:")
        await expect(gone.locator(".cell-state")).to_contain_text(re.compile(r"Offline\s+since"))
        await expect(gone.locator(".connector")).to_have_class(re.compile(r"\bstale\b"))

        await relay.cut()  # the site network is gone
        banner = page.locator("#connection-lost")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("No connection to the box since")
        await expect(row.locator(".cell-state")).to_contain_text("last known: Online")
        await expect(row.locator(".connector")).to_contain_text("last known:")
        await expect(stop).to_be_disabled()
        await expect(page.get_by_role("button", name="Reset SIM-L")).to_be_disabled()
        grey = await row.locator('[data-live="power"]').evaluate("e => getComputedStyle(e).color")
        assert grey == "rgb(61, 68, 80)", grey  # var(--muted), not the live ink
        await browser.shot("dashboard-connection-lost")

        await relay.restore()
        await expect(banner).to_be_hidden(timeout=30_000)
        await expect(stop).to_be_enabled()
        await expect(row.locator(".cell-state")).to_contain_text("Online")
        assert [p for p in browser.problems if "ERR_CONNECTION" not in p] == []
    await relay.cut()


# --- expired tags are Expired everywhere ----------------------------------------------------------

async def test_an_expired_tag_is_shown_filtered_and_not_suggested_as_expired(site, api, tmp_path):
    yesterday = iso(utcnow() - dt.timedelta(days=1))
    assert (await api.post("/api/id-tags/", {"id_tag": "OLD-CARD", "expiry_date": yesterday},
                           token=site.token)).status == 201
    site.services.simulators.start("SIM-X")
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "admin", "admin-pass")
        await page.goto(site.http_url + "/ui/id-tags/")
        old = page.get_by_role("row", name=re.compile("OLD-CARD"))
        await expect(old.locator(".badge")).to_have_text("Expired")
        await page.locator("#tag-status").select_option("Expired")
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("#tag-count")).to_have_text("1 tag(s)")
        await expect(page.locator("#tag-table")).to_contain_text("OLD-CARD")
        await page.locator("#tag-status").select_option("Accepted")
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("#tag-table")).not_to_contain_text("OLD-CARD")

        await page.goto(site.http_url + "/ui/dashboard")
        await page.get_by_role("button", name="Start charging: SIM-X connector 1").click()
        suggestions = page.locator("#known-tags option")
        await expect(suggestions).to_have_count(1)
        assert await suggestions.first.get_attribute("value") == "CARD-1"
        await page.get_by_role("dialog").get_by_label("ID tag").fill("OLD-CARD")
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("dialog").get_by_role("alert")).to_contain_text(
            "OLD-CARD expired on")
        assert browser.problems == []


# --- the login follows the technician: deep links, several tabs -----------------------------------

async def test_a_deep_link_survives_the_login_and_next_never_leaves_the_box(site, tmp_path):
    site.services.simulators.start("SIM-QR")
    async with chromium(tmp_path) as browser:
        page = browser.page
        # A QR code on the charger's sticker, scanned before logging in.
        await page.goto(site.http_url + "/ui/charger/SIM-QR/?from=sticker")
        await expect(page).to_have_url(re.compile(r"/ui/\?next="))
        await browser.log_in(site.http_url, "admin", "admin-pass",
                             landing=r"/ui/charger/SIM-QR/\?from=sticker$")
        await expect(page.locator("#charger-title")).to_contain_text("SIM-QR")

        evil = ["//evil.example/ui/", "https://evil.example/ui/", "/\\evil.example/ui/",
                "javascript:alert(1)", "/ui/../api/openapi.json", "/ui/%2e%2e/api/x",
                "/ui\t//evil.example", " /ui/dashboard", "/ui/", "/api/chargers/", "",
                "\\\\evil.example", "/ui/\n/evil", "http:/ui/dashboard", "%2F%2Fevil.example"]
        good = ["/ui/dashboard", "/ui/charger/A%2FB/", "/ui/transactions/?id_tag=x#top"]
        results = await page.evaluate(
            "async (values) => { const nav = await import('/static/js/nav.js');"
            " return values.map((v) => nav.safeNext(v)); }", evil + good)
        assert results[:len(evil)] == [None] * len(evil), list(zip(evil, results))
        assert results[len(evil):] == good

        await page.get_by_role("button", name="Log out").click()
        await expect(page).to_have_url(re.compile(r"/ui/$"))
        await page.goto(site.http_url + "/ui/?next=" + "%2F%2Fevil.example%2Fui%2F")
        await browser.log_in(site.http_url, "admin", "admin-pass")  # lands on the dashboard
        assert browser.problems == []


@pytest.mark.parametrize("locks", ["web-locks", "storage-lease"])
async def test_tabs_share_one_login_rotate_it_once_and_log_out_together(
        start_server, tmp_path, locks):
    # Access tokens of 61 s: each tab refreshes a minute early, so every second or so.
    server = await start_server(access_token_ttl=61)
    await server.api.register("admin", "admin-pass")
    async with chromium(tmp_path) as browser:
        context = browser.page.context
        if locks == "storage-lease":  # plain http on the depot LAN: no navigator.locks
            await context.add_init_script(
                "Object.defineProperty(Navigator.prototype, 'locks', {get: () => undefined})")
        sent: list[str] = []
        answers: list[int] = []
        context.on("request", lambda r: sent.append(json.loads(r.post_data)["refresh"])
                   if r.url.endswith("/api/auth/refresh/") else None)
        context.on("response", lambda r: answers.append(r.status)
                   if r.url.endswith("/api/auth/refresh/") else None)
        first = browser.page
        await browser.log_in(server.http_url, "admin", "admin-pass")
        second = await context.new_page()
        await second.goto(server.http_url + "/ui/transactions/")
        await expect(second.locator("#whoami")).to_have_text("admin (admin)")  # no login asked
        await expect(second).to_have_url(re.compile(r"/ui/transactions/$"))
        third = await context.new_page()
        await third.goto(server.http_url + "/ui/id-tags/?q=x")
        await expect(third.locator("#whoami")).to_have_text("admin (admin)")
        for _ in range(3):  # three rounds of rotation with three tabs due at once
            async with context.expect_event(
                    "response", lambda r: r.url.endswith("/api/auth/refresh/")):
                pass
        await expect(first.locator("#live-state")).to_have_text("Live")
        assert len(sent) == len(set(sent)), "two tabs rotated the same refresh token"
        assert answers and all(status == 200 for status in answers), answers
        for page in (first, second, third):
            assert "/ui/?next=" not in page.url and not page.url.endswith("/ui/")
        token = await second.evaluate("JSON.parse(localStorage.getItem('evedge.session')).access")
        assert (await server.api.get("/api/auth/me/", token=token)).status == 200

        # Logging out in one tab logs out all of them.
        await first.get_by_role("button", name="Log out").click()
        await expect(first).to_have_url(re.compile(r"/ui/$"))
        await expect(second).to_have_url(re.compile(r"/ui/\?next=%2Fui%2Ftransactions%2F$"))
        await expect(third).to_have_url(re.compile(r"/ui/\?next=%2Fui%2Fid-tags%2F%3Fq%3Dx$"))
        assert (await server.api.get("/api/auth/me/", token=token)).status == 401
        assert [p for p in browser.problems if "401" not in p] == []


# --- notices: one area, small, dismissible, never over the buttons --------------------------------

async def test_error_notices_stack_small_and_never_cover_the_buttons(site, tmp_path):
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "admin", "admin-pass")
        await page.goto(site.http_url + "/ui/id-tags/")
        form = page.locator("#tag-form")
        add = form.get_by_role("button", name="Add tag")
        notices = page.locator(".notice")
        await form.get_by_label("Max. parallel sessions").fill("0")  # refused: at least 1
        for n in range(5):
            await form.get_by_label("ID tag").fill(f"BAD-{n}")
            await add.click()
            await expect(notices).to_have_count(n + 1)
        await expect(page.locator(".notice:visible")).to_have_count(3)
        await expect(page.locator(".notice.compact:visible")).to_have_count(2)
        await expect(page.locator(".notices-count")).to_have_text("+2 older")
        await expect(notices.first).to_contain_text("field max_active_transactions")
        await browser.shot("notices-stacked")

        # Every button can be brought clear of the notices, the page's last one too.
        for button in (add, page.get_by_role("button", name="Next →")):
            await button.scroll_into_view_if_needed()
            await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
            hit = await button.evaluate(
                "b => { const r = b.getBoundingClientRect();"
                " const e = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);"
                " return b.contains(e); }")
            box = await button.bounding_box()
            area = await page.locator("#notices").bounding_box()
            assert hit and box["y"] + box["height"] <= area["y"] + 1, (box, area)
        await page.get_by_role("button", name="Dismiss all").click()
        await expect(notices).to_have_count(0)
        assert [p for p in browser.problems if "400" not in p] == []


async def test_a_csv_import_error_names_its_line(site, tmp_path):
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "otto", "otto-pass-1")
        await page.goto(site.http_url + "/ui/id-tags/")
        await page.locator("#tag-import input[type=file]").set_input_files(files=[{
            "name": "tags.csv", "mimeType": "text/csv",
            "buffer": b"id_tag,status\nGOOD-1,Accepted\nBAD-1,Lost\nGOOD-2,Blocked\n"}])
        await page.get_by_role("button", name="Import").click()
        problem = page.locator(".notice.error")
        await expect(problem).to_contain_text("line 3")
        await expect(problem).to_contain_text("field status")
        assert [p for p in browser.problems if "400" not in p] == []


async def test_the_command_log_shows_what_was_sent(site, api, tmp_path):
    await charging_simulator(site, "SIM-C")
    answer = await api.post("/api/chargers/SIM-C/reset/", {"type": "Hard"}, token=site.token)
    assert answer.status == 200
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "admin", "admin-pass")
        await page.goto(site.http_url + "/ui/charger/SIM-C/")
        entry = page.locator("#command-log tr", has_text="Reset")
        await expect(entry).to_contain_text("type=Hard")
        await expect(entry).to_contain_text("Accepted")
        timeline = page.locator("#timeline li[data-kind=command]", has_text="Reset")
        await expect(timeline).to_contain_text("(type=Hard) by admin → Accepted")
        assert browser.problems == []


# --- the summary tiles count chargers, say so, and filter ---------------------------------------

async def test_summary_tiles_count_chargers_and_filter_the_list(site, library_charger, tmp_path):
    specs = {"CP-TWO": {1: "Charging", 2: "Charging"},
             "CP-FAULT": {1: ("Faulted", "GroundFailure", "RCD tripped")},
             "CP-IDLE": {1: "Available"}}
    async with site_chargers(library_charger, specs):
        async with chromium(tmp_path) as browser:
            page = browser.page
            await browser.log_in(site.http_url, "admin", "admin-pass")
            charging = page.get_by_role("button", name=re.compile("Chargers charging"))
            await expect(charging).to_have_text(re.compile(r"Chargers charging\s*1$"))
            faulted = page.get_by_role("button", name=re.compile("Chargers with a fault"))
            await expect(faulted).to_have_text(re.compile(r"Chargers with a fault\s*1$"))
            await expect(page.locator("#count-online")).to_have_text("3 of 3")
            await faulted.click()
            await expect(faulted).to_have_attribute("aria-pressed", "true")
            await expect(page.locator("#charger-rows tr:visible")).to_have_count(1)
            await expect(page.locator("#charger-rows tr:visible")).to_have_attribute(
                "data-id", "CP-FAULT")
            await expect(page).to_have_url(re.compile(r"\?show=faulted$"))
            await charging.click()
            await expect(page.locator("#charger-rows tr:visible")).to_have_attribute(
                "data-id", "CP-TWO")
            await charging.click()  # again: everything
            await expect(page.locator("#charger-rows tr:visible")).to_have_count(3)
            assert browser.problems == []


# --- approval: what it waits for ------------------------------------------------------------------

async def test_approval_says_it_waits_for_the_boot_and_updates_live(start_server, tmp_path):
    server = await start_server(admission="pending", boot_retry_interval=3600)
    await server.api.register("admin", "admin-pass")
    import websockets

    async with websockets.connect(f"{server.ocpp_url}/CP-NEW", subprotocols=["ocpp1.6"]) as ws:
        cp = ChargePoint("CP-NEW", ws, response_timeout=5)
        task = asyncio.create_task(cp.start())
        try:
            boot = call.BootNotification(charge_point_vendor="Acme", charge_point_model="X1")
            assert (await cp.call(boot)).status == "Pending"
            async with chromium(tmp_path) as browser:
                page = browser.page
                await browser.log_in(server.http_url, "admin", "admin-pass")
                await page.goto(server.http_url + "/ui/charger/CP-NEW/")
                await expect(page.locator("#charger-badges")).to_contain_text("Pending")
                await page.get_by_role("button", name="Approve (Accepted)").click()
                waiting = page.locator("#charger-badges")
                await expect(waiting).to_contain_text("waiting for the charger's BootNotification")
                await expect(page.locator("#approval-wait")).to_contain_text(
                    "waiting for the charger's BootNotification")
                await browser.shot("approval-waiting")
                assert (await cp.call(boot)).status == "Accepted"  # its next boot
                await expect(waiting).not_to_contain_text("waiting for")
                await expect(waiting).to_contain_text("Accepted")
                await expect(page.locator("#approval-wait")).to_have_text("")
                assert browser.problems == []
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


# --- no Start on a connector that cannot charge --------------------------------------------------

async def test_start_is_not_offered_on_faulted_or_unavailable_connectors(
        site, library_charger, tmp_path):
    specs = {"CP-MIX": {1: ("Faulted", "ConnectorLockFailure"), 2: "Unavailable",
                        3: "Available"}}
    async with site_chargers(library_charger, specs):
        async with chromium(tmp_path) as browser:
            page = browser.page
            await browser.log_in(site.http_url, "admin", "admin-pass")
            starts = page.get_by_role("button", name=re.compile("Start charging: CP-MIX"))
            await expect(starts).to_have_count(1)
            await expect(starts).to_have_accessible_name("Start charging: CP-MIX connector 3")
            await page.goto(site.http_url + "/ui/charger/CP-MIX/")
            await expect(page.locator('#connectors [data-connector="3"]')).to_contain_text(
                "Start charging")
            await expect(page.get_by_role("button", name="Start charging")).to_have_count(1)
            await expect(page.locator('#connectors [data-connector="2"]')).to_contain_text(
                "Set Operative")
            assert browser.problems == []


# --- the charger page: sessions per connector, charts that read well ------------------------------

# Every uPlot the page makes, recorded as it is made (the canvas shows once it exists).
PLOTS = """
window.__plots = [];
let wrapped;
Object.defineProperty(window, "uPlot", {
  configurable: true,
  get() { return wrapped; },
  set(real) {
    wrapped = class extends real {
      constructor(...args) { super(...args); window.__plots.push(this); }
    };
  },
});
"""


async def meter(cp, transaction_id: int, at: str, power_w: float, energy_wh: float) -> None:
    await cp.call(call.MeterValues(connector_id=1, transaction_id=transaction_id, meter_value=[
        {"timestamp": at, "sampled_value": [
            {"value": str(energy_wh), "unit": "Wh"},
            {"value": str(power_w), "unit": "W", "measurand": "Power.Active.Import"}]}]))


async def test_two_sessions_on_one_charger_show_per_connector(site, library_charger, tmp_path):
    async with site_chargers(library_charger, {"CP-DUO": {1: "Charging", 2: "Charging"}}) as cps:
        cp = cps["CP-DUO"]
        now = iso(utcnow())
        ids = []
        for connector, power in ((1, 7200), (2, 3600)):
            started = await cp.call(call.StartTransaction(connector_id=connector, id_tag="CARD-1",
                                                          meter_start=0, timestamp=now))
            reading = {"value": str(power), "unit": "W", "measurand": "Power.Active.Import"}
            await cp.call(call.MeterValues(
                connector_id=connector, transaction_id=started.transaction_id,
                meter_value=[{"timestamp": now, "sampled_value": [reading]}]))
            ids.append(started.transaction_id)
        async with chromium(tmp_path) as browser:
            page = browser.page
            await page.context.add_init_script(PLOTS)
            await browser.log_in(site.http_url, "admin", "admin-pass")
            await page.goto(site.http_url + "/ui/charger/CP-DUO/")
            boxes = page.locator("#active-tx .tx-box")
            await expect(boxes).to_have_count(2)
            for connector, (tx, power) in enumerate(zip(ids, ("7.2 kW", "3.6 kW")), start=1):
                box = page.locator(f'#active-tx .tx-box[data-connector="{connector}"]')
                await expect(box.locator("h3")).to_contain_text(f"transaction {tx}")
                await expect(box.locator('[data-live="power"]')).to_have_text(power)
                await expect(box.locator(".chart[data-drawn] canvas")).to_be_visible()
            assert await page.evaluate("window.__plots.filter(p => p.root.isConnected).length") == 2
            await browser.shot("charger-two-sessions")
            assert browser.problems == []


# Each x-axis label's lines as drawn (uPlot centres every line on its tick): any line of one
# label closer than 4 px to the same line of the next is a clash.
OVERLAPS = """
() => window.__plots.filter((u) => u.root.isConnected).map((u) => {
  const axis = u.axes[0];
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = Array.isArray(axis.font) ? axis.font[0] : axis.font;
  const labels = axis._splits.map((split, i) => ({
    x: u.valToPos(split, "x"), lines: String(axis._values[i]).split("\\n") }));
  const clashes = [];
  for (let line = 0; line < 3; line++) {
    const boxes = labels.filter((l) => l.lines[line]).map((l) => {
      const width = ctx.measureText(l.lines[line]).width;
      return [l.x - width / 2, l.x + width / 2, l.lines[line]];
    });
    for (let i = 1; i < boxes.length; i++) {
      if (boxes[i][0] < boxes[i - 1][1] + 4) clashes.push([boxes[i - 1][2], boxes[i][2]]);
    }
  }
  return { labels: labels.map((l) => l.lines.join(" / ")), clashes };
})
"""


@pytest.mark.parametrize("minutes, step", [(6, 1), (1, 1), (180, 2)])
async def test_chart_labels_do_not_overlap_on_a_tablet(site, library_charger, tmp_path,
                                                       minutes, step):
    async with site_chargers(library_charger, {"CP-LONG": {1: "Charging"}}) as cps:
        cp = cps["CP-LONG"]
        start = utcnow() - dt.timedelta(minutes=minutes)
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="CARD-1",
                                                      meter_start=0, timestamp=iso(start)))
        readings = [{"timestamp": iso(start + dt.timedelta(minutes=m)), "sampled_value": [
            {"value": str(7000 + 40 * (m % 30)), "unit": "W", "measurand": "Power.Active.Import"}]}
            for m in range(0, minutes, step)]
        await cp.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                       meter_value=readings))
        async with chromium(tmp_path, viewport=TABLET) as browser:
            page = browser.page
            await page.context.add_init_script(PLOTS)
            await browser.log_in(site.http_url, "admin", "admin-pass")
            await page.goto(site.http_url + "/ui/charger/CP-LONG/")
            await until(page, "window.__plots.some((u) => u.root.isConnected && u.axes[0]._splits)")
            [chart] = await page.evaluate(OVERLAPS)
            assert len(chart["labels"]) >= 3 and chart["clashes"] == [], chart
            # Clock times, also for a session with one reading so far (no years and months).
            assert all(re.search(r"\d{1,2}:\d{2}", label) for label in chart["labels"]), chart
            await browser.shot(f"charger-chart-tablet-{minutes}min")
            assert browser.problems == []


async def test_live_chart_points_sit_at_the_meter_timestamp(site, library_charger, tmp_path):
    async with site_chargers(library_charger, {"CP-CLOCK": {1: "Charging"}}) as cps:
        cp = cps["CP-CLOCK"]
        start = utcnow().replace(microsecond=0) - dt.timedelta(minutes=30)
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="CARD-1",
                                                      meter_start=0, timestamp=iso(start)))
        tx = started.transaction_id
        await meter(cp, tx, iso(start + dt.timedelta(minutes=1)), 7000, 100)
        async with chromium(tmp_path) as browser:
            page = browser.page
            await page.context.add_init_script(PLOTS)
            await browser.log_in(site.http_url, "admin", "admin-pass")
            await page.goto(site.http_url + "/ui/charger/CP-CLOCK/")
            await expect(page.locator("#live-state")).to_have_text("Live")
            await until(page, "window.__plots.some((u) => u.root.isConnected && u.axes[0]._splits)")
            # The charger's meter reading of 20 minutes ago, sent (late) now.
            taken = start + dt.timedelta(minutes=10)
            await meter(cp, tx, iso(taken), 9000, 900)
            box = page.locator("#active-tx .tx-box")
            await expect(box.locator('[data-live="power"]')).to_have_text("9.0 kW")
            xs = await page.evaluate(
                "window.__plots.filter(p => p.root.isConnected).pop().data[0]")
            assert taken.replace(tzinfo=dt.timezone.utc).timestamp() in xs
            assert max(xs) < utcnow().replace(tzinfo=dt.timezone.utc).timestamp() - 600
            assert browser.problems == []


# --- transaction history: any case, in the URL, sortable, with totals -----------------------------

def add_session(charger: str, tag: str, start: dt.datetime, energy: int | None) -> Transaction:
    Charger.get_or_create(id=charger)
    stop = None if energy is None else start + dt.timedelta(hours=1)
    return Transaction.create(charger=charger, connector_id=1, id_tag=tag, auth_status="Accepted",
                              meter_start=0, meter_stop=energy, start_time=start,
                              start_received_at=start, stop_time=stop, stop_received_at=stop,
                              energy_wh=energy)


async def test_transaction_filters_work_in_any_case_live_in_the_url_and_sort(site, tmp_path):
    day = dt.datetime(2026, 11, 20, 8, 0)
    for n, (charger, tag, energy) in enumerate([("CP-A", "04AB", 12000), ("CP-A", "04ab", 3000),
                                                ("CP-B", "04AB", 7000), ("CP-B", "ZZ", 500),
                                                ("CP-A", "04Ab", None)]):
        add_session(charger, tag, day + dt.timedelta(hours=n), energy)
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "admin", "admin-pass")
        await page.goto(site.http_url + "/ui/transactions/")
        await page.get_by_label("ID tag").fill("04ab")
        await page.get_by_label("Charger").fill("cp-a")
        await page.get_by_role("button", name="Show").click()
        await expect(page).to_have_url(re.compile(r"\?charger=cp-a&id_tag=04ab$"))
        rows = page.locator("#tx-table tbody tr")
        await expect(rows).to_have_count(3)  # 04AB, 04ab and 04Ab: one card
        totals = page.locator("#tx-count")
        await expect(totals).to_contain_text("3 transaction(s): 15.00 kWh in the 2 finished")
        await expect(totals).to_contain_text("1 running")

        await page.get_by_role("button", name=re.compile(r"^Energy\b.*sort")).click()
        await expect(page).to_have_url(re.compile(r"sort=energy_wh"))
        energies = page.locator('#tx-table tbody td[data-label="Energy"]')
        await expect(energies).to_have_text(["3.00 kWh", "12.00 kWh", "–"])
        await expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("Energy")
        await page.get_by_role("button", name=re.compile(r"^Energy\b.*sort")).click()
        await expect(energies).to_have_text(["12.00 kWh", "3.00 kWh", "–"])

        await page.reload()  # the filters and the order survive a reload
        await expect(page.get_by_label("ID tag")).to_have_value("04ab")
        await expect(energies).to_have_text(["12.00 kWh", "3.00 kWh", "–"])
        await page.go_back()
        await expect(energies).to_have_text(["3.00 kWh", "12.00 kWh", "–"])
        await page.go_back()
        await expect(page).to_have_url(re.compile(r"\?charger=cp-a&id_tag=04ab$"))
        await expect(rows).to_have_count(3)
        await browser.shot("transactions-filtered")
        assert browser.problems == []
