"""What the technician missed, now on the dashboard: attention first (with alerts), a timeline
per charger, history (transaction page, reports), charger records, operations, bulk commands,
small screens and the first admin; in a real headless Chromium against the real server.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from browser_kit import (FIXTURES, PHONE, TABLET, browser_marks, chromium, expect,
                         send_status, site_chargers)
from evedge.storage.models import Charger
from evedge.timeutil import utcnow
from test_dashboard_defects import PLOTS, add_session, charging_simulator, iso

pytestmark = browser_marks
start_server, server, api, library_charger, site, module_chromium = FIXTURES


# --- needs attention first -------------------------------------------------------------------

async def test_the_attention_strip_lists_problems_and_problem_rows_come_first(
        site, api, library_charger, tmp_path):
    now = utcnow()
    assert (await api.post("/api/chargers/", {"id": "CP-D-PENDING", "registration_status":
                                              "Pending"}, token=site.token)).status == 201
    async with site_chargers(library_charger, {"CP-C-GONE": {1: "Available"}}):
        pass  # connected, booted, then dropped: offline
    specs = {"CP-A-FAULT": {1: ("Faulted", "GroundFailure", "RCD tripped",
                                iso(now - dt.timedelta(minutes=5)))},
             "CP-B-STUCK": {1: ("SuspendedEVSE", None, None, iso(now - dt.timedelta(minutes=25)))},
             "CP-D-PENDING": {1: "Available"},
             "CP-E-FINE": {1: "Available"}}
    async with site_chargers(library_charger, specs) as cps:
        await cps["CP-B-STUCK"].call(call.StartTransaction(
            connector_id=1, id_tag="CARD-1", meter_start=0,
            timestamp=iso(now - dt.timedelta(minutes=30))))
        async with chromium(tmp_path) as browser:
            page = browser.page
            await browser.log_in(site.http_url, "admin", "admin-pass")
            strip = page.locator("#attention")
            items = strip.locator(".attention-item")
            await expect(items).to_have_count(4)
            await expect(page.locator("#attention-count")).to_have_text("4")
            await expect(items.nth(0)).to_contain_text(
                re.compile(r"CP-A-FAULT.*connector 1 Faulted: GroundFailure \(RCD tripped\)"
                           r".*5 min ago"))
            await expect(items.nth(1)).to_contain_text(re.compile(r"CP-C-GONE\s*offline"))
            await expect(items.nth(2)).to_contain_text(re.compile(
                r"CP-B-STUCK.*transaction \d+ runs but connector 1 is SuspendedEVSE for 25 min"))
            await expect(items.nth(3)).to_contain_text("CP-D-PENDING")
            rows = page.locator("#charger-rows tr")
            await expect(rows).to_have_count(5)
            assert await rows.evaluate_all("rs => rs.map(r => r.dataset.id)") == [
                "CP-A-FAULT", "CP-C-GONE", "CP-B-STUCK", "CP-D-PENDING", "CP-E-FINE"]
            await browser.shot("dashboard-attention")

            await items.nth(3).get_by_role("button", name="Approve CP-D-PENDING").click()
            await expect(items).to_have_count(3)
            pending = page.locator('tr[data-id="CP-D-PENDING"]')
            await expect(pending).to_contain_text("waiting for the charger's BootNotification")
            await cps["CP-D-PENDING"].call(call.BootNotification(charge_point_vendor="Acme",
                                                                 charge_point_model="X1"))
            await expect(pending).not_to_contain_text("waiting for")
            await send_status(cps["CP-A-FAULT"], 1, "Available")  # repaired: off the strip
            await expect(items).to_have_count(2)
            assert browser.problems == []


ATTENTION = """
async ([now]) => {
  const a = await import("/static/js/attention.js");
  const ago = (min) => new Date(now - min * 60000).toISOString();
  const tx = (extra) => ({ id: 7, connector_id: 1, start_received_at: ago(60), ...extra });
  const charger = (id, extra) => ({ id, online: true, registration_status: "Accepted",
    connected_at: ago(90), connectors: [{ connector_id: 1, status: "Charging",
    updated_at: ago(60) }], active_transactions: [], ...extra });
  const cases = {
    fine: charger("fine", { active_transactions: [tx({ last_meter_at: ago(1) })] }),
    quiet: charger("quiet", { active_transactions: [tx({ last_meter_at: ago(20) })] }),
    liveEvent: charger("liveEvent", { active_transactions: [tx({ last_meter_at: ago(20),
      live_meter_at: now - 30000 })] }),
    neverMetered: charger("neverMetered", { active_transactions: [tx({ last_meter_at: null })] }),
    suspendedShort: charger("suspendedShort", { connectors: [{ connector_id: 1,
      status: "SuspendedEV", status_at: ago(5) }],
      active_transactions: [tx({ last_meter_at: ago(1) })] }),
    suspendedLong: charger("suspendedLong", { connectors: [{ connector_id: 1,
      status: "SuspendedEV", status_at: ago(11) }],
      active_transactions: [tx({ last_meter_at: ago(1) })] }),
    offlineStuck: charger("offlineStuck", { online: false, disconnected_at: ago(3),
      active_transactions: [tx({ last_meter_at: ago(30) })] }),
    neverConnected: charger("neverConnected", { online: false, connected_at: null,
      connectors: [] }),
    wholeFaulted: charger("wholeFaulted", { connectors: [{ connector_id: 0, status: "Faulted",
      error_code: "PowerMeterFailure", status_at: ago(2) }] }),
    pending: charger("pending", { registration_status: "Pending", connectors: [] }),
  };
  const kinds = Object.fromEntries(Object.entries(cases).map(([name, c]) =>
    [name, a.problemsOf(c, now).map((p) => p.kind)]));
  const order = a.byAttention(Object.values(cases), now).map((c) => c.id);
  const text = a.problemsOf(cases.quiet, now)[0].text;
  return { kinds, order, text };
}
"""


async def test_what_counts_as_stuck_faulted_offline_or_pending(server, tmp_path):
    async with chromium(tmp_path) as browser:
        page = browser.page
        await page.goto(server.http_url + "/ui/")
        now = utcnow().replace(tzinfo=dt.timezone.utc).timestamp() * 1000
        found = await page.evaluate(ATTENTION, [now])
        assert found["kinds"] == {
            "fine": [], "quiet": ["stuck"], "liveEvent": [], "neverMetered": ["stuck"],
            "suspendedShort": [], "suspendedLong": ["stuck"], "offlineStuck": ["offline"],
            "neverConnected": [], "wholeFaulted": ["faulted"], "pending": ["pending"]}
        assert found["text"] == "transaction 7 on connector 1: no meter value for 20 min"
        assert found["order"][:1] == ["wholeFaulted"] and found["order"][1] == "offlineStuck"
        assert found["order"][2:5] == ["neverMetered", "quiet", "suspendedLong"]
        assert found["order"][5] == "pending"
        assert browser.problems == []


SPY = """
window.__notified = [];
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options) { super(title, options); window.__notified.push(title); }
};
"""


async def test_alerts_are_opt_in_and_sound_when_a_connector_faults_or_a_charger_drops(
        site, library_charger, tmp_path):
    async with site_chargers(library_charger, {"CP-AL": {1: "Available"},
                                               "CP-DROP": {1: "Available"}}) as cps:
        async with chromium(tmp_path, permissions=["notifications"]) as browser:
            page = browser.page
            await page.context.add_init_script(SPY)
            await browser.log_in(site.http_url, "vic", "vic-pass-1")  # viewers watch too
            row = page.locator('tr[data-id="CP-AL"]')
            await send_status(cps["CP-AL"], 1, ("Faulted", "OverVoltage"))
            await expect(row.locator(".connector .badge")).to_have_text("Faulted")
            assert await page.evaluate("window.__notified") == []  # off until turned on

            await page.get_by_label(re.compile("Alert me")).check()
            await expect(page.locator("#alerts-state")).to_contain_text(
                "Sound and desktop notifications are on")
            await send_status(cps["CP-AL"], 1, "Available")
            await expect(row.locator(".connector .badge")).to_have_text("Available")
            await send_status(cps["CP-AL"], 1, ("Faulted", "OverVoltage"))
            await expect(page.locator("#alerts-state")).to_contain_text(
                "Last alert: CP-AL connector 1 Faulted")
            await cps["CP-DROP"]._connection.close()
            await expect(page.locator("#alerts-state")).to_contain_text(
                "Last alert: CP-DROP went offline")
            assert await page.evaluate("window.__notified") == [
                "CP-AL connector 1 Faulted", "CP-DROP went offline"]

            await page.reload()  # remembered in this browser
            await expect(page.get_by_label(re.compile("Alert me"))).to_be_checked()
            await page.get_by_label(re.compile("Alert me")).uncheck()
            await send_status(cps["CP-AL"], 1, "Available")
            await expect(row.locator(".connector .badge")).to_have_text("Available")
            await send_status(cps["CP-AL"], 1, ("Faulted", "OverVoltage"))
            await expect(row.locator(".connector .badge")).to_have_text("Faulted")
            assert await page.evaluate("window.__notified") == []
            assert browser.problems == []


# --- the charger's timeline --------------------------------------------------------------------

class Obliging(ChargePoint):
    """Accepts what the charger page's operations send, and keeps the requests."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests: list[tuple[str, dict]] = []

    def _keep(self, action: str, kwargs: dict) -> None:
        self.requests.append((action, {k: v for k, v in kwargs.items() if v is not None}))

    @on(Action.change_configuration)
    def on_change_configuration(self, **kwargs):
        self._keep("ChangeConfiguration", kwargs)
        return call_result.ChangeConfiguration(status="Accepted")

    @on(Action.send_local_list)
    def on_send_local_list(self, **kwargs):
        self._keep("SendLocalList", kwargs)
        return call_result.SendLocalList(status="Accepted")

    @on(Action.reserve_now)
    def on_reserve_now(self, **kwargs):
        self._keep("ReserveNow", kwargs)
        return call_result.ReserveNow(status="Accepted")

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, **kwargs):
        self._keep("SetChargingProfile", kwargs)
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kwargs):
        self._keep("ClearChargingProfile", kwargs)
        return call_result.ClearChargingProfile(status="Accepted")

    @on(Action.reset)
    def on_reset(self, **kwargs):
        self._keep("Reset", kwargs)
        return call_result.Reset(status="Accepted")

    @on(Action.update_firmware)
    def on_update_firmware(self, **kwargs):
        self._keep("UpdateFirmware", kwargs)
        return call_result.UpdateFirmware()


async def test_the_charger_timeline_merges_status_sessions_commands_and_anomalies(
        site, api, library_charger, tmp_path):
    async with site_chargers(library_charger, {"CP-TL": {1: "Available"}}, cls=Obliging) as cps:
        cp = cps["CP-TL"]
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="CARD-1",
                                                      meter_start=5000, timestamp=iso(utcnow())))
        await send_status(cp, 1, "Charging")
        assert (await api.post("/api/chargers/CP-TL/change-configuration/",
                               {"key": "MeterValueSampleInterval", "value": "30"},
                               token=site.token)).status == 200
        # A meter that went backwards (a replaced meter): answered, and kept as an anomaly.
        await cp.call(call.StopTransaction(meter_stop=2000, timestamp=iso(utcnow()),
                                           transaction_id=started.transaction_id))
        async with chromium(tmp_path) as browser:
            page = browser.page
            await browser.log_in(site.http_url, "admin", "admin-pass")
            await page.goto(site.http_url + "/ui/charger/CP-TL/")
            timeline = page.locator("#timeline")
            for kind, text in (("status", "Connector 1: Charging"),
                               ("session", f"Transaction {started.transaction_id} started"),
                               ("session", f"Transaction {started.transaction_id} stopped"),
                               ("command", "ChangeConfiguration (key=MeterValueSampleInterval, "
                                           "value=30) by admin → Accepted"),
                               ("connection", "Booted (latest BootNotification)"),
                               ("connection", "Connected (latest)")):
                await expect(timeline.locator(f'li[data-kind="{kind}"]', has_text=text)
                             ).to_have_count(1)
            anomaly = timeline.locator('li[data-kind="anomaly"]', has_text="meter_stop_below_start")
            await expect(anomaly).to_have_count(1)
            times = await timeline.locator("time").evaluate_all(
                "ts => ts.map(t => Date.parse(t.getAttribute('datetime')))")
            assert times == sorted(times, reverse=True)  # newest first
            await page.get_by_label("Status", exact=True).uncheck()
            await expect(timeline.locator('li[data-kind="status"]')).to_have_count(0)
            await expect(timeline.locator('li[data-kind="session"]')).to_have_count(2)
            await browser.shot("charger-timeline")
            # The box has no connection log (yet): its rows are left out, without a 404.
            assert browser.problems == []


# --- history: one transaction, energy reports ----------------------------------------------------

async def test_the_transaction_page_shows_its_curve_duration_and_energy(
        site, library_charger, tmp_path):
    async with site_chargers(library_charger, {"CP-TX": {1: "Charging"}}) as cps:
        cp = cps["CP-TX"]
        start = utcnow().replace(microsecond=0) - dt.timedelta(minutes=40)
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="CARD-1",
                                                      meter_start=1000, timestamp=iso(start)))
        tx = started.transaction_id
        await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": iso(start + dt.timedelta(minutes=m)), "sampled_value": [
                {"value": str(1000 + 120 * m), "unit": "Wh"},
                {"value": "7.2", "unit": "kW", "measurand": "Power.Active.Import"}]}
            for m in range(0, 31, 5)]))
        await cp.call(call.StopTransaction(meter_stop=4600, timestamp=iso(start + dt.timedelta(
            minutes=30)), transaction_id=tx))
        async with chromium(tmp_path) as browser:
            page = browser.page
            await page.context.add_init_script(PLOTS)
            await browser.log_in(site.http_url, "admin", "admin-pass")
            await page.goto(site.http_url + "/ui/transactions/")
            await page.get_by_role("link", name=str(tx), exact=True).click()
            await expect(page).to_have_url(re.compile(rf"/ui/transaction/{tx}/$"))
            numbers = page.locator("#tx-numbers")
            await expect(numbers).to_contain_text("Duration30 min")
            await expect(numbers).to_contain_text("Energy3.60 kWh")
            await expect(numbers).to_contain_text("Average power7.2 kW")
            await expect(page.locator("#tx-facts")).to_contain_text("CP-TX")
            await expect(page.locator("#tx-chart[data-drawn] canvas")).to_be_visible()
            power, energy = await page.evaluate(
                "(() => { const u = window.__plots.filter(p => p.root.isConnected).pop();"
                " return [1, 2].map(i => u.data[i].filter(v => v !== null)); })()")
            assert power == [7.2] * 7 and energy[0] == 0 and energy[-1] == pytest.approx(3.6)
            await browser.shot("transaction-page")
            assert browser.problems == []


async def test_energy_reports_per_day_charger_and_tag_as_charts_and_csv(site, tmp_path):
    day = dt.datetime(2026, 11, 20, 9, 0)
    for charger, tag, offset, energy in (("CP-R1", "=1+2", 0, 10000), ("CP-R1", "FLEET-7", 1, 5000),
                                         ("CP-R2", "FLEET-7", 26, 2500)):
        add_session(charger, tag, day + dt.timedelta(hours=offset), energy)
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "admin", "admin-pass")
        await page.goto(site.http_url + "/ui/reports/")
        bars = page.locator("#report-bars .bar-row")
        await expect(bars).to_have_count(2)
        await expect(bars.nth(0)).to_contain_text("2026-11-20")
        await expect(bars.nth(0)).to_contain_text("15.00 kWh · 2")
        await expect(page.locator("#report-total")).to_contain_text("17.50 kWh in 3 finished")
        await page.get_by_label("Group energy by").select_option("charger")
        await expect(page.locator("#chart-title")).to_have_text("Energy per charger")
        await expect(bars.nth(0)).to_contain_text("CP-R1")
        await expect(page).to_have_url(re.compile(r"group=charger"))
        await page.get_by_label("Group energy by").select_option("id_tag")
        await expect(bars.nth(0)).to_contain_text("=1+2")
        width = await bars.nth(1).locator(".bar-fill").evaluate("e => e.style.width")
        assert width == "75%"  # FLEET-7's 7.5 kWh against the largest, 10 kWh
        await browser.shot("reports-by-tag")
        async with page.expect_download() as info:
            await page.get_by_role("button", name="Download CSV").click()
        download = await info.value
        assert download.suggested_filename == "energy-by-id_tag.csv"
        text = open(await download.path(), encoding="utf-8").read()
        assert text.splitlines() == ["id_tag,energy_wh,sessions", "'=1+2,10000,1",
                                     "FLEET-7,7500,2"]
        assert browser.problems == []


# --- charger records ------------------------------------------------------------------------------

async def test_admins_pre_register_and_relabel_chargers(site, tmp_path):
    async with chromium(tmp_path) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "admin", "admin-pass")
        form = page.locator("#register-form")
        await form.get_by_label("Charge point id").fill("CP-BAY-9")
        await form.get_by_label("Label").fill("Bay 9")
        await form.get_by_label("Location").fill("North yard")
        await form.get_by_role("button", name="Add charger").click()
        row = page.locator('tr[data-id="CP-BAY-9"]')
        await expect(row).to_contain_text("Bay 9 · North yard")
        await expect(row.locator(".cell-state")).to_contain_text("never connected")
        await form.get_by_label("Charge point id").fill("CP-BAY-9")
        await form.get_by_role("button", name="Add charger").click()
        await expect(page.locator(".notice.error")).to_contain_text("already exists (field id")

        await row.get_by_role("link", name="CP-BAY-9").click()
        record = page.locator("#record-form")
        await expect(record.get_by_label("Label")).to_have_value("Bay 9")
        await record.get_by_label("Label").fill("Bay 9 (fast)")
        await record.get_by_label("Location").fill("South yard")
        await record.get_by_role("button", name="Save label and location").click()
        await expect(page.locator("#charger-title")).to_have_text("Charger CP-BAY-9 · Bay 9 (fast)")
        await expect(page.locator("#identity")).to_contain_text("South yard")
        assert [p for p in browser.problems if "409" not in p] == []
    assert Charger.get_by_id("CP-BAY-9").location == "South yard"


async def test_admins_retire_a_charger(site, library_charger, tmp_path):
    async with site_chargers(library_charger, {"CP-OLD": {1: "Available"}}):
        pass
    async with site_chargers(library_charger, {"CP-ON": {1: "Available"}}):
        async with chromium(tmp_path) as browser:
            page = browser.page
            await browser.log_in(site.http_url, "admin", "admin-pass")
            await page.goto(site.http_url + "/ui/charger/CP-ON/")
            await page.get_by_role("button", name="Retire this charger…").click(timeout=5000)
            await page.get_by_role("dialog").get_by_role("button", name="Retire charger").click()
            await expect(page.locator(".notice.error")).to_contain_text("still connected")
            await page.goto(site.http_url + "/ui/charger/CP-OLD/")
            await page.get_by_role("button", name="Retire this charger…").click()
            await page.get_by_role("dialog").get_by_role("button", name="Retire charger").click()
            await expect(page).to_have_url(re.compile(r"/ui/dashboard$"))
            await expect(page.locator('tr[data-id="CP-OLD"]')).to_have_count(0)
    assert Charger.get_by_id("CP-OLD").retired_at is not None  # retired: history kept


# --- operations -----------------------------------------------------------------------------------

async def test_operations_any_key_local_list_reservation_and_limits(
        site, library_charger, tmp_path):
    async with site_chargers(library_charger, {"CP-OPS": {1: "Available", 2: "Available"}},
                             cls=Obliging) as cps:
        cp = cps["CP-OPS"]
        async with chromium(tmp_path) as browser:
            page = browser.page
            await browser.log_in(site.http_url, "otto", "otto-pass-1")
            await page.goto(site.http_url + "/ui/charger/CP-OPS/")
            await page.get_by_label("Configuration key (any, also vendor keys)").fill("Acme.Fan")
            await page.locator("#custom-value").fill("auto")
            await page.get_by_role("button", name="Set key (ChangeConfiguration)").click()
            await expect(page.locator(".notice", has_text="ChangeConfiguration Acme.Fan")
                         ).to_contain_text("Accepted")

            await page.locator("#local-list-form select").select_option("full")
            await page.get_by_role("button", name="Sync local list").click()
            await expect(page.locator("#local-list-state")).to_contain_text(
                "full list, version 1, 1 entry: Accepted")

            reserve = page.locator("#reserve-form")
            await reserve.get_by_label("Reserve connector").select_option("2")
            await reserve.get_by_label("for ID tag").fill("CARD-1")
            await reserve.get_by_role("button", name="Reserve (ReserveNow)").click()
            await expect(page.locator("#reservations")).to_contain_text("CARD-1")

            limit = page.locator("#limit-form")
            await limit.get_by_label("Maximum").fill("16.55")
            await limit.get_by_role("button", name="Set limit (SetChargingProfile)").click()
            await expect(page.locator(".notice.error")).to_contain_text("multiples of 0.1")
            await limit.get_by_label("Maximum").fill("16.5")
            await limit.get_by_role("button", name="Set limit (SetChargingProfile)").click()
            await expect(page.locator(".notice", has_text="Limit to 16.5 A")).to_contain_text(
                "Accepted")
            await limit.get_by_label("Which limit").select_option("1")
            await limit.get_by_label("Maximum").fill("7.4")
            await limit.get_by_label("Unit").select_option("kW")
            await limit.get_by_role("button", name="Set limit (SetChargingProfile)").click()
            await expect(page.locator(".notice", has_text="Limit to 7.4 kW")).to_contain_text(
                "Accepted")
            await expect(page.locator("#profiles")).to_contain_text("TxDefaultProfile")
            await browser.shot("charger-operations")
            assert browser.problems == []
        sent = dict(cp.requests[:1])
        assert sent == {"ChangeConfiguration": {"key": "Acme.Fan", "value": "auto"}}
        [(_, local)] = [r for r in cp.requests if r[0] == "SendLocalList"]
        assert local["update_type"] == "Full" and local["local_authorization_list"][0][
            "id_tag"] == "CARD-1"
        [(_, reservation)] = [r for r in cp.requests if r[0] == "ReserveNow"]
        assert reservation["connector_id"] == 2 and reservation["id_tag"] == "CARD-1"
        profiles = [r[1] for r in cp.requests if r[0] == "SetChargingProfile"]
        assert len(profiles) == 2  # the 16.55 A was refused in the page, never sent
        whole, tx_default = (p["cs_charging_profiles"] for p in profiles)
        assert profiles[0]["connector_id"] == 0
        assert whole["charging_profile_purpose"] == "ChargePointMaxProfile"
        assert whole["charging_schedule"]["charging_rate_unit"] == "A"
        assert whole["charging_schedule"]["charging_schedule_period"][0]["limit"] == 16.5
        assert profiles[1]["connector_id"] == 1
        assert tx_default["charging_profile_purpose"] == "TxDefaultProfile"
        assert tx_default["charging_schedule"]["charging_rate_unit"] == "W"
        assert tx_default["charging_schedule"]["charging_schedule_period"][0]["limit"] == 7400


async def test_bulk_reset_and_firmware_update_show_each_chargers_answer(
        site, api, library_charger, tmp_path):
    assert (await api.post("/api/chargers/", {"id": "CP-BULK-OFF"}, token=site.token)).status == 201
    uploaded = await api.request("PUT", "/api/firmware/fw-2.bin", raw=b"\x00" * 64,
                                 token=site.token,
                                 headers={"Content-Type": "application/octet-stream"})
    assert uploaded.status == 201
    specs = {f"CP-BULK-{n}": {1: "Available"} for n in (1, 2, 3)}
    async with site_chargers(library_charger, specs, cls=Obliging) as cps:
        async with chromium(tmp_path) as browser:
            page = browser.page
            await browser.log_in(site.http_url, "otto", "otto-pass-1")
            await page.get_by_label("Search").fill("bulk")
            await page.get_by_label("All shown").check()
            await expect(page.locator("#bulk-count")).to_have_text("4 selected")
            await page.get_by_role("button", name="Reset selected…").click()
            dialog = page.get_by_role("dialog")
            await dialog.get_by_label("Reset type").select_option("Hard")
            await dialog.get_by_role("button", name="Reset all").click()
            progress = page.locator("#bulk-progress")
            summary = progress.locator("#bulk-summary")
            await expect(summary).to_have_text("4 of 4 answered, 3 accepted")
            for n in (1, 2, 3):
                await expect(progress.locator(f'tr[data-bulk="CP-BULK-{n}"]')).to_contain_text(
                    "Accepted")
            await expect(progress.locator('tr[data-bulk="CP-BULK-OFF"]')).to_contain_text(
                "HTTP 503")
            await browser.shot("dashboard-bulk-reset")

            await page.get_by_role("button", name="Update firmware of selected…").click()
            await dialog.get_by_label("Firmware file").select_option(label="fw-2.bin")
            await dialog.get_by_role("button", name="Update all").click()
            await expect(progress.locator("#bulk-title")).to_have_text(
                "Firmware update to fw-2.bin")
            await expect(summary).to_have_text("4 of 4 answered, 3 accepted")
            assert [p for p in browser.problems if "503" not in p] == []
        for cp in cps.values():
            assert cp.requests[0] == ("Reset", {"type": "Hard"})
            [(action, firmware)] = cp.requests[1:]
            assert action == "UpdateFirmware" and firmware["location"].endswith("/fw-2.bin")


# --- small screens -----------------------------------------------------------------------------

@pytest.mark.parametrize("size", ["tablet", "phone"])
async def test_compact_views_put_connectors_and_power_first_without_sideways_scrolling(
        site, api, tmp_path, size):
    await charging_simulator(site, "SIM-S1")
    await charging_simulator(site, "SIM-S2", connectors=2)
    assert (await api.post("/api/chargers/start/SIM-S1/", {"connector_id": 1, "id_tag": "CARD-1"},
                           token=site.token)).status == 200
    async with chromium(tmp_path, viewport=TABLET if size == "tablet" else PHONE) as browser:
        page = browser.page
        await browser.log_in(site.http_url, "admin", "admin-pass")
        row = page.locator('tr[data-id="SIM-S1"]')
        await expect(row.locator('[data-live="power"]')).to_have_text("11.0 kW")
        await browser.no_horizontal_scroll()
        cells = {name: await row.locator(f".cell-{name}").bounding_box()
                 for name in ("charger", "connectors", "state", "seen", "actions")}
        # The card: its charger id, then connectors with live power, then the rest.
        rest = min(cells[name]["y"] for name in ("state", "seen", "actions"))
        assert cells["charger"]["y"] < cells["connectors"]["y"] < rest
        # ... and the list comes before the summary tiles and the commissioning panel.
        tiles = await page.locator(".counts").bounding_box()
        assert cells["connectors"]["y"] < tiles["y"]
        power = await row.locator('[data-live="power"]').bounding_box()
        assert power["x"] + power["width"] <= page.viewport_size["width"]
        await browser.shot(f"dashboard-{size}")
        await page.goto(site.http_url + "/ui/charger/SIM-S1/")
        await expect(page.locator("#active-tx [data-live=power]")).to_have_text("11.0 kW")
        await browser.no_horizontal_scroll()
        await browser.shot(f"charger-{size}")
        await page.goto(site.http_url + "/ui/transactions/")
        await expect(page.locator("#tx-table td").first).to_be_visible()
        await browser.shot(f"transactions-{size}")
        assert browser.problems == []


# --- the first admin ----------------------------------------------------------------------------

async def test_an_empty_box_asks_for_the_first_admin_with_the_setup_code(server, tmp_path):
    async with chromium(tmp_path) as browser:
        page = browser.page
        await page.goto(server.http_url + "/ui/")
        setup = page.get_by_role("region", name="Create the first admin")
        await expect(setup).to_be_visible(timeout=5000)
        await setup.get_by_label("User name").fill("root")
        await setup.get_by_label("Password").fill("first-admin-pass")
        await setup.get_by_label("Setup code").fill("wrong")
        await setup.get_by_role("button", name="Create admin and log in").click()
        await expect(page.locator("#setup-error")).to_contain_text("setup code is not right")
        # The code as the console shows it, typed in lower case: it is read in any case.
        await setup.get_by_label("Setup code").fill(server.services.accounts.setup_code.lower())
        await setup.get_by_role("button", name="Create admin and log in").click()
        await expect(page).to_have_url(re.compile(r"/ui/dashboard$"))
        await expect(page.locator("#whoami")).to_have_text("root (admin)")
    assert (await server.api.get("/api/auth/setup/")).body == {"setup_required": False}
    async with chromium(tmp_path) as browser:  # from now on, the plain login page
        await browser.page.goto(server.http_url + "/ui/")
        await expect(browser.page.get_by_role("button", name="Log in")).to_be_visible()
        await expect(browser.page.get_by_role("region", name="Create the first admin")
                     ).to_have_count(0)
