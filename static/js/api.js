// The REST API, called with the login's bearer token.
//
// The tokens live in localStorage (never in a cookie or a URL), so that every tab of the
// box shares one login: a charger page opened from a bookmark or a sticker's QR code in a
// new tab is logged in already. The access token is refreshed through /api/auth/refresh/ a
// minute before it expires. Rotation is coordinated across tabs (locks.js): the box ends
// the whole login when a rotated-out refresh token comes back, so two tabs must never both
// rotate the same one. Another tab's new tokens arrive through the storage event; a logout
// in one tab (the key removed) sends every tab to the login page. A 401 from the API ends
// the session and leads to the login page, which comes back here afterwards (?next=).

import { noteServerDate, serverNow } from "./clock.js";
import { withLock } from "./locks.js";
import { loginUrl } from "./nav.js";

const KEY = "evedge.session";
const REFRESH_MARGIN_MS = 60_000;
const RETRY_MS = 10_000;           // a refresh that failed on the network is tried again
const REFRESH_TIMEOUT_MS = 10_000;
// After a rotation the lock is held this long: localStorage reaches the other tabs'
// processes asynchronously, and the next tab in the lock must read the new tokens.
const PROPAGATE_MS = 300;
const tokenListeners = new Set();
const networkListeners = new Set();
let refreshing = null;
let timer = null;
let lastAccess = null;
let loggingOut = false; // this tab logs out: it goes to the plain login page itself

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `the box answered HTTP ${status}`);
    this.status = status;
    this.field = body && body.field;
    this.body = body;
  }
}

export function session() {
  try {
    return JSON.parse(localStorage.getItem(KEY));
  } catch {
    return null;
  }
}

function tokensChanged(current) {
  scheduleRefresh();
  if (!current || current.access === lastAccess) return;
  lastAccess = current.access;
  for (const listener of tokenListeners) listener(current);
}

export function saveSession(values) {
  const merged = { ...(session() || {}), ...values };
  localStorage.setItem(KEY, JSON.stringify(merged));
  tokensChanged(merged);
  return merged;
}

/** Call `listener(session)` whenever the access token changes (the live socket re-authenticates). */
export function onTokens(listener) {
  tokenListeners.add(listener);
}

/** Call `listener(reachable)` after each request: false when the box did not answer. */
export function onNetwork(listener) {
  networkListeners.add(listener);
}

function reachable(yes) {
  for (const listener of networkListeners) listener(yes);
}

function leave() {
  clearTimeout(timer);
  if (!loggingOut && location.pathname !== "/ui/") {
    location.assign(loginUrl(location.pathname + location.search + location.hash));
  }
}

/** End this browser's session (every tab) and go to the login page. */
export function toLogin() {
  localStorage.removeItem(KEY);
  leave();
}

// Another tab refreshed the tokens (adopt them) or logged out (follow it).
window.addEventListener("storage", (event) => {
  if (event.key !== KEY && event.key !== null) return; // null: the whole storage was cleared
  const current = session();
  if (!current || !current.access) leave();
  else tokensChanged(current);
});

function expiresAt(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).exp * 1000;
  } catch {
    return 0;
  }
}

function scheduleRefresh(delay = null) {
  clearTimeout(timer);
  const current = session();
  if (!current || !current.access) return;
  // The token's expiry is on the box's clock: a tablet whose clock is off still refreshes
  // in time (clock.js).
  const wait = delay ?? Math.max(1_000, expiresAt(current.access) - serverNow() - REFRESH_MARGIN_MS);
  timer = setTimeout(() => refreshTokens().catch(refreshFailed), Math.min(wait, 2 ** 31 - 1));
}

function refreshFailed(error) {
  if (error.status === 0) scheduleRefresh(RETRY_MS); // the box is unreachable: keep the login
  else toLogin();
}

/**
 * New access and refresh tokens, unless another tab got them meanwhile (one request per
 * tab at a time, one rotation per refresh token across the tabs). `stale` is an access
 * token the box refused: it is replaced even when it has not expired yet.
 */
export function refreshTokens(stale = null) {
  if (!refreshing) {
    refreshing = withLock("refresh", () => rotate(stale)).finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function rotate(stale) {
  const current = session(); // read inside the lock: the tab before us may have rotated
  if (!current || !current.refresh) throw new ApiError(401, { error: "not logged in" });
  const fresh = current.access !== stale
    && expiresAt(current.access) - serverNow() > REFRESH_MARGIN_MS;
  if (fresh) {
    tokensChanged(current);
    return current;
  }
  const response = await send("/api/auth/refresh/", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh: current.refresh }),
    signal: AbortSignal.timeout(REFRESH_TIMEOUT_MS),
  });
  const body = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, body);
  const saved = saveSession({ access: body.access, refresh: body.refresh });
  await new Promise((resolve) => { setTimeout(resolve, PROPAGATE_MS); });
  return saved;
}

async function freshAccess() {
  const current = session();
  if (!current || !current.access) {
    toLogin();
    throw new ApiError(401, { error: "not logged in" });
  }
  if (expiresAt(current.access) - serverNow() < REFRESH_MARGIN_MS) {
    return (await refreshTokens()).access;
  }
  return current.access;
}

async function readBody(response) {
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return { error: text.slice(0, 200) || response.statusText };
  }
}

/** fetch(), with "the box does not answer" as an ApiError of status 0. */
async function send(path, init) {
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    reachable(false);
    throw new ApiError(0, { error: "the box does not answer; check the network" });
  }
  reachable(true);
  noteServerDate(response.headers.get("Date"));
  return response;
}

/**
 * Call the API. `body` is sent as JSON; `options.raw` is sent as it is (with
 * `options.headers`), `options.blob` returns the answer as a Blob (downloads).
 * Throws ApiError with `status`, `message` and `field` for any non-2xx answer.
 */
export async function api(method, path, body, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${await freshAccess()}` };
  const init = { method, headers };
  if (options.raw !== undefined) {
    init.body = options.raw;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await send(path, init);
  if (response.status === 401) {
    toLogin();
    throw new ApiError(401, await readBody(response));
  }
  if (!response.ok) throw new ApiError(response.status, await readBody(response));
  if (options.blob) return response.blob();
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

async function startSession(path, credentials) {
  const response = await send(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(credentials),
  });
  const body = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, body);
  return saveSession({ access: body.access, refresh: body.refresh, username: body.username,
                       role: body.role });
}

/** Log in with username and password; keeps the tokens and the role. */
export function login(username, password) {
  return startSession("/api/auth/login/", { username, password });
}

/** Create the first admin of an empty box with the setup code it printed; logs in. */
export function registerFirstAdmin(username, password, setupCode) {
  return startSession("/api/auth/register/", { username, password, setup_code: setupCode });
}

/** End the login on the box (both tokens stop working) and in every tab, then leave. */
export async function logout() {
  const current = session();
  loggingOut = true;
  clearTimeout(timer);
  localStorage.removeItem(KEY); // the other tabs follow through the storage event
  if (current && current.access) {
    try {
      await fetch("/api/auth/logout/", {
        method: "POST",
        headers: { "Content-Type": "application/json",
                   Authorization: `Bearer ${current.access}` },
        body: JSON.stringify({ refresh: current.refresh }),
        signal: AbortSignal.timeout(REFRESH_TIMEOUT_MS),
      });
    } catch {
      // Offline: the tokens still expire on their own.
    }
  }
  location.assign("/ui/");
}

lastAccess = (session() || {}).access || null;
scheduleRefresh();
