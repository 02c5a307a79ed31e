// Where the login page may send the browser after logging in: only this box's own
// dashboard pages. A `next` that could leave the box (another host, a scheme, //host,
// a backslash that browsers read as a slash) is an open redirect and is refused.

export const HOME = "/ui/dashboard";
const LOGIN = "/ui/";
const MAX_LENGTH = 2000;

/** `value` as a same-origin path under /ui/ (not the login page), or null. */
export function safeNext(value) {
  if (typeof value !== "string" || value.length > MAX_LENGTH) return null;
  // A plain absolute path only: no control characters or blanks (URL parsing drops
  // some of them, "/\t/host" becomes "//host"), no backslashes.
  if (!value.startsWith("/ui/") || /[\\\u0000-\u0020\u007f-\u009f]/.test(value)) return null;
  let url;
  try {
    url = new URL(value, location.origin);
  } catch {
    return null;
  }
  // Dot segments ("/ui/../api/") are resolved by now: check what the browser would open.
  if (url.origin !== location.origin || !url.pathname.startsWith("/ui/")) return null;
  if (url.pathname === LOGIN) return null;
  return url.pathname + url.search + url.hash;
}

/** The login page, asked to come back to `here` (a path) afterwards when that is safe. */
export function loginUrl(here) {
  const next = safeNext(here);
  return next ? `${LOGIN}?next=${encodeURIComponent(next)}` : LOGIN;
}

/** Where to go after logging in: the page asked for in ?next=, else the dashboard. */
export function afterLogin(search = location.search) {
  return safeNext(new URLSearchParams(search).get("next")) || HOME;
}
