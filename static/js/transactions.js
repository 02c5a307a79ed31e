// Transaction history: filters, sorting and the page, all kept in the URL (Back, reload
// and bookmarks keep them), totals for the filter, and the filtered list as a CSV file.

import { get } from "./api.js";
import { csvText } from "./csv.js";
import { fromLocalInput, kw, kwh, time } from "./format.js";
import { startPage } from "./shell.js";
import { $, busy, h, notify, pager, replace, saveBlob, showError, table } from "./ui.js";

const LIMIT = 50;
const CSV_MAX = 20000; // rows in one download (20 pages of the API's largest page)
const DEFAULT_SORT = "-id";
const enc = encodeURIComponent;
const TEXT_FILTERS = { charger: "#tx-charger", id_tag: "#tx-tag", q: "#tx-q" };

const COLUMNS = [
  ["id", (t) => t.id],
  ["charger_id", (t) => t.charger_id],
  ["connector_id", (t) => t.connector_id],
  ["id_tag", (t) => t.id_tag],
  ["auth_status", (t) => t.auth_status],
  ["start_time", (t) => t.start_time],
  ["stop_time", (t) => t.stop_time || ""],
  ["meter_start_wh", (t) => t.meter_start],
  ["meter_stop_wh", (t) => t.meter_stop ?? ""],
  ["energy_kwh", (t) => (t.energy_wh === null ? "" : (t.energy_wh / 1000).toFixed(3))],
  ["stop_reason", (t) => t.stop_reason || ""],
  ["stop_inferred", (t) => t.stop_inferred],
  ["active", (t) => t.active],
];

/** The local time of an RFC 3339 value, as a datetime-local input wants it. */
function toLocalInput(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** The view as the URL says: filters, sort, offset. */
function readUrl() {
  const query = new URLSearchParams(location.search);
  for (const [name, selector] of Object.entries(TEXT_FILTERS)) $(selector).value = query.get(name) || "";
  $("#tx-since").value = query.get("since") ? toLocalInput(query.get("since")) : "";
  $("#tx-until").value = query.get("until") ? toLocalInput(query.get("until")) : "";
  $("#tx-active").value = ["true", "false"].includes(query.get("active")) ? query.get("active") : "";
  return { sort: query.get("sort") || DEFAULT_SORT,
           offset: Math.max(0, Number.parseInt(query.get("offset") || "0", 10) || 0) };
}

/** The filters of the form, as the API and the URL take them. */
function filters() {
  const query = new URLSearchParams();
  for (const [name, selector] of Object.entries(TEXT_FILTERS)) {
    if ($(selector).value.trim()) query.set(name, $(selector).value.trim());
  }
  const since = fromLocalInput($("#tx-since").value);
  const until = fromLocalInput($("#tx-until").value);
  if (since) query.set("since", since);
  if (until) query.set("until", until);
  if ($("#tx-active").value) query.set("active", $("#tx-active").value);
  return query;
}

let view = { sort: DEFAULT_SORT, offset: 0 };

function go(changes) {
  view = { ...view, ...changes };
  const query = filters();
  if (view.sort !== DEFAULT_SORT) query.set("sort", view.sort);
  if (view.offset) query.set("offset", view.offset);
  const search = query.toString();
  history.pushState(null, "", search ? `?${search}` : location.pathname);
  return load();
}

function totalsText(page) {
  const { count, energy_wh: energy, running } = page.totals;
  const finished = count - running;
  return `${count} transaction(s): ${kwh(energy)} in the ${finished} finished` +
         (running ? `; ${running} running (their energy is not final, so not in the sum)` : "");
}

async function load() {
  const query = filters();
  query.set("sort", view.sort);
  query.set("limit", LIMIT);
  query.set("offset", view.offset);
  const page = await get(`/api/transactions/?${query}`);
  $("#tx-count").textContent = totalsText(page);
  replace($("#tx-table"), table([
    { label: "Id", sort: "id", num: true,
      value: (t) => h("a", { href: `/ui/transaction/${t.id}/` }, String(t.id)) },
    { label: "Charger", sort: "charger_id",
      value: (t) => h("a", { href: `/ui/charger/${enc(t.charger_id)}/` }, t.charger_id) },
    { label: "Connector", sort: "connector_id", value: (t) => String(t.connector_id), num: true },
    { label: "ID tag", sort: "id_tag", value: (t) => [t.id_tag, t.auth_status !== "Accepted"
      ? h("span", { class: "badge bad" }, t.auth_status) : ""] },
    { label: "Started", sort: "start_time", value: (t) => time(t.start_time) },
    { label: "Stopped", sort: "stop_time", value: (t) => (t.active
      ? h("span", { class: "badge info" }, "running") : time(t.stop_time)) },
    { label: "Energy", sort: "energy_wh", value: (t) => kwh(t.energy_wh), num: true },
    { label: "Power now", value: (t) => (t.active ? kw(t.power_w) : ""), num: true },
    { label: "Stop reason", value: (t) => [t.stop_reason || "", t.stop_inferred ? " (inferred)" : ""] },
  ], page.items, { empty: "No transaction matches.", caption: "Transactions", sort: view.sort,
                   onSort: (sort) => go({ sort, offset: 0 }).catch(showError),
                   rowData: (t) => ({ tx: t.id }) }));
  pager($("#tx-pager"), page, (offset) => go({ offset }).catch(showError));
}

async function downloadCsv() {
  const rows = [];
  let total = Infinity;
  for (let offset = 0; offset < Math.min(total, CSV_MAX); offset += 1000) {
    const query = filters();
    query.set("sort", view.sort);
    query.set("limit", 1000);
    query.set("offset", offset);
    const page = await get(`/api/transactions/?${query}`);
    total = page.total;
    rows.push(...page.items);
  }
  const text = csvText(COLUMNS.map(([name]) => name),
                       rows.map((t) => COLUMNS.map(([, value]) => value(t))));
  saveBlob(new Blob([text], { type: "text/csv" }), "transactions.csv");
  if (total > CSV_MAX) notify(`Only the first ${CSV_MAX} of ${total} rows; narrow the filter`, "error");
}

async function main() {
  await startPage();
  view = readUrl();
  $("#tx-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    busy(e.currentTarget.querySelector("button[type=submit]"), () => go({ offset: 0 }),
         e.currentTarget);
  });
  $("#tx-csv").addEventListener("click", (e) => busy(e.currentTarget, downloadCsv));
  window.addEventListener("popstate", () => { view = readUrl(); load().catch(showError); });
  await load();
}

main().catch(showError);
