// What the charger page shows from the records: recent transactions, reservations,
// charging profiles, received diagnostics files and the command log.

import { command } from "./actions.js";
import { requestSummary } from "./charger-timeline.js";
import { api, get } from "./api.js";
import { bytes, kwh, time } from "./format.js";
import { can } from "./shell.js";
import { $, busy, h, replace, saveBlob, table } from "./ui.js";

export async function loadHistory(chargerId) {
  const enc = encodeURIComponent(chargerId);
  const recent = await get(`/api/transactions/?charger=${enc}&limit=10`);
  replace($("#recent"), table([
    { label: "Id", value: (t) => h("a", { href: `/ui/transaction/${t.id}/` }, String(t.id)), num: true },
    { label: "Connector", value: (t) => String(t.connector_id), num: true },
    { label: "ID tag", value: (t) => t.id_tag },
    { label: "Started", value: (t) => time(t.start_time) },
    { label: "Stopped", value: (t) => (t.active ? "running" : time(t.stop_time)) },
    { label: "Energy", value: (t) => kwh(t.energy_wh), num: true },
    { label: "Stop reason", value: (t) => [t.stop_reason || "", t.stop_inferred ? " (inferred)" : ""] },
  ], recent.items, { empty: "No transactions yet.", caption: "Recent transactions" }));
  await loadDiagnostics(enc);
  if (can("operator")) await loadCommandLog(enc);
}

async function loadDiagnostics(enc) {
  const { items } = await get(`/api/diagnostics/?charger=${enc}`);
  const download = (file, button) => busy(button, async () => {
    saveBlob(await api("GET", file.url, undefined, { blob: true }), file.name);
  });
  replace($("#diagnostics"), table([
    { label: "File", value: (f) => f.name },
    { label: "Size", value: (f) => bytes(f.size), num: true },
    { label: "Received", value: (f) => time(f.received_at) },
    { label: "Download", value: (f) => h("button", { type: "button", class: "small",
      "aria-label": `Download ${f.name}`, onclick: (e) => download(f, e.currentTarget) },
      "Download") },
  ], items, { empty: "None received.", caption: "Diagnostics files" }));
}

async function loadCommandLog(enc) {
  const log = await get(`/api/command-log/?charger=${enc}&limit=20`);
  replace($("#command-log"), table([
    { label: "Sent", value: (e) => time(e.sent_at) },
    { label: "By", value: (e) => e.username },
    { label: "Command", value: (e) => e.action },
    { label: "Request", value: (e) => h("code", {}, requestSummary(e.request) || "–") },
    { label: "Outcome", value: (e) => e.outcome },
    { label: "Answer", value: (e) => (e.response && typeof e.response === "object"
      ? (e.response.status || requestSummary(e.response)) : e.response) || "" },
  ], log.items, { empty: "No commands sent yet.", caption: "Command log" }));
}

/** Reservations and charging profiles from the charger detail. */
export function renderPlans(detail, chargerId, reload) {
  const cancel = (r, button) => command(chargerId, "cancel-reservation",
    { reservation_id: r.reservation_id }, `Cancel reservation ${r.reservation_id}`, button)
    .then((answer) => answer && reload());
  replace($("#reservations"), table([
    { label: "Id", value: (r) => String(r.reservation_id), num: true },
    { label: "Connector", value: (r) => String(r.connector_id), num: true },
    { label: "ID tag", value: (r) => r.id_tag },
    { label: "Expires", value: (r) => time(r.expiry_date) },
    { label: "Status", value: (r) => r.status },
    { label: "Action", value: (r) => (can("operator") ? h("button", { type: "button",
      class: "small", onclick: (e) => cancel(r, e.currentTarget) }, "Cancel") : "") },
  ], detail.reservations || [], { empty: "No reservations." }));
  replace($("#profiles"), table([
    { label: "Id", value: (p) => String(p.charging_profile_id), num: true },
    { label: "Connector", value: (p) => String(p.connector_id), num: true },
    { label: "Purpose", value: (p) => p.purpose },
    { label: "Stack level", value: (p) => String(p.stack_level), num: true },
    { label: "Sent", value: (p) => time(p.sent_at) },
  ], detail.charging_profiles || [], { empty: "No charging profiles." }));
}
