// Energy reports: per UTC day, charger or id tag (GET /api/reports/energy/), as a bar
// chart, a table and a CSV download. The choice is kept in the URL.

import { api, get } from "./api.js";
import { fromLocalInput, kwh } from "./format.js";
import { startPage } from "./shell.js";
import { $, busy, h, replace, saveBlob, showError, table } from "./ui.js";

const NAMES = { day: "day (UTC)", charger: "charger", id_tag: "ID tag" };
const DAY_MS = 86400_000;
const MAX_FILLED_DAYS = 400; // longer ranges are not padded with empty days
const enc = encodeURIComponent;

function toLocalInput(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function query() {
  const q = new URLSearchParams({ group: $("#report-group").value });
  const since = fromLocalInput($("#report-since").value);
  const until = fromLocalInput($("#report-until").value);
  if (since) q.set("since", since);
  if (until) q.set("until", until);
  if ($("#report-charger").value.trim()) q.set("charger", $("#report-charger").value.trim());
  if ($("#report-tag").value.trim()) q.set("id_tag", $("#report-tag").value.trim());
  return q;
}

function readUrl() {
  const q = new URLSearchParams(location.search);
  if (q.get("group") in NAMES) $("#report-group").value = q.get("group");
  $("#report-since").value = q.get("since") ? toLocalInput(q.get("since")) : "";
  $("#report-until").value = q.get("until") ? toLocalInput(q.get("until")) : "";
  $("#report-charger").value = q.get("charger") || "";
  $("#report-tag").value = q.get("id_tag") || "";
}

/** Days without sessions are days with 0 kWh: a chart per day shows the gaps as gaps. */
export function withEmptyDays(items) {
  if (items.length < 2) return items;
  const first = Date.parse(`${items[0].key}T00:00:00Z`);
  const last = Date.parse(`${items[items.length - 1].key}T00:00:00Z`);
  if ((last - first) / DAY_MS > MAX_FILLED_DAYS) return items;
  const known = new Map(items.map((item) => [item.key, item]));
  const days = [];
  for (let at = first; at <= last; at += DAY_MS) {
    const key = new Date(at).toISOString().slice(0, 10);
    days.push(known.get(key) || { key, energy_wh: 0, sessions: 0 });
  }
  return days;
}

function bars(report) {
  const items = report.group === "day" ? withEmptyDays(report.items) : report.items;
  const top = Math.max(1, ...items.map((item) => item.energy_wh));
  return items.map((item) => {
    const fill = h("div", { class: "bar-fill" });
    fill.style.width = `${Math.max(0, (item.energy_wh / top) * 100)}%`; // CSSOM: CSP allows it
    return h("div", { class: "bar-row", dataset: { key: item.key } },
      h("span", { class: "bar-key" }, item.key),
      h("div", { class: "bar-track" }, fill),
      h("span", { class: "bar-value" },
        `${kwh(item.energy_wh)} · ${item.sessions} session${item.sessions === 1 ? "" : "s"}`));
  });
}

async function load() {
  const q = query();
  history.replaceState(null, "", `?${q}`);
  const report = await get(`/api/reports/energy/?${q}`);
  const name = NAMES[report.group];
  $("#chart-title").textContent = `Energy per ${name}`;
  const sessions = report.items.reduce((n, item) => n + item.sessions, 0);
  $("#report-total").textContent = `${kwh(report.total_energy_wh)} in ${sessions} finished ` +
    `session(s)` + (report.running_sessions
      ? `; ${report.running_sessions} running session(s) not counted yet` : "");
  replace($("#report-bars"), report.items.length ? bars(report)
    : h("p", { class: "empty" }, "No finished session matches."));
  replace($("#report-table"), table([
    { label: name[0].toUpperCase() + name.slice(1), value: (item) => (report.group === "charger"
      ? h("a", { href: `/ui/charger/${enc(item.key)}/` }, item.key) : item.key) },
    { label: "Energy", value: (item) => kwh(item.energy_wh), num: true },
    { label: "Sessions", value: (item) => String(item.sessions), num: true },
  ], report.items, { empty: "", caption: `Energy per ${name}` }));
}

async function downloadCsv() {
  const q = query();
  q.set("format", "csv");
  saveBlob(await api("GET", `/api/reports/energy/?${q}`, undefined, { blob: true }),
           `energy-by-${q.get("group")}.csv`);
}

async function main() {
  await startPage();
  readUrl();
  $("#report-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    busy(e.currentTarget.querySelector("button[type=submit]"), load, e.currentTarget);
  });
  $("#report-group").addEventListener("change", () => load().catch(showError));
  $("#report-csv").addEventListener("click", (e) => busy(e.currentTarget, downloadCsv));
  await load();
}

main().catch(showError);
