// Site load management: each circuit's limit, allocation and measured draw, the sessions
// in service order with their allocation and measured current per phase, the queue, a
// live chart of the power against the limit, the what-if, and (admins) the site model.
// The numbers come from GET /api/site/allocation/; the "site.allocation" live event
// (at most two a second) moves the chart and, when the allocation changed, reloads it.

import { api, get, post } from "./api.js";
import { connectLive } from "./live.js";
import { can, startPage } from "./shell.js";
import { $, busy, errorText, h, replace, showError, table } from "./ui.js";

const enc = encodeURIComponent;
const CHART_POINTS = 600; // ten minutes at two points a second
const RELOAD_MS = 1000;   // the tables reload at most once a second

let model = { circuits: [], chargers: [] };
let version = null;
let reloadTimer = null;
let chart = null;
const history = new Map(); // circuit id -> {t: [], measured: [], allocated: [], limit: []}

const phases = (vector) => (vector ? vector.map((a) => a.toFixed(1)).join(" / ") : "–");

function voltage(circuitId) {
  const circuit = model.circuits.find((c) => c.id === circuitId);
  return circuit ? circuit.voltage_v : 230;
}

function limitKw(circuit) {
  const spec = model.circuits.find((c) => c.id === circuit.id);
  if (spec && spec.max_power_kw !== null) return spec.max_power_kw;
  return circuit.limit_a.reduce((sum, a) => sum + a, 0) * voltage(circuit.id) / 1000;
}

const kwOf = (id, vector) => (vector ? vector.reduce((s, a) => s + a, 0) * voltage(id) / 1000 : null);

function badge(text, kind) {
  return h("span", { class: `badge ${kind}` }, text);
}

function statusBadge(status) {
  if (!status) return "";
  const kind = status === "Accepted" ? "ok" : ["pending"].includes(status) ? "info" : "bad";
  return badge(status, kind);
}

function circuitsTable(circuits) {
  return table([
    { label: "Circuit", value: (c) => c.id },
    { label: "Limit", value: (c) => phases(c.limit_a), num: true },
    { label: "Allocated", value: (c) => phases(c.allocated_a), num: true },
    { label: "Measured", value: (c) => phases(c.measured_a), num: true },
    { label: "Headroom", value: (c) => phases(c.headroom_a), num: true },
    { label: "Fixed / other loads", value: (c) => `${phases(c.fixed_a)} · ${phases(c.other_a)}` },
    { label: "State", value: (c) => [c.overcommitted ? badge("overcommitted", "bad") : "",
      c.grid_meter ? badge(`meter ${c.grid_meter.status}`,
                           c.grid_meter.status === "ok" ? "ok" : "bad") : ""] },
  ], circuits, { empty: "No circuits: load management is off.", caption: "Circuits" });
}

function sessionsTable(sessions, empty) {
  return table([
    { label: "Charger", value: (s) => (s.hypothetical ? badge(s.charger_id, "info")
      : h("a", { href: `/ui/charger/${enc(s.charger_id)}/` }, s.charger_id)) },
    { label: "Connector", value: (s) => String(s.connector_id), num: true },
    { label: "Transaction", value: (s) => (s.transaction_id > 0 ? String(s.transaction_id) : "") },
    { label: "Circuit", value: (s) => s.circuit },
    { label: "State", value: (s) => badge(s.state, s.state === "charging" ? "ok" : "warn") },
    { label: "Allocated (A)", value: (s) => phases(s.allocated_a), num: true },
    { label: "Measured (A)", value: (s) => [phases(s.measured_a),
      s.demand_a != null ? badge(`car takes ≤ ${s.demand_a} A`, "info") : ""], num: true },
    { label: "Profile", value: (s) => [statusBadge(s.profile_status),
      s.fixed ? badge(`fixed: ${s.fixed_reason}`, "warn") : ""] },
  ], sessions, { empty, caption: "Sessions" });
}

function chargersTable(chargers) {
  return table([
    { label: "Charger", value: (c) => h("a", { href: `/ui/charger/${enc(c.charger_id)}/` }, c.charger_id) },
    { label: "State", value: (c) => badge(c.state, c.state === "steered" ? "ok" : "warn") },
    { label: "Steered with", value: (c) => c.profile_purpose || "–" },
    { label: "Charger maximum (A)", value: (c) => (c.max_profile
      ? [`${c.max_profile.accepted_a ?? "–"} `, statusBadge(c.max_profile.profile_status)] : "–") },
  ], chargers, { empty: "No chargers in the model.", caption: "Chargers" });
}

function fillSelect(select, circuits) {
  const chosen = select.value;
  replace(select, ...circuits.map((c) => h("option", { value: c.id }, c.id)));
  if (circuits.some((c) => c.id === chosen)) select.value = chosen;
}

async function load() {
  const allocation = await get("/api/site/allocation/");
  version = allocation.version;
  $("#site-state").textContent = allocation.enabled
    ? `Allocation ${allocation.version}, ${new Date(allocation.computed_at * 1000).toLocaleTimeString()}` +
      (allocation.site_source === "file" ? " · the model comes from site_model_file" : "")
    : "Load management is off: the site model has no circuits.";
  replace($("#site-circuits"), circuitsTable(allocation.circuits));
  replace($("#site-sessions"), sessionsTable(allocation.sessions, "No sessions."));
  replace($("#site-queue"), sessionsTable(allocation.sessions.filter((s) => s.state === "queued"),
                                          "Nobody waits."));
  replace($("#site-chargers"), chargersTable(allocation.chargers));
  fillSelect($("#chart-circuit"), allocation.circuits);
  fillSelect($("#whatif-circuit"), allocation.circuits);
  for (const circuit of allocation.circuits) record(circuit);
  drawChart();
}

function reloadSoon() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => { reloadTimer = null; load().catch(showError); }, RELOAD_MS);
}

// --- the chart ---------------------------------------------------------------------------

function record(circuit) {
  const series = history.get(circuit.id) || { t: [], measured: [], allocated: [], limit: [] };
  history.set(circuit.id, series);
  series.t.push(Date.now() / 1000);
  series.measured.push(kwOf(circuit.id, circuit.measured_a));
  series.allocated.push(kwOf(circuit.id, circuit.allocated_a));
  series.limit.push(limitKw(circuit));
  if (series.t.length > CHART_POINTS) {
    for (const values of Object.values(series)) values.shift();
  }
}

function drawChart() {
  const element = $("#site-chart");
  const series = history.get($("#chart-circuit").value);
  if (!series || !window.uPlot) return;
  const data = [series.t, series.measured, series.allocated, series.limit];
  if (chart) {
    chart.setData(data);
    return;
  }
  const kw = (u, v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} kW`);
  chart = new window.uPlot({
    width: Math.max(280, element.clientWidth - 12), height: 240,
    series: [{}, { label: "Measured", stroke: "#0b4fa8", width: 2, value: kw, spanGaps: true },
             { label: "Allocated", stroke: "#0b6b2c", width: 2, dash: [6, 4], value: kw },
             { label: "Limit", stroke: "#a31515", width: 2, value: kw }],
    axes: [{ stroke: "#111" }, { stroke: "#111", label: "kW", size: 56 }],
  }, data, element);
}

function onEvents(events) {
  for (const event of events) {
    if (event.type !== "site.allocation") continue;
    for (const circuit of event.circuits) {
      const known = model.circuits.find((c) => c.id === circuit.id);
      if (known) record(circuit);
    }
    drawChart();
    if (event.version !== version) reloadSoon();
  }
}

// --- what if, and the model --------------------------------------------------------------

async function whatIf(form) {
  const result = await post("/api/site/what-if/", {
    circuit: form.circuit.value, extra_sessions: Number(form.extra_sessions.value) });
  const extra = result.sessions.filter((s) => s.hypothetical);
  replace($("#whatif-result"),
    h("p", {}, extra.map((s) => `${s.charger_id}: ${s.state}, ${phases(s.allocated_a)} A`).join("; ")),
    sessionsTable(result.sessions, "No sessions."));
}

async function loadModel() {
  model = await get("/api/site/");
  $("#model-json").value = JSON.stringify(model, null, 2);
}

async function saveModel() {
  const area = $("#model-json");
  const message = $("#model-error");
  message.textContent = "";
  area.classList.remove("field-error");
  let body;
  try {
    body = JSON.parse(area.value);
  } catch (error) {
    message.textContent = `Not JSON: ${error.message}`;
    area.classList.add("field-error");
    area.focus();
    return;
  }
  try {
    model = await api("PUT", "/api/site/", body);
  } catch (error) {
    message.textContent = errorText(error);
    area.classList.add("field-error");
    area.setAttribute("aria-invalid", "true");
    markField(area, error.field);
    return;
  }
  area.removeAttribute("aria-invalid");
  area.value = JSON.stringify(model, null, 2);
  message.textContent = "Saved; the allocation follows.";
  await load();
}

/** Select the key of the field the API named (its last part) in the editor. */
function markField(area, field) {
  if (!field) return;
  const key = field.split(/[.[]/).pop().replace("]", "");
  const at = area.value.indexOf(`"${key}"`);
  area.focus();
  if (at >= 0) area.setSelectionRange(at, at + key.length + 2);
}

async function main() {
  await startPage();
  await loadModel();
  if (can("admin")) $("#model-json").readOnly = false;
  $("#model-form").addEventListener("submit", (e) => {
    e.preventDefault();
    busy($("#model-save"), saveModel);
  });
  $("#model-reset").addEventListener("click", () => loadModel().catch(showError));
  $("#whatif-form").addEventListener("submit", (e) => {
    e.preventDefault();
    busy(e.currentTarget.querySelector("button"), () => whatIf(e.currentTarget), e.currentTarget);
  });
  $("#chart-circuit").addEventListener("change", () => {
    if (chart) { chart.destroy(); chart = null; }
    drawChart();
  });
  await load();
  connectLive({ onSnapshot: () => {}, onEvents });
}

main().catch(showError);
