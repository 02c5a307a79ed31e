// Which endpoints this box serves, from its own OpenAPI document: the dashboard offers
// what a newer box adds (the connection log, retiring chargers, the first-admin set-up)
// only when the box documents it, instead of probing with requests that answer 404.

const KEY = "evedge.api-paths";
const TTL_MS = 10 * 60_000;
let loading = null;

async function load() {
  try {
    const cached = JSON.parse(sessionStorage.getItem(KEY));
    if (cached && Date.now() - cached.at < TTL_MS) return cached.paths;
  } catch {
    // Not cached yet.
  }
  const response = await fetch("/api/openapi.json");
  if (!response.ok) return {};
  const document = await response.json();
  const paths = Object.fromEntries(Object.entries(document.paths || {})
    .map(([path, item]) => [path, Object.keys(item)]));
  sessionStorage.setItem(KEY, JSON.stringify({ at: Date.now(), paths }));
  return paths;
}

/** Whether the box serves `method` (get, post, delete, ...) on `path` as OpenAPI spells it. */
export async function serves(method, path) {
  if (!loading) loading = load().catch(() => ({}));
  const verbs = (await loading)[path] || [];
  return verbs.includes(method.toLowerCase());
}
