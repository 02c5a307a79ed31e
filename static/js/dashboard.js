// The dashboard: every charger, live. The snapshot from /ws/dashboard fills the table;
// events update it in place. Filters, counts and the commissioning panel.

import { startCommissioning } from "./commissioning.js";
import { isCharging, isFaulted, outlets, patchRow, renderRow, rowKey } from "./dashboard-rows.js";
import { ago } from "./format.js";
import { connectLive } from "./live.js";
import { can, startPage } from "./shell.js";
import { ChargerStore } from "./store.js";
import { $, h, replace, showError } from "./ui.js";

const tbody = $("#charger-rows");
const rows = new Map(); // charger id -> {tr, key}
const dirty = new Set();
let rebuildAll = false;
let frame = null;
let commissioning = null;

const store = new ChargerStore((ids) => {
  if (ids === null) rebuildAll = true;
  else for (const id of ids) dirty.add(id);
  if (frame === null) frame = requestAnimationFrame(render);
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

function render() {
  frame = null;
  const key = focusKey();
  if (rebuildAll || [...dirty].some((id) => !rows.has(id) || !store.byId.has(id))) {
    rows.clear();
    const list = store.list();
    replace(tbody, list.length ? list.map(build)
      : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No charger has connected yet.")));
  } else {
    for (const id of dirty) update(store.byId.get(id));
  }
  rebuildAll = false;
  dirty.clear();
  restoreFocus(key);
  showCounts();
  applyFilter();
}

function update(charger) {
  const entry = rows.get(charger.id);
  if (entry.key === rowKey(charger)) {
    patchRow(entry.tr, charger);
    return;
  }
  const old = entry.tr;
  old.replaceWith(build(charger));
}

function showCounts() {
  const all = store.list();
  const online = all.filter((c) => c.online).length;
  const charging = all.reduce((n, c) => n + outlets(c).filter((x) => x.status === "Charging").length, 0);
  $("#count-online").textContent = `${online} of ${all.length}`;
  $("#count-charging").textContent = charging;
  $("#count-faulted").textContent = all.filter(isFaulted).length;
  $("#count-pending").textContent = all.filter((c) => c.registration_status === "Pending").length;
}

const FILTERS = {
  all: () => true,
  online: (c) => c.online,
  offline: (c) => !c.online,
  charging: isCharging,
  faulted: isFaulted,
  pending: (c) => c.registration_status === "Pending",
};

function matches(charger, text) {
  if (!text) return true;
  return [charger.id, charger.label, charger.location, charger.vendor, charger.model]
    .some((value) => (value || "").toLowerCase().includes(text));
}

function applyFilter() {
  const text = $("#filter-q").value.trim().toLowerCase();
  const show = FILTERS[$("#filter-show").value] || FILTERS.all;
  let shown = 0;
  for (const [id, entry] of rows) {
    const charger = store.byId.get(id);
    const visible = Boolean(charger) && show(charger) && matches(charger, text);
    entry.tr.hidden = !visible;
    shown += visible ? 1 : 0;
  }
  $("#filter-count").textContent = `${shown} of ${rows.size} shown`;
}

function tickAges() {
  for (const el of tbody.querySelectorAll("[data-since]")) el.textContent = ago(el.dataset.since);
}

async function main() {
  await startPage();
  $("#filters").addEventListener("input", applyFilter);
  $("#filters").addEventListener("submit", (event) => event.preventDefault());
  if (can("operator")) commissioning = startCommissioning(store);
  connectLive({
    onSnapshot: (chargers) => store.load(chargers),
    onEvents: (events) => {
      store.apply(events);
      if (commissioning && events.some((e) => e.type.startsWith("charger."))) {
        commissioning.refreshSoon();
      }
    },
  });
  setInterval(tickAges, 5000);
}

main().catch(showError);
