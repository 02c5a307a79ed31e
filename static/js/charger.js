// The charger page: identity, connectors and the running sessions (each with its own
// live chart), kept live by /ws/dashboard; configuration, commands, operations,
// administration, the timeline and the history in their modules.

import { availability, commands, remoteStart, remoteStop, unlock } from "./actions.js";
import { get } from "./api.js";
import { WAITING_TEXT, awaitingBoot, booted } from "./approval.js";
import { startAdmin } from "./charger-admin.js";
import { MeterChart } from "./charger-chart.js";
import { startCommands } from "./charger-commands.js";
import { startConfig } from "./charger-config.js";
import { loadHistory, renderPlans } from "./charger-history.js";
import { startOperations } from "./charger-operations.js";
import { startRehearsal } from "./charger-rehearsal.js";
import { startRepairs } from "./charger-repairs.js";
import { startTimeline } from "./charger-timeline.js";
import { isLive, onConnection } from "./connection.js";
import { startable, usable } from "./dashboard-rows.js";
import { ago, kw, kwh, shortTime, statusKind, time } from "./format.js";
import { connectLive } from "./live.js";
import { can, startPage } from "./shell.js";
import { ChargerStore } from "./store.js";
import { $, h, replace, showError } from "./ui.js";

const chargerId = document.body.dataset.chargerId;
const charts = new Map(); // transaction id -> {box, chart}
const parts = {};
let layoutKey = "";

const store = new ChargerStore(changed, { only: chargerId });
store.onMeter = (charger, tx, event) => {
  const entry = charts.get(tx.id);
  if (entry) entry.chart.add(event.timestamp, event.power_w, event.energy_wh);
};

const badge = (text, kind) => h("span", { class: `badge ${kind}` }, text);

function renderDetail(detail) {
  for (const part of Object.values(parts)) if (part.render) part.render(detail);
  renderPlans(detail, chargerId, loadDetail);
}

/** GET /api/chargers/<id>/ (with configuration, reservations, profiles) and show it. */
async function loadDetail() {
  const detail = await get(`/api/chargers/${encodeURIComponent(chargerId)}/`);
  renderDetail(detail);
  store.load([detail]); // the registration status and labels changed here, not by an event
  return detail;
}

function changed(ids, how) {
  const charger = store.byId.get(chargerId);
  if (!charger) return;
  if (how && how.refetched) { // boot, transaction, firmware or diagnostics news: the record
    renderDetail(charger);
    loadHistory(chargerId).catch(showError);
  }
  const key = JSON.stringify([charger.online, charger.registration_status, charger.label,
    charger.connectors.map((c) => [c.connector_id, c.status, c.error_code, c.info,
                                   c.active_transaction && c.active_transaction.id]),
    can("operator"), isLive(), awaitingBoot(charger)]);
  renderIdentity(charger);
  if (key !== layoutKey) {
    layoutKey = key;
    renderBadges(charger);
    renderConnectors(charger);
    renderActive(charger);
    if (parts.commands) parts.commands.connectors(charger);
    if (parts.operations) parts.operations.connectors(charger);
  } else {
    patchActive(charger);
  }
  if (parts.timeline) parts.timeline.refreshSoon();
}

function renderBadges(charger) {
  let online;
  if (!isLive()) online = badge(`last known: ${charger.online ? "Online" : "Offline"}`, "stale");
  else online = charger.online ? badge("Online", "ok") : badge("Offline", "off");
  replace($("#charger-badges"), online,
    badge(charger.registration_status, statusKind(charger.registration_status)),
    awaitingBoot(charger)
      ? h("span", { class: "waiting", role: "status" }, `Approved: ${WAITING_TEXT}`) : "");
  const title = [charger.id, charger.label].filter(Boolean).join(" · ");
  $("#charger-title").textContent = `Charger ${title}`;
}

function renderIdentity(c) {
  const facts = [
    ["Vendor / model", [c.vendor, c.model].filter(Boolean).join(" ") || "–"],
    ["Serial number", c.serial_number || c.charge_box_serial_number || "–"],
    ["Firmware", c.firmware_version || "–"],
    ["Firmware update", c.firmware_status || "–"],
    ["Diagnostics", c.diagnostics_status || "–"],
    ["Label", c.label || "–"],
    ["Location", c.location || "–"],
    ["Last boot", time(c.last_boot_at)],
    ["Connected since", c.online ? time(c.connected_at)
      : `offline${c.disconnected_at ? ` since ${time(c.disconnected_at)}` : ""}`],
    ["Last seen", ago(c.last_seen)],
    ["Charger password", c.has_password ? "set (HTTP Basic)" : "none"],
  ];
  replace($("#identity"), facts.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]));
}

function connectorButtons(charger, connector) {
  if (!can("operator") || connector.connector_id === 0) return "";
  const off = !usable(charger);
  const id = connector.connector_id;
  const tx = connector.active_transaction;
  let main = "";
  if (tx) {
    main = h("button", { type: "button", class: "small danger", disabled: off,
                         onclick: (e) => remoteStop(charger, tx, e.currentTarget) }, "Stop charging");
  } else if (startable(charger, connector)) {
    main = h("button", { type: "button", class: "small primary", disabled: off,
                         onclick: (e) => remoteStart(charger, id, e.currentTarget) }, "Start charging");
  }
  return h("span", { class: "actions" }, main,
    h("button", { type: "button", class: "small", disabled: off,
                  onclick: (e) => unlock(charger, id, e.currentTarget) }, "Unlock"),
    connector.status === "Unavailable"
      ? h("button", { type: "button", class: "small", disabled: off,
                      onclick: (e) => availability(charger, id, "Operative", e.currentTarget) },
          "Set Operative") : "");
}

function renderConnectors(charger) {
  if (!charger.connectors.length) {
    replace($("#connectors"), h("p", { class: "muted" }, "No status reported yet."));
    return;
  }
  const stale = !isLive() || !charger.online;
  replace($("#connectors"), charger.connectors.map((c) => h("div", {
    class: stale ? "connector stale" : "connector", dataset: { connector: c.connector_id } },
    h("strong", {}, c.connector_id === 0 ? "Charger (0)" : `Connector ${c.connector_id}`),
    stale ? h("span", { class: "small" }, "last known:") : "",
    badge(c.status || "Unknown", stale ? "stale" : statusKind(c.status)),
    c.error_code && c.error_code !== "NoError" ? h("span", { class: "error-text" }, c.error_code) : "",
    c.info ? h("span", { class: "muted small" }, c.info) : "",
    c.status_at || c.updated_at
      ? h("span", { class: "muted small" }, `since ${shortTime(c.status_at || c.updated_at)}`) : "",
    c.last_meter ? h("span", { class: "muted small", title: "latest energy register reading" },
      `meter ${kwh(c.last_meter.energy_wh)} at ${time(c.last_meter.timestamp)}`) : "",
    connectorButtons(charger, c))));
}

function txBox(tx) {
  const chartEl = h("div", { class: "chart", dataset: { chart: tx.id } });
  const box = h("div", { class: "tx-box", dataset: { tx: tx.id, connector: tx.connector_id } },
    h("h3", {}, `Connector ${tx.connector_id} · transaction `,
      h("a", { href: `/ui/transaction/${tx.id}/` }, String(tx.id))),
    h("dl", { class: "facts" },
      h("dt", {}, "ID tag"), h("dd", {}, tx.id_tag),
      h("dt", {}, "Started"), h("dd", {}, time(tx.start_time)),
      h("dt", {}, "Power"), h("dd", { class: "live", dataset: { live: "power" } }, kw(tx.power_w)),
      h("dt", {}, "Session energy"),
      h("dd", { class: "live", dataset: { live: "energy" } }, kwh(tx.energy_wh))),
    chartEl);
  const chart = new MeterChart(chartEl, {
    label: `Power of transaction ${tx.id} on connector ${tx.connector_id} over time` });
  chart.load(tx).catch(showError);
  return { box, chart };
}

/** One box per running session, by connector; a session's box and chart stay while it runs. */
function renderActive(charger) {
  const active = [...(charger.active_transactions || [])]
    .sort((a, b) => a.connector_id - b.connector_id);
  for (const [id, entry] of charts) {
    if (!active.some((tx) => tx.id === id)) { entry.chart.destroy(); charts.delete(id); }
  }
  if (!active.length) {
    replace($("#active-tx"), h("p", { class: "muted" }, "No transaction is running."));
    return;
  }
  for (const tx of active) if (!charts.has(tx.id)) charts.set(tx.id, txBox(tx));
  replace($("#active-tx"), active.map((tx) => charts.get(tx.id).box));
  patchActive(charger);
}

function patchActive(charger) {
  for (const tx of charger.active_transactions || []) {
    const box = $(`[data-tx="${tx.id}"]`);
    if (!box) continue;
    box.querySelector('[data-live="power"]').textContent = kw(tx.power_w);
    box.querySelector('[data-live="energy"]').textContent = kwh(tx.energy_wh);
  }
}

function onEvents(events) {
  for (const event of events) {
    if (event.type === "charger.boot" && event.charger_id === chargerId) booted(chargerId);
  }
  store.apply(events);
  if (parts.rehearsal && events.some((e) => e.charger_id === chargerId && e.type !== "meter")) {
    parts.rehearsal.refreshSoon(); // a simulator's own state changed with it
  }
}

async function main() {
  await startPage();
  $("#all-transactions").href = `/ui/transactions/?charger=${encodeURIComponent(chargerId)}`;
  const current = () => store.byId.get(chargerId);
  parts.config = startConfig(chargerId, loadDetail);
  parts.repairs = startRepairs();
  if (can("admin")) parts.admin = startAdmin(chargerId, loadDetail, current);
  if (can("operator")) {
    parts.commands = startCommands(chargerId, current);
    parts.operations = startOperations(chargerId, loadDetail);
    parts.rehearsal = startRehearsal(chargerId);
  }
  try {
    await loadDetail();
  } catch (error) {
    if (error.status !== 404) throw error;
    const problem = $("#not-found");
    problem.textContent = `No charger "${chargerId}" is known to this box.`;
    problem.hidden = false;
    return;
  }
  parts.timeline = startTimeline(chargerId);
  await loadHistory(chargerId);
  commands.addEventListener("sent", (event) => {
    if (event.detail.chargerId !== chargerId) return;
    loadHistory(chargerId).catch(showError); // the command log shows what was just sent
    parts.timeline.refreshSoon();
  });
  onConnection(() => { layoutKey = ""; changed(null); });
  connectLive({ onSnapshot: (chargers) => store.load(chargers), onEvents });
}

main().catch(showError);
