// The REST API, called with this browser tab's bearer token.
//
// Tokens live in sessionStorage (gone when the tab closes, never in a cookie or a URL).
// The access token is refreshed through /api/auth/refresh/ a minute before it expires;
// a 401 from the API ends the session and sends the user back to the login page.

const KEY = "evedge.session";
const REFRESH_MARGIN_MS = 60_000;
const listeners = new Set();
let refreshing = null;
let timer = null;

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
    return JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    return null;
  }
}

export function saveSession(values) {
  const merged = { ...(session() || {}), ...values };
  sessionStorage.setItem(KEY, JSON.stringify(merged));
  scheduleRefresh();
  for (const listener of listeners) listener(merged);
  return merged;
}

/** Call `listener(session)` whenever the tokens change (the live socket re-authenticates). */
export function onTokens(listener) {
  listeners.add(listener);
}

export function toLogin() {
  sessionStorage.removeItem(KEY);
  if (location.pathname !== "/ui/") location.assign("/ui/");
}

function expiresAt(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).exp * 1000;
  } catch {
    return 0;
  }
}

function scheduleRefresh() {
  clearTimeout(timer);
  const current = session();
  if (!current || !current.access) return;
  const wait = Math.max(1_000, expiresAt(current.access) - Date.now() - REFRESH_MARGIN_MS);
  timer = setTimeout(() => refreshTokens().catch(toLogin), Math.min(wait, 2 ** 31 - 1));
}

/** New access and refresh tokens (one request at a time, however many callers). */
export function refreshTokens() {
  if (!refreshing) {
    refreshing = doRefresh().finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function doRefresh() {
  const current = session();
  if (!current || !current.refresh) throw new ApiError(401, { error: "not logged in" });
  const response = await fetch("/api/auth/refresh/", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh: current.refresh }),
  });
  const body = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, body);
  return saveSession({ access: body.access, refresh: body.refresh });
}

async function freshAccess() {
  const current = session();
  if (!current || !current.access) {
    toLogin();
    throw new ApiError(401, { error: "not logged in" });
  }
  if (expiresAt(current.access) - Date.now() < REFRESH_MARGIN_MS) {
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
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { error: "the box does not answer; check the network" });
  }
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
  const response = await fetch(path, {
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

/** Create the box's first admin with the setup code from the server's log, and log in. */
export function registerFirstAdmin(username, password, setupCode) {
  return startSession("/api/auth/register/", { username, password, setup_code: setupCode });
}

/** Whether the box still has no admin (GET /api/auth/setup/, no token needed). */
export async function setupRequired() {
  try {
    const response = await fetch("/api/auth/setup/");
    const body = await readBody(response);
    return Boolean(response.ok && body && body.setup_required);
  } catch {
    return false;
  }
}

/** End the login session on the box (both tokens stop working), then leave. */
export async function logout() {
  const current = session();
  clearTimeout(timer);
  if (current && current.access) {
    try {
      await fetch("/api/auth/logout/", {
        method: "POST",
        headers: { "Content-Type": "application/json",
                   Authorization: `Bearer ${current.access}` },
        body: JSON.stringify({ refresh: current.refresh }),
      });
    } catch {
      // Offline: the tokens still expire on their own.
    }
  }
  toLogin();
}

scheduleRefresh();
