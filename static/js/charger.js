// The charger page: identity, connectors and the active transaction, kept live by
// /ws/dashboard; configuration, commands, administration and history in their modules.

import { availability, remoteStart, remoteStop, unlock } from "./actions.js";
import { startAdmin } from "./charger-admin.js";
import { PowerChart } from "./charger-chart.js";
import { startCommands } from "./charger-commands.js";
import { startConfig } from "./charger-config.js";
import { loadHistory, renderPlans } from "./charger-history.js";
import { get } from "./api.js";
import { ago, kw, kwh, statusKind, time } from "./format.js";
import { connectLive } from "./live.js";
import { can, startPage } from "./shell.js";
import { ChargerStore } from "./store.js";
import { $, h, replace, showError } from "./ui.js";

const chargerId = document.body.dataset.chargerId;
const chart = new PowerChart($("#power-chart"));
const parts = {};
let layoutKey = "";

const store = new ChargerStore(changed, { only: chargerId });
store.onMeter = (charger, tx, event) => chart.add(tx, event.power_w);

const badge = (text, kind) => h("span", { class: `badge ${kind}` }, text);
const usable = (c) => c.online && c.registration_status === "Accepted";

function renderDetail(detail) {
  for (const part of Object.values(parts)) part.render(detail);
  renderPlans(detail, chargerId, loadDetail);
}

/** GET /api/chargers/<id>/ (with configuration, reservations, profiles) and show it. */
async function loadDetail() {
  const detail = await get(`/api/chargers/${encodeURIComponent(chargerId)}/`);
  renderDetail(detail);
  return detail;
}

function changed(ids, how) {
  const charger = store.byId.get(chargerId);
  if (!charger) return;
  if (how && how.refetched) { // boot, transaction, firmware or diagnostics news: the record
    renderDetail(charger);
    loadHistory(chargerId).catch(showError);
  }
  const key = JSON.stringify([charger.online, charger.registration_status,
    charger.connectors.map((c) => [c.connector_id, c.status, c.error_code,
                                   c.active_transaction && c.active_transaction.id]),
    can("operator")]);
  renderIdentity(charger);
  if (key !== layoutKey) {
    layoutKey = key;
    renderBadges(charger);
    renderConnectors(charger);
    renderActive(charger);
    if (parts.commands) parts.commands.connectors(charger);
  } else {
    patchActive(charger);
  }
}

function renderBadges(charger) {
  replace($("#charger-badges"),
    charger.online ? badge("Online", "ok") : badge("Offline", "off"),
    badge(charger.registration_status, statusKind(charger.registration_status)));
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
    ["Location", c.location || "–"],
    ["Last boot", time(c.last_boot_at)],
    ["Connected since", c.online ? time(c.connected_at) : "offline"],
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
  return h("span", { class: "actions" },
    tx ? h("button", { type: "button", class: "small danger", disabled: off,
                       onclick: (e) => remoteStop(charger, tx, e.currentTarget) }, "Stop charging")
       : h("button", { type: "button", class: "small primary", disabled: off,
                       onclick: (e) => remoteStart(charger, id, e.currentTarget) }, "Start charging"),
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
  replace($("#connectors"), charger.connectors.map((c) => h("div", { class: "connector" },
    h("strong", {}, c.connector_id === 0 ? "Charger (0)" : `Connector ${c.connector_id}`),
    badge(c.status || "Unknown", statusKind(c.status)),
    c.error_code && c.error_code !== "NoError" ? h("span", { class: "error-text" }, c.error_code) : "",
    c.info ? h("span", { class: "muted small" }, c.info) : "",
    c.last_meter ? h("span", { class: "muted small", title: "latest energy register reading" },
      `meter ${kwh(c.last_meter.energy_wh)} at ${time(c.last_meter.timestamp)}`) : "",
    connectorButtons(charger, c))));
}

function renderActive(charger) {
  const active = charger.active_transactions || [];
  if (!active.length) {
    replace($("#active-tx"), h("p", { class: "muted" }, "No transaction is running."));
    chart.hide();
    return;
  }
  replace($("#active-tx"), active.map((tx) => h("dl", { class: "facts", dataset: { tx: tx.id } },
    h("dt", {}, "Transaction"), h("dd", {}, `${tx.id} on connector ${tx.connector_id}`),
    h("dt", {}, "ID tag"), h("dd", {}, tx.id_tag),
    h("dt", {}, "Started"), h("dd", {}, time(tx.start_time)),
    h("dt", {}, "Power"), h("dd", { class: "live", dataset: { live: "power" } }, kw(tx.power_w)),
    h("dt", {}, "Session energy"),
    h("dd", { class: "live", dataset: { live: "energy" } }, kwh(tx.energy_wh)))));
  chart.show(active[active.length - 1]).catch(showError);
}

function patchActive(charger) {
  for (const tx of charger.active_transactions || []) {
    const box = $(`[data-tx="${tx.id}"]`);
    if (!box) continue;
    box.querySelector('[data-live="power"]').textContent = kw(tx.power_w);
    box.querySelector('[data-live="energy"]').textContent = kwh(tx.energy_wh);
  }
}

async function main() {
  await startPage();
  $("#all-transactions").href = `/ui/transactions/?charger=${encodeURIComponent(chargerId)}`;
  parts.config = startConfig(chargerId, loadDetail);
  if (can("admin")) parts.admin = startAdmin(chargerId, loadDetail);
  if (can("operator")) parts.commands = startCommands(chargerId, () => store.byId.get(chargerId));
  try {
    store.load([await loadDetail()]);
  } catch (error) {
    if (error.status !== 404) throw error;
    const problem = $("#not-found");
    problem.textContent = `No charger "${chargerId}" is known to this box.`;
    problem.hidden = false;
    return;
  }
  await loadHistory(chargerId);
  connectLive({ onSnapshot: (chargers) => store.load(chargers),
                onEvents: (events) => store.apply(events) });
}

main().catch(showError);
