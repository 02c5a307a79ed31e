// The dashboard: every charger, live, problems first. The snapshot from /ws/dashboard
// fills the table; events update it in place. The attention strip, the summary tiles
// (each filters the list), search and filter (kept in the URL), bulk commands, alerts,
// pre-registration and the commissioning panel.

import { booted } from "./approval.js";
import { startAlerts } from "./alerts.js";
import { NO_PROBLEM, byAttention, rank } from "./attention.js";
import { startAttention } from "./attention-strip.js";
import { startBulk } from "./bulk.js";
import { serverNow } from "./clock.js";
import { startCommissioning } from "./commissioning.js";
import { onConnection } from "./connection.js";
import { isCharging, isFaulted, patchRow, renderRow, rowKey } from "./dashboard-rows.js";
import { ago } from "./format.js";
import { connectLive } from "./live.js";
import { post } from "./api.js";
import { can, startPage } from "./shell.js";
import { ChargerStore } from "./store.js";
import { $, busy, h, notify, replace, showError } from "./ui.js";

const RERANK_MS = 30_000; // stuck sessions become stuck with time alone, without an event
const tbody = $("#charger-rows");
const rows = new Map(); // charger id -> {tr, key}
const dirty = new Set();
let rebuildAll = false;
let frame = null;
let commissioning = null;
let showAttention = () => {};
let checkAlerts = () => {};

function schedule() {
  if (frame === null) frame = requestAnimationFrame(render);
}

const store = new ChargerStore((ids) => {
  if (ids === null) rebuildAll = true;
  else for (const id of ids) dirty.add(id);
  schedule();
});

function focusKey() {
  const active = document.activeElement;
  return active && active.dataset ? active.dataset.focus : undefined;
}

function restoreFocus(key) {
  if (!key || (document.activeElement && document.activeElement !== document.body)) return;
  const again = tbody.querySelector(`[data-focus="${CSS.escape(key)}"]`);
  if (again) again.focus();
}

function build(charger) {
  const entry = { tr: renderRow(charger), key: rowKey(charger) };
  rows.set(charger.id, entry);
  return entry.tr;
}

function ordered() {
  return byAttention(store.list(), serverNow());
}

/** Put the rows in attention order, moving only when the order changed. */
function reorder(list) {
  const current = [...tbody.children].map((tr) => tr.dataset.id);
  if (current.length === list.length && list.every((c, i) => c.id === current[i])) return;
  tbody.append(...list.map((c) => rows.get(c.id).tr));
}

function render() {
  frame = null;
  const key = focusKey();
  const list = ordered();
  if (rebuildAll || [...dirty].some((id) => !rows.has(id) || !store.byId.has(id))) {
    rows.clear();
    replace(tbody, list.length ? list.map(build)
      : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No charger has connected yet.")));
  } else {
    for (const id of dirty) update(store.byId.get(id));
    reorder(list);
  }
  rebuildAll = false;
  dirty.clear();
  restoreFocus(key);
  showCounts();
  applyFilter();
  showAttention();
}

function update(charger) {
  const entry = rows.get(charger.id);
  if (entry.key === rowKey(charger)) {
    patchRow(entry.tr, charger);
    return;
  }
  entry.tr.replaceWith(build(charger));
}

// Every tile counts chargers (not connectors), and shows those chargers when chosen.
const FILTERS = {
  all: () => true,
  online: (c) => c.online,
  offline: (c) => !c.online,
  charging: isCharging,
  faulted: isFaulted,
  pending: (c) => c.registration_status === "Pending",
  attention: (c) => rank(c, serverNow()) < NO_PROBLEM,
};

function showCounts() {
  const all = store.list();
  const count = (name) => all.filter(FILTERS[name]).length;
  $("#count-online").textContent = `${count("online")} of ${all.length}`;
  $("#count-charging").textContent = count("charging");
  $("#count-faulted").textContent = count("faulted");
  $("#count-offline").textContent = count("offline");
  $("#count-pending").textContent = count("pending");
}

function matches(charger, text) {
  if (!text) return true;
  return [charger.id, charger.label, charger.location, charger.vendor, charger.model]
    .some((value) => (value || "").toLowerCase().includes(text));
}

function visibleIds() {
  return [...rows].filter(([, entry]) => !entry.tr.hidden).map(([id]) => id);
}

function applyFilter() {
  const text = $("#filter-q").value.trim().toLowerCase();
  const choice = $("#filter-show").value;
  const show = FILTERS[choice] || FILTERS.all;
  let shown = 0;
  for (const [id, entry] of rows) {
    const charger = store.byId.get(id);
    const visible = Boolean(charger) && show(charger) && matches(charger, text);
    entry.tr.hidden = !visible;
    shown += visible ? 1 : 0;
  }
  $("#filter-count").textContent = `${shown} of ${rows.size} shown`;
  for (const tile of document.querySelectorAll(".tile")) {
    tile.setAttribute("aria-pressed", String(tile.dataset.show === choice));
  }
}

/** The filter in the URL, so that reload and Back keep it (and it can be bookmarked). */
function saveFilter() {
  const query = new URLSearchParams(location.search);
  const text = $("#filter-q").value.trim();
  const choice = $("#filter-show").value;
  if (text) query.set("q", text); else query.delete("q");
  if (choice !== "all") query.set("show", choice); else query.delete("show");
  const search = query.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

function loadFilter() {
  const query = new URLSearchParams(location.search);
  $("#filter-q").value = query.get("q") || "";
  const choice = query.get("show");
  if (choice && choice in FILTERS) $("#filter-show").value = choice;
}

function wireFilters() {
  loadFilter();
  $("#filters").addEventListener("input", () => { applyFilter(); saveFilter(); });
  $("#filters").addEventListener("submit", (event) => event.preventDefault());
  for (const tile of document.querySelectorAll(".tile")) {
    tile.addEventListener("click", () => {
      const choice = tile.getAttribute("aria-pressed") === "true" ? "all" : tile.dataset.show;
      $("#filter-show").value = choice;
      applyFilter();
      saveFilter();
    });
  }
}

function wireRegister() {
  const form = $("#register-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    const body = { id: values.id.trim(), label: values.label.trim(),
                   location: values.location.trim(),
                   registration_status: values.registration_status };
    if (values.password) body.password = values.password;
    busy(form.querySelector("button[type=submit]"), async () => {
      await post("/api/chargers/", body);
      notify(`${body.id} added; it appears as offline until it connects`);
      form.reset();
      store.refetch(body.id);
    }, form);
  });
}

function tickAges() {
  for (const el of document.querySelectorAll("#main [data-since]")) el.textContent = ago(el.dataset.since);
}

function onEvents(events) {
  checkAlerts(events, store.byId); // before they apply: a fault is news only once
  for (const event of events) if (event.type === "charger.boot") booted(event.charger_id);
  store.apply(events);
  // The panel shows each simulator's own state: news of one (not its meter values) redraws it.
  if (commissioning && events.some((e) => e.type.startsWith("charger.")
      || (e.type !== "meter" && commissioning.runs(e.charger_id)))) {
    commissioning.refreshSoon();
  }
}

async function main() {
  await startPage();
  wireFilters();
  showAttention = startAttention(store);
  checkAlerts = startAlerts();
  if (can("operator")) {
    commissioning = startCommissioning(store);
    startBulk(tbody, visibleIds);
  }
  if (can("admin")) wireRegister();
  onConnection(() => store.onChange(null)); // every row says whether it is live
  connectLive({ onSnapshot: (chargers) => store.load(chargers), onEvents });
  setInterval(tickAges, 5000);
  setInterval(() => { for (const id of store.byId.keys()) dirty.add(id); schedule(); }, RERANK_MS);
}

main().catch(showError);
