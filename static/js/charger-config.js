// Configuration keys of the charger page: read them with GetConfiguration, change the
// writable ones with ChangeConfiguration.

import { command } from "./actions.js";
import { can } from "./shell.js";
import { $, busy, h, notify, replace } from "./ui.js";
import { post } from "./api.js";

export function startConfig(chargerId, reload) {
  const button = $("#fetch-config");
  const path = `/api/chargers/${encodeURIComponent(chargerId)}/get-configuration/`;

  button.addEventListener("click", () => busy(button, async () => {
    const answer = await post(path, {});
    const unknown = (answer.unknown_key || []).length;
    notify(`Read ${(answer.configuration_key || []).length} configuration keys` +
           (unknown ? ` (${unknown} unknown)` : ""));
    await reload();
  }));

  async function save(key, input, saveButton) {
    const answer = await command(chargerId, "change-configuration",
                                 { key, value: input.value }, `ChangeConfiguration ${key}`,
                                 saveButton);
    if (answer) await reload();
  }

  function valueCell(key, entry) {
    const value = entry.value === null || entry.value === undefined ? "" : entry.value;
    if (entry.readonly !== false || !can("operator")) return h("code", {}, value || "–");
    const input = h("input", { value, "aria-label": `Value of ${key}`, name: key });
    const saveButton = h("button", { type: "submit", class: "small" }, "Save");
    return h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); save(key, input, saveButton); } },
             input, saveButton);
  }

  function access(entry) {
    const parts = [entry.readonly === true ? "read-only" : entry.readonly === false ? "writable"
                                                                                   : "unknown"];
    if (entry.reboot_required) parts.push(h("span", { class: "badge warn" }, "reboot required"));
    return parts;
  }

  function render(detail) {
    const keys = Object.keys(detail.configuration || {}).sort();
    replace($("#config-rows"), keys.length ? keys.map((key) => {
      const entry = detail.configuration[key];
      return h("tr", {},
        h("td", { dataset: { label: "Key" } }, h("code", {}, key)),
        h("td", { dataset: { label: "Value" } }, valueCell(key, entry)),
        h("td", { dataset: { label: "Access" } }, access(entry)));
    }) : h("tr", {}, h("td", { colspan: 3, class: "empty" },
                       can("operator") ? "Not read yet: use “Read from charger”."
                                       : "Not read from the charger yet.")));
  }

  return { render };
}
