// The dashboard's commissioning panel: start and stop simulated chargers that connect to
// this box like real ones (POST /ui/run-simulator/ and /ui/stop-simulator/).

import { get, post } from "./api.js";
import { kw, time } from "./format.js";
import { $, busy, h, notify, replace } from "./ui.js";

const enc = encodeURIComponent;

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

function simulatorRow(simulator, stop) {
  const id = simulator.charger_id;
  return h("tr", { dataset: { simulator: id } },
    h("td", { dataset: { label: "Simulator" } },
      h("a", { class: "charger-id", href: `/ui/charger/${enc(id)}/` }, id)),
    h("td", { dataset: { label: "Connection" } },
      h("span", { class: `badge ${simulator.connected ? "ok" : "warn"}` },
        simulator.connected ? "Connected" : "Connecting"), " ",
      simulator.registration_status
        ? h("span", { class: "muted small" }, simulator.registration_status) : ""),
    h("td", { dataset: { label: "Set-up" } },
      `${simulator.connectors} connector(s), ${kw(simulator.power_w)}, ` +
      `meter values every ${simulator.meter_interval} s`),
    h("td", { dataset: { label: "Started" } }, time(simulator.started_at)),
    h("td", { dataset: { label: "Action" } },
      h("button", { type: "button", class: "small", "aria-label": `Stop simulator ${id}`,
                    onclick: (e) => stop(id, e.currentTarget) }, "Stop simulator")));
}

/** Wire the panel; returns {refresh(), refreshSoon()}. */
export function startCommissioning(store) {
  const form = $("#sim-form");
  const idInput = $("#sim-id");
  let timer = null;
  let suggested = "";

  async function refresh() {
    const data = await get("/api/simulators/");
    $("#sim-limit").textContent = data.limit;
    replace($("#sim-rows"), data.items.length ? data.items.map((s) => simulatorRow(s, stop))
      : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No simulated charger runs.")));
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

  refresh().catch(() => {});
  return { refresh, refreshSoon };
}
