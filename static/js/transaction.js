// One transaction: who, where, when, how long and how much, with its power and session
// energy curve from the meter samples (live while it runs).

import { get } from "./api.js";
import { MeterChart } from "./charger-chart.js";
import { serverNow } from "./clock.js";
import { duration, kw, kwh, statusKind, time } from "./format.js";
import { connectLive } from "./live.js";
import { startPage } from "./shell.js";
import { $, h, replace, showError } from "./ui.js";

const transactionId = Number(document.body.dataset.transactionId);
const SAMPLES = 20000;
const enc = encodeURIComponent;
let chart = null;
let detail = null;

const badge = (text, kind) => h("span", { class: `badge ${kind}` }, text);

function facts(el, pairs) {
  replace(el, pairs.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]));
}

function lasted(tx) {
  const start = Date.parse(tx.start_time);
  const end = tx.active ? serverNow() : Date.parse(tx.stop_time);
  return Number.isNaN(start) || Number.isNaN(end) ? null : end - start;
}

function render(tx) {
  $("#tx-title").textContent = `Transaction ${tx.id}`;
  replace($("#tx-badges"), tx.active ? badge("running", "info") : badge("finished", "plain"),
    badge(`tag ${tx.auth_status}`, statusKind(tx.auth_status)),
    tx.stop_inferred ? badge("stop inferred", "warn") : "");
  facts($("#tx-facts"), [
    ["Charger", h("a", { href: `/ui/charger/${enc(tx.charger_id)}/` }, tx.charger_id)],
    ["Connector", String(tx.connector_id)],
    ["ID tag", tx.id_tag],
    ["Started", time(tx.start_time)],
    ["Stopped", tx.active ? "still running" : time(tx.stop_time)],
    ["Stop reason", [tx.stop_reason || "–", tx.stop_inferred ? " (inferred by the box)" : ""]],
    ["Note", tx.note || "–"],
  ]);
  facts($("#tx-numbers"), [
    ["Duration", h("span", { dataset: { live: "duration" } }, duration(lasted(tx)))],
    ["Energy", h("span", { class: "live", dataset: { live: "energy" } }, kwh(tx.energy_wh))],
    ["Average power", tx.energy_wh !== null && lasted(tx)
      ? kw(tx.energy_wh / (lasted(tx) / 3600_000)) : "–"],
    ["Meter start", `${tx.meter_start} Wh`],
    ["Meter stop", tx.meter_stop === null ? "–" : `${tx.meter_stop} Wh`],
    ["Meter samples", String(tx.samples_total)],
  ]);
  $("#back-link").href = `/ui/transactions/?charger=${enc(tx.charger_id)}`;
}

function onEvents(events) {
  for (const event of events) {
    if (event.type === "meter" && event.transaction_id === transactionId && chart) {
      chart.add(event.timestamp, event.power_w, event.energy_wh);
      if (event.energy_wh !== null && event.energy_wh !== undefined) {
        detail.energy_wh = Math.round((event.energy_wh - detail.meter_start) * 1000) / 1000;
        $('[data-live="energy"]').textContent = kwh(detail.energy_wh);
      }
    } else if (event.type === "transaction.stopped" && event.transaction_id === transactionId) {
      load().catch(showError);
    }
  }
}

async function load() {
  detail = await get(`/api/transactions/${transactionId}/?samples_limit=${SAMPLES}`);
  render(detail);
  if (chart) chart.destroy();
  chart = new MeterChart($("#tx-chart"), { energy: true,
    label: `Power and session energy of transaction ${transactionId} over time` });
  chart.setSamples(detail.meter_samples, detail.meter_start);
  const shown = detail.meter_samples.length;
  $("#curve-note").textContent = shown < detail.samples_total
    ? `The first ${shown} of ${detail.samples_total} meter samples.`
    : `${shown} meter samples, at the meter's timestamps.`;
}

async function main() {
  await startPage();
  try {
    await load();
  } catch (error) {
    if (error.status !== 404) throw error;
    $("#not-found").textContent = `No transaction ${transactionId} is known to this box.`;
    $("#not-found").hidden = false;
    return;
  }
  if (detail.active) {
    connectLive({ onSnapshot: () => {}, onEvents });
    setInterval(() => {
      const el = $('[data-live="duration"]');
      if (el && detail.active) el.textContent = duration(lasted(detail));
    }, 5000);
  }
}

main().catch(showError);
