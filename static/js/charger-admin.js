// Administration on the charger page (admins): approve or reject a Pending charger (and say
// what the approval waits for), label and location, set or remove its HTTP Basic password
// (OCPP 1.6 security profile 1), retire it.

import { del, patch } from "./api.js";
import { WAITING_TEXT, approve, awaitingBoot } from "./approval.js";
import { serves } from "./capabilities.js";
import { statusKind } from "./format.js";
import { $, busy, confirmed, h, notify, replace } from "./ui.js";

const enc = encodeURIComponent;

export function startAdmin(chargerId, reload, current) {
  const path = `/api/chargers/${enc(chargerId)}/`;
  const form = $("#password-form");
  const record = $("#record-form");
  let lastDetail = null;

  async function change(body, message, button, withForm = null) {
    await busy(button, async () => {
      await patch(path, body);
      notify(message);
      await reload();
    }, withForm);
  }

  $("#approve").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    await approve(current() || lastDetail);
    notify(`${chargerId} approved: ${WAITING_TEXT} (it is refused commands until then)`);
    await reload();
  }));

  $("#reject").addEventListener("click", async (e) => {
    const button = e.currentTarget;
    if (await confirmed(`Reject ${chargerId}`, "No commands are sent to a rejected charger, " +
                        "and its BootNotifications are answered Rejected.", "Reject")) {
      await change({ registration_status: "Rejected" }, `${chargerId} rejected`, button);
    }
  });

  record.addEventListener("submit", (e) => {
    e.preventDefault();
    change({ label: $("#record-label").value.trim(), location: $("#record-location").value.trim() },
           `Label and location of ${chargerId} saved`,
           record.querySelector("button[type=submit]"), record);
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

  // DELETE /api/chargers/<id>/: offered where the box serves it (200 {"deleted"}, 409
  // while the charger is connected).
  serves("delete", "/api/chargers/{charger_id}/").then((yes) => { $("#retire-row").hidden = !yes; });
  $("#retire").addEventListener("click", async (e) => {
    const button = e.currentTarget;
    if (!await confirmed(`Retire ${chargerId}`, "The charger, its connectors and its history " +
                         "are removed from the box. A charger that connects again with this " +
                         "id is admitted as a new one.", "Retire charger")) return;
    await busy(button, async () => {
      try {
        await del(path);
      } catch (error) {
        if (error.status === 409) {
          error.message = `${chargerId} is still connected: disconnect it (or let it go offline) ` +
                          `before retiring it. ${error.message}`;
        }
        throw error;
      }
      notify(`${chargerId} retired`);
      location.assign("/ui/dashboard");
    });
  });

  function render(detail) {
    lastDetail = detail;
    const status = detail.registration_status;
    replace($("#registration-state"), h("span", { class: `badge ${statusKind(status)}` }, status));
    $("#approval-wait").textContent = awaitingBoot(detail) ? `Approved: ${WAITING_TEXT}` : "";
    $("#approve").disabled = status === "Accepted";
    $("#reject").disabled = status === "Rejected";
    $("#remove-password").disabled = !detail.has_password;
    $("#password-state").textContent = detail.has_password
      ? "A password is set: the charger must send it." : "No password: the charger connects by id.";
    if (document.activeElement !== $("#record-label")) $("#record-label").value = detail.label || "";
    if (document.activeElement !== $("#record-location")) {
      $("#record-location").value = detail.location || "";
    }
  }

  return { render };
}
