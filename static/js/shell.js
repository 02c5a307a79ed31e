// What every logged-in page does first: the session guard, who is logged in, log out,
// and the role-aware parts of the page (the API enforces roles anyway).

import { get, logout, saveSession, session, toLogin } from "./api.js";
import "./connection.js"; // the connection-lost banner, on every page
import { $ } from "./ui.js";

const RANK = { viewer: 0, operator: 1, admin: 2 };
let role = "viewer";

/** Whether the logged-in user has `needed` or a higher role. */
export function can(needed) {
  return (RANK[role] ?? -1) >= RANK[needed];
}

function applyRole(user) {
  role = user.role;
  document.body.dataset.role = role;
  $("#whoami").textContent = `${user.username} (${role})`;
  for (const el of document.querySelectorAll("[data-needs]")) {
    el.hidden = !can(el.dataset.needs);
  }
}

/** Start a logged-in page; resolves with {username, role} (checked with the box). */
export async function startPage() {
  const current = session();
  if (!current || !current.access) {
    toLogin();
    return new Promise(() => {}); // never resolves: the page is leaving
  }
  $("#logout").addEventListener("click", () => logout());
  const page = document.body.dataset.page;
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === page) link.setAttribute("aria-current", "page");
  }
  applyRole(current);
  const me = await get("/api/auth/me/"); // the role may have changed since the login
  saveSession({ username: me.username, role: me.role });
  applyRole(me);
  return me;
}
