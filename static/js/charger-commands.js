// The commands panel of the charger page (operators): trigger message, availability,
// firmware update, diagnostics, clear cache, reset.

import { availability, command, reset } from "./actions.js";
import { get } from "./api.js";
import { $, busy, confirmed, h, notify, replace } from "./ui.js";

export function startCommands(chargerId, charger) {
  const enc = encodeURIComponent(chargerId);

  $("#trigger-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const body = { requested_message: form.requested_message.value };
    if (form.connector_id.value !== "") body.connector_id = Number(form.connector_id.value);
    command(chargerId, "trigger-message", body, `TriggerMessage ${body.requested_message}`,
            form.querySelector("button"));
  });

  $("#availability-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    availability(charger(), Number(form.connector_id.value), form.type.value,
                 form.querySelector("button"));
  });

  $("#firmware-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const choice = form.location.selectedOptions[0];
    if (!choice || !choice.value) return;
    if (!await confirmed(`Update the firmware of ${chargerId}`,
                         `The charger downloads ${choice.textContent} from this box and ` +
                         "installs it; it may reboot and stop running transactions.",
                         "Update firmware")) return;
    // HTTP or FTP, as the charger's SupportedFileTransferProtocols says (the box decides).
    const located = await busy(form.querySelector("button"), () => get(
      `/api/firmware/${encodeURIComponent(choice.value)}/location/${enc}/`));
    if (!located) return;
    command(chargerId, "update-firmware",
            { location: located.location, retrieve_date: new Date().toISOString() },
            "UpdateFirmware", form.querySelector("button"));
  });

  $("#get-diagnostics").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    const { location } = await get(`/api/diagnostics/location/${enc}/`);
    const answer = await command(chargerId, "get-diagnostics", { location }, "GetDiagnostics");
    if (answer) notify("The file appears under “Diagnostics files” once the charger uploaded it");
  }));

  $("#clear-cache").addEventListener("click", async (e) => {
    const button = e.currentTarget;
    if (await confirmed(`Clear the authorisation cache of ${chargerId}`,
                        "The charger forgets the ID tags it cached and asks the box again.",
                        "Clear cache")) {
      command(chargerId, "clear-cache", {}, "ClearCache", button);
    }
  });

  $("#reset-charger").addEventListener("click", (e) => reset(charger(), e.currentTarget));

  loadFirmware().catch(() => {});

  return {
    render() {},
    connectors(current) {
      const options = [h("option", { value: 0 }, "Whole charger"),
        ...current.connectors.filter((c) => c.connector_id > 0)
          .map((c) => h("option", { value: c.connector_id }, `Connector ${c.connector_id}`))];
      const select = $("#availability-connector");
      const chosen = select.value;
      replace(select, options);
      select.value = chosen || "0";
    },
  };
}

async function loadFirmware() {
  const { items } = await get("/api/firmware/");
  const select = $("#firmware-file");
  replace(select, items.length
    ? items.map((file) => h("option", { value: file.name }, file.name))
    : h("option", { value: "" }, "No firmware uploaded yet"));
  select.disabled = !items.length;
}
