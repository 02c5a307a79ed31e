// The dashboard's commissioning panel: start and stop simulated chargers that connect to
// this box like real ones (POST /ui/run-simulator/ and /ui/stop-simulator/), and rehearse
// with them: each row has the controls of simulator-controls.js (plug in, swipe, fault,
// go offline), drawn from the simulator's own state (GET /api/simulators/).

import { get, post } from "./api.js";
import { onConnection } from "./connection.js";
import { kw, time } from "./format.js";
import { chargerControls, connectionBadges, connectorLines } from "./simulator-controls.js";
import { $, busy, h, notify, replace } from "./ui.js";

const enc = encodeURIComponent;
const COLUMNS = 6;

function numberOrNull(input, scale = 1) {
  return input.value === "" ? null : Number(input.value) * scale;
}

function suggestId(running, store) {
  const taken = new Set([...running.map((s) => s.charger_id), ...store.byId.keys()]);
  for (let n = 1; n < 1000; n += 1) {
    const id = `SIM-${String(n).padStart(3, "0")}`;
    if (!taken.has(id)) return id;
  }
  return "";
}

function simulatorRow(simulator, { stop, onState }) {
  const id = simulator.charger_id;
  return h("tr", { dataset: { simulator: id } },
    h("td", { dataset: { label: "Simulator" } },
      h("a", { class: "charger-id", href: `/ui/charger/${enc(id)}/` }, id)),
    h("td", { dataset: { label: "Connection" } }, connectionBadges(simulator)),
    h("td", { class: "rehearsal", dataset: { label: "Rehearse" } },
      connectorLines(simulator, onState)),
    h("td", { dataset: { label: "Set-up" } },
      `${simulator.connectors} connector(s), ${kw(simulator.power_w)}, ` +
      `meter values every ${simulator.meter_interval} s`),
    h("td", { dataset: { label: "Started" } }, time(simulator.started_at)),
    h("td", { dataset: { label: "Whole charger" } },
      chargerControls(simulator, onState),
      h("button", { type: "button", class: "small", "aria-label": `Stop simulator ${id}`,
                    onclick: (e) => stop(id, e.currentTarget) }, "Stop simulator")));
}

/** Wire the panel; returns {refresh(), refreshSoon()}. */
export function startCommissioning(store) {
  const form = $("#sim-form");
  const idInput = $("#sim-id");
  let timer = null;
  let suggested = "";
  let items = [];

  function render() {
    const handlers = { stop, onState: update };
    const focused = document.activeElement && document.activeElement.dataset.focus;
    replace($("#sim-rows"), items.length ? items.map((s) => simulatorRow(s, handlers))
      : h("tr", {}, h("td", { colspan: COLUMNS, class: "empty" }, "No simulated charger runs.")));
    const again = focused && $(`#sim-rows [data-focus="${CSS.escape(focused)}"]`);
    if (again) again.focus(); // a redraw while the technician is on a button keeps it
  }

  /** One simulator's new state, from the answer to an action. */
  function update(simulator) {
    items = items.map((s) => (s.charger_id === simulator.charger_id ? simulator : s));
    render();
  }

  async function refresh() {
    const data = await get("/api/simulators/");
    $("#sim-limit").textContent = data.limit;
    items = data.items;
    render();
    if (!idInput.value || idInput.value === suggested) {
      suggested = suggestId(data.items, store);
      idInput.value = suggested;
    }
  }

  function refreshSoon() {
    clearTimeout(timer);
    timer = setTimeout(() => refresh().catch(() => {}), 300);
  }

  async function stop(id, button) {
    await busy(button, async () => {
      await post("/ui/stop-simulator/", { charger_id: id });
      notify(`Simulator ${id} stopped`);
      await refresh();
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {
      charger_id: idInput.value.trim(),
      connectors: numberOrNull($("#sim-connectors")),
      power_w: numberOrNull($("#sim-power"), 1000),
      meter_interval: numberOrNull($("#sim-interval")),
    };
    busy($("#sim-start"), async () => {
      await post("/ui/run-simulator/", body);
      notify(`Simulator ${body.charger_id} started; it appears in the list once connected`);
      idInput.value = "";
      await refresh();
    }, form);
  });

  onConnection(render); // the controls are disabled while the box cannot be reached
  refresh().catch(() => {});
  return { refresh, refreshSoon, runs: (id) => items.some((s) => s.charger_id === id) };
}
