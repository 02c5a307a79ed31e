// The login page: exchange username and password for tokens, then open the page that was
// asked for (?next=, a bookmark or a charger's QR code) or the dashboard. On an empty box
// it offers to create the first admin with the setup code the server printed.

import { login, registerFirstAdmin, session } from "./api.js";
import { serves } from "./capabilities.js";
import { afterLogin, safeNext } from "./nav.js";
import { $ } from "./ui.js";

function fail(form, problem, message, field, fallback) {
  problem.textContent = message;
  problem.hidden = false;
  for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
  const input = (field && form.querySelector(`[name="${CSS.escape(field)}"]`)) || fallback;
  input.setAttribute("aria-invalid", "true");
  input.focus();
}

function missing(form) {
  return [...form.querySelectorAll("input[required]")].find((input) => !input.value.trim());
}

function wire(form, problem, submit, explain) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const empty = missing(form);
    if (empty) {
      fail(form, problem, "Fill in every field.", empty.name, empty);
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await submit(new FormData(form));
      location.assign(afterLogin());
    } catch (error) {
      fail(form, problem, explain(error), error.field, form.querySelector("input[type=password]"));
    } finally {
      button.disabled = false;
    }
  });
}

wire($("#login-form"), $("#login-error"),
     (data) => login(data.get("username").trim(), data.get("password")),
     (error) => (error.status === 401 ? "Wrong user name or password." : error.message));

function showSetup() {
  $("#login-panel").replaceWith($("#setup-template").content.cloneNode(true));
  wire($("#setup-form"), $("#setup-error"),
       (data) => registerFirstAdmin(data.get("username").trim(), data.get("password"),
                                    data.get("setup_code").trim()),
       (error) => (error.status === 403 ? `The setup code is not right: ${error.message}`
                                        : error.message));
  $("#setup-username").focus();
}

/** An empty box (GET /api/auth/setup/, where the box has it): the first-admin form instead. */
async function offerSetup() {
  if (!await serves("get", "/api/auth/setup/")) return;
  const response = await fetch("/api/auth/setup/"); // no login on an empty box
  if (response.ok && (await response.json()).setup_required) showSetup();
}

const next = safeNext(new URLSearchParams(location.search).get("next"));
if (next) {
  $("#login-next").textContent = `After logging in you go back to ${next}.`;
  $("#login-next").hidden = false;
}
if (session() && session().access) location.replace(afterLogin());
else offerSetup().catch(() => {}); // the login form stays
