// Bulk commands from the dashboard: tick chargers, then reset them or update their
// firmware, one command per charger (a few at a time), with each charger's answer shown
// as it arrives.

import { commandPath } from "./actions.js";
import { get, post } from "./api.js";
import { selection } from "./dashboard-rows.js";
import { $, ask, errorText, h, replace } from "./ui.js";

const AT_ONCE = 4;  // commands in flight together: the box sends each over its own socket
const GOOD = new Set(["Accepted", "Scheduled"]);

function updateBar() {
  const count = selection.size;
  $("#bulk-count").textContent = `${count} selected`;
  // The commands show once something is selected: no row of disabled buttons meanwhile.
  for (const id of ["#bulk-reset", "#bulk-firmware", "#bulk-clear"]) $(id).hidden = count === 0;
}

function progressRow(chargerId) {
  const answer = h("span", { class: "badge plain" }, "waiting");
  const row = h("tr", { dataset: { bulk: chargerId } },
    h("td", { dataset: { label: "Charger" } }, chargerId),
    h("td", { dataset: { label: "Answer" } }, answer));
  return { row, show: (text, kind) => { answer.textContent = text; answer.className = `badge ${kind}`; } };
}

async function runOne(chargerId, slug, body, line) {
  line.show("sending…", "info");
  try {
    const answer = await post(commandPath(chargerId, slug), body);
    // UpdateFirmware.conf carries no status (OCPP 1.6 §5.19): the answer itself is the yes.
    const status = (answer && answer.status) || "Accepted (no status in the answer)";
    const good = !(answer && answer.status) || GOOD.has(status);
    line.show(status, good ? "ok" : "bad");
    return good;
  } catch (error) {
    line.show(errorText(error), "bad");
    return false;
  }
}

/** Send `slug` with `body` to every charger in `ids`, AT_ONCE at a time; shows each answer. */
export async function runBulk(ids, slug, body, title) {
  const panel = $("#bulk-progress");
  panel.hidden = false;
  $("#bulk-title").textContent = title;
  const lines = new Map(ids.map((id) => [id, progressRow(id)]));
  replace($("#bulk-rows"), h("div", { class: "table-wrap" }, h("table", { class: "cards" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Charger"),
                     h("th", { scope: "col" }, "Answer"))),
    h("tbody", {}, [...lines.values()].map((line) => line.row)))));
  let done = 0;
  let good = 0;
  const summary = () => {
    $("#bulk-summary").textContent = `${done} of ${ids.length} answered, ${good} accepted`;
  };
  summary();
  const queue = [...ids];
  const worker = async () => {
    while (queue.length) {
      const id = queue.shift();
      if (await runOne(id, slug, body, lines.get(id))) good += 1;
      done += 1;
      summary();
    }
  };
  await Promise.all(Array.from({ length: Math.min(AT_ONCE, ids.length) }, worker));
  panel.scrollIntoView({ block: "nearest" });
}

async function firmwareChoice() {
  const { items } = await get("/api/firmware/");
  if (!items.length) return [];
  return items.map((file) => [file.url, file.name]);
}

/** Wire the selection checkboxes and the bulk bar. `shown()` lists the visible ids. */
export function startBulk(tbody, shown) {
  tbody.addEventListener("change", (event) => {
    const box = event.target.closest("input.select-row");
    if (!box) return;
    if (box.checked) selection.add(box.dataset.select);
    else selection.delete(box.dataset.select);
    updateBar();
  });
  $("#select-all").addEventListener("change", (event) => {
    for (const id of shown()) {
      if (event.target.checked) selection.add(id);
      else selection.delete(id);
    }
    for (const box of tbody.querySelectorAll("input.select-row")) {
      box.checked = selection.has(box.dataset.select);
    }
    updateBar();
  });
  $("#bulk-clear").addEventListener("click", () => {
    selection.clear();
    $("#select-all").checked = false;
    for (const box of tbody.querySelectorAll("input.select-row")) box.checked = false;
    updateBar();
  });
  $("#bulk-close").addEventListener("click", () => { $("#bulk-progress").hidden = true; });
  $("#bulk-reset").addEventListener("click", async () => {
    const ids = [...selection].sort();
    const values = await ask({
      title: `Reset ${ids.length} charger(s)`, danger: true, ok: "Reset all",
      text: `${ids.join(", ")}. Each reboots; running transactions are stopped.`,
      fields: [{ name: "type", label: "Reset type", options: [["Soft", "Soft"], ["Hard", "Hard"]] }],
    });
    if (values) await runBulk(ids, "reset", { type: values.type }, `${values.type} reset`);
  });
  $("#bulk-firmware").addEventListener("click", async () => {
    const ids = [...selection].sort();
    const files = await firmwareChoice().catch(() => []);
    if (!files.length) {
      await ask({ title: "No firmware on the box",
                  text: "Upload a firmware file on the Files page first." });
      return;
    }
    const values = await ask({
      title: `Update the firmware of ${ids.length} charger(s)`, danger: true, ok: "Update all",
      text: `${ids.join(", ")}. Each downloads the file from this box and installs it; it ` +
            "may reboot and stop running transactions.",
      fields: [{ name: "location", label: "Firmware file", options: files }],
    });
    if (!values) return;
    const name = files.find(([url]) => url === values.location)[1];
    await runBulk(ids, "update-firmware",
                  { location: values.location, retrieve_date: new Date().toISOString() },
                  `Firmware update to ${name}`);
  });
  updateBar();
}
