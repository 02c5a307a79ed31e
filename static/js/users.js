// User accounts (admins): add, change role, disable/enable, set a new password.

import { get, patch, post } from "./api.js";
import { time } from "./format.js";
import { can, startPage } from "./shell.js";
import { $, ask, busy, h, notify, replace, showError, table } from "./ui.js";

const ROLES = ["viewer", "operator", "admin"];

async function change(user, body, message, button) {
  await busy(button, async () => {
    await patch(`/api/users/${user.id}/`, body);
    notify(message);
    await load();
  });
}

function roleCell(user) {
  const select = h("select", { "aria-label": `Role of ${user.username}` },
                   ROLES.map((role) => h("option", { value: role, selected: role === user.role }, role)));
  const save = h("button", { type: "button", class: "small",
                             onclick: (e) => change(user, { role: select.value },
                               `${user.username} is now ${select.value}`, e.currentTarget) }, "Save");
  return h("span", { class: "actions" }, select, save);
}

async function newPassword(user, button) {
  const values = await ask({
    title: `New password for ${user.username}`,
    fields: [{ name: "password", label: "Password (8 characters or more)", type: "password",
               required: true }],
    ok: "Set password",
  });
  if (values) await change(user, { password: values.password }, `Password of ${user.username} set`, button);
}

function actions(user) {
  return h("span", { class: "actions" },
    h("button", { type: "button", class: user.is_active ? "small danger" : "small",
                  onclick: (e) => change(user, { is_active: !user.is_active },
                    `${user.username} ${user.is_active ? "disabled" : "enabled"}`, e.currentTarget) },
      user.is_active ? "Disable" : "Enable"),
    h("button", { type: "button", class: "small",
                  onclick: (e) => newPassword(user, e.currentTarget) }, "New password…"));
}

async function load() {
  const { items } = await get("/api/users/");
  replace($("#user-table"), table([
    { label: "User", value: (u) => u.username },
    { label: "Role", value: roleCell },
    { label: "State", value: (u) => h("span", { class: `badge ${u.is_active ? "ok" : "off"}` },
                                      u.is_active ? "active" : "disabled") },
    { label: "Created", value: (u) => time(u.created_at) },
    { label: "Last login", value: (u) => time(u.last_login_at) },
    { label: "Actions", value: actions },
  ], items, { caption: "Users" }));
}

async function main() {
  await startPage();
  if (!can("admin")) {
    $("#users-forbidden").hidden = false;
    return;
  }
  $("#user-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    busy(form.querySelector("button"), async () => {
      const user = await post("/api/users/", Object.fromEntries(new FormData(form).entries()));
      notify(`${user.username} added as ${user.role}`);
      form.reset();
      await load();
    }, form);
  });
  await load();
}

main().catch(showError);
