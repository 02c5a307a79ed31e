// Administration on the charger page (admins): approve or reject a Pending charger, set or
// remove its HTTP Basic password (OCPP 1.6 security profile 1).

import { patch } from "./api.js";
import { statusKind } from "./format.js";
import { $, busy, confirmed, h, notify, replace } from "./ui.js";

export function startAdmin(chargerId, reload) {
  const path = `/api/chargers/${encodeURIComponent(chargerId)}/`;
  const form = $("#password-form");

  async function change(body, message, button, withForm = null) {
    await busy(button, async () => {
      await patch(path, body);
      notify(message);
      await reload();
    }, withForm);
  }

  $("#approve").addEventListener("click", (e) => change(
    { registration_status: "Accepted" },
    `${chargerId} approved; it is Accepted at its next BootNotification`, e.currentTarget));

  $("#reject").addEventListener("click", async (e) => {
    const button = e.currentTarget;
    if (await confirmed(`Reject ${chargerId}`, "No commands are sent to a rejected charger, " +
                        "and its BootNotifications are answered Rejected.", "Reject")) {
      await change({ registration_status: "Rejected" }, `${chargerId} rejected`, button);
    }
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("#charger-password");
    change({ password: input.value }, `Password of ${chargerId} set`,
           form.querySelector("button[type=submit]"), form).then(() => { input.value = ""; });
  });

  $("#remove-password").addEventListener("click", async (e) => {
    const button = e.currentTarget;
    if (await confirmed(`Remove the password of ${chargerId}`,
                        "The charger can then connect without HTTP Basic authentication.",
                        "Remove password")) {
      await change({ password: null }, `Password of ${chargerId} removed`, button);
    }
  });

  function render(detail) {
    const status = detail.registration_status;
    replace($("#registration-state"), h("span", { class: `badge ${statusKind(status)}` }, status));
    $("#approve").disabled = status === "Accepted";
    $("#reject").disabled = status === "Rejected";
    $("#remove-password").disabled = !detail.has_password;
    $("#password-state").textContent = detail.has_password
      ? "A password is set: the charger must send it." : "No password: the charger connects by id.";
  }

  return { render };
}
