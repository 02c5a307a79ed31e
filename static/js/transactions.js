// Transaction history: filters, pages, and the filtered list as a CSV file.

import { get } from "./api.js";
import { fromLocalInput, kw, kwh, time } from "./format.js";
import { startPage } from "./shell.js";
import { $, busy, h, notify, pager, replace, saveBlob, showError, table } from "./ui.js";

const LIMIT = 50;
const CSV_MAX = 20000; // rows in one download (20 pages of the API's largest page)
const enc = encodeURIComponent;

const COLUMNS = [
  ["id", (t) => t.id],
  ["charger_id", (t) => t.charger_id],
  ["connector_id", (t) => t.connector_id],
  ["id_tag", (t) => t.id_tag],
  ["start_time", (t) => t.start_time],
  ["stop_time", (t) => t.stop_time || ""],
  ["meter_start_wh", (t) => t.meter_start],
  ["meter_stop_wh", (t) => t.meter_stop ?? ""],
  ["energy_kwh", (t) => (t.energy_wh === null ? "" : (t.energy_wh / 1000).toFixed(3))],
  ["stop_reason", (t) => t.stop_reason || ""],
  ["stop_inferred", (t) => t.stop_inferred],
  ["active", (t) => t.active],
];

function filters() {
  const query = new URLSearchParams();
  const text = { charger: "#tx-charger", id_tag: "#tx-tag" };
  for (const [name, selector] of Object.entries(text)) {
    if ($(selector).value.trim()) query.set(name, $(selector).value.trim());
  }
  const since = fromLocalInput($("#tx-since").value);
  const until = fromLocalInput($("#tx-until").value);
  if (since) query.set("since", since);
  if (until) query.set("until", until);
  if ($("#tx-active").value) query.set("active", $("#tx-active").value);
  return query;
}

async function load(offset = 0) {
  const query = filters();
  query.set("limit", LIMIT);
  query.set("offset", offset);
  const page = await get(`/api/transactions/?${query}`);
  $("#tx-count").textContent = `${page.total} transaction(s)`;
  replace($("#tx-table"), table([
    { label: "Id", value: (t) => String(t.id), num: true },
    { label: "Charger", value: (t) => h("a", { href: `/ui/charger/${enc(t.charger_id)}/` }, t.charger_id) },
    { label: "Connector", value: (t) => String(t.connector_id), num: true },
    { label: "ID tag", value: (t) => t.id_tag },
    { label: "Started", value: (t) => time(t.start_time) },
    { label: "Stopped", value: (t) => (t.active ? h("span", { class: "badge info" }, "running")
                                                 : time(t.stop_time)) },
    { label: "Energy", value: (t) => kwh(t.energy_wh), num: true },
    { label: "Power now", value: (t) => (t.active ? kw(t.power_w) : ""), num: true },
    { label: "Stop reason", value: (t) => [t.stop_reason || "", t.stop_inferred ? " (inferred)" : ""] },
  ], page.items, { empty: "No transaction matches.", caption: "Transactions" }));
  pager($("#tx-pager"), page, (next) => load(next).catch(showError));
}

// A cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading
// quote, as the box's own CSV export does (evedge/domain/csv_cells.py).
function csvCell(value) {
  let text = String(value ?? "");
  if (/^'*[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

async function downloadCsv() {
  const rows = [];
  let total = Infinity;
  for (let offset = 0; offset < Math.min(total, CSV_MAX); offset += 1000) {
    const query = filters();
    query.set("limit", 1000);
    query.set("offset", offset);
    const page = await get(`/api/transactions/?${query}`);
    total = page.total;
    rows.push(...page.items);
  }
  const lines = [COLUMNS.map(([name]) => name).join(","),
                 ...rows.map((t) => COLUMNS.map(([, value]) => csvCell(value(t))).join(","))];
  saveBlob(new Blob([`${lines.join("\r\n")}\r\n`], { type: "text/csv" }), "transactions.csv");
  if (total > CSV_MAX) notify(`Only the newest ${CSV_MAX} of ${total} rows; narrow the filter`, "error");
}

async function main() {
  await startPage();
  const wanted = new URLSearchParams(location.search).get("charger");
  if (wanted) $("#tx-charger").value = wanted;
  $("#tx-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    busy(e.currentTarget.querySelector("button[type=submit]"), () => load(0), e.currentTarget);
  });
  $("#tx-csv").addEventListener("click", (e) => busy(e.currentTarget, downloadCsv));
  await load(0);
}

main().catch(showError);
