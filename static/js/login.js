// The login page: exchange username and password for tokens, then open the dashboard.
// On a box without an admin it asks for the setup code too and creates the first admin.

import { login, registerFirstAdmin, session, setupRequired } from "./api.js";
import { $ } from "./ui.js";

const form = $("#login-form");
const problem = $("#login-error");
let settingUp = false;

async function offerSetup() {
  if (!(await setupRequired())) return;
  settingUp = true;
  $("#setup-fields").hidden = false;
  $("#setup-code").required = true;
  $("#password").autocomplete = "new-password";
  form.querySelector("button").textContent = "Create the admin";
}

function fail(message, field) {
  problem.textContent = message;
  problem.hidden = false;
  for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
  const input = field && form.querySelector(`[name="${field}"]`);
  (input || $("#password")).setAttribute("aria-invalid", "true");
  (input || $("#password")).focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = $("#username").value.trim();
  const password = $("#password").value;
  if (!username || !password) {
    fail("Enter your user name and password.", username ? "password" : "username");
    return;
  }
  const code = $("#setup-code").value.trim();
  if (settingUp && !code) {
    fail("Enter the setup code from the server's log.", "setup_code");
    return;
  }
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    await (settingUp ? registerFirstAdmin(username, password, code) : login(username, password));
    location.assign("/ui/dashboard");
  } catch (error) {
    fail(error.status === 401 ? "Wrong user name or password." : error.message, error.field);
  } finally {
    button.disabled = false;
  }
});

if (session() && session().access) location.replace("/ui/dashboard");
else offerSetup();
