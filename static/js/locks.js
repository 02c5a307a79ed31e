// One tab at a time for work that must not run twice (rotating the refresh token: the box
// ends the whole login when a rotated-out refresh token comes back).
//
// The Web Locks API serialises the tabs of this origin where the browser offers it (secure
// contexts: https, or localhost). On the depot LAN the box is often plain http, where
// navigator.locks does not exist: then a lease in localStorage does the same, less
// strictly, and api.js re-reads the tokens inside the lock, so that a tab that lost a race
// uses the tokens the winner stored instead of rotating the same refresh token again.

const LEASE_MS = 15_000;     // longer than the work it guards (a refresh has a 10 s timeout)
const SETTLE_MS = 80;        // time for another tab's write to reach this one
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function randomId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes); // available without a secure context, unlike randomUUID
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function readLease(key) {
  try {
    return JSON.parse(localStorage.getItem(key)) || null;
  } catch {
    return null;
  }
}

async function acquireLease(key, owner) {
  for (;;) {
    const held = readLease(key);
    if (!held || held.until < Date.now()) {
      localStorage.setItem(key, JSON.stringify({ owner, until: Date.now() + LEASE_MS }));
      await sleep(SETTLE_MS); // two tabs wrote at once: the last write wins, the other waits
      if ((readLease(key) || {}).owner === owner) return;
    }
    await sleep(SETTLE_MS + Math.random() * 120);
  }
}

async function leased(name, work) {
  const key = `evedge.lock.${name}`;
  const owner = randomId();
  await acquireLease(key, owner);
  try {
    return await work();
  } finally {
    if ((readLease(key) || {}).owner === owner) localStorage.removeItem(key);
  }
}

/** Run `work()` while no other tab of this box runs work under the same `name`. */
export function withLock(name, work) {
  if (navigator.locks && typeof navigator.locks.request === "function") {
    return navigator.locks.request(`evedge.${name}`, () => work());
  }
  return leased(name, work);
}
