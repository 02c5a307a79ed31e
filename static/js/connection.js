// Whether what the page shows is live. The live socket must be open and the box must
// answer: a tablet that lost the site Wi-Fi must not keep showing "Online" and
// "Charging 11 kW" with Stop enabled. When either fails the page says so in a banner,
// greys the values (evedge.css: body[data-live="lost"]) and disables commands
// (pages re-render their rows through onConnection), until the socket is back.

import { onNetwork } from "./api.js";
import { $, h, replace } from "./ui.js";

const HEALTH_EVERY_MS = 10_000;  // a half-open network closes no socket: ask the box
const HEALTH_LOST_MS = 3_000;    // while lost: notice soon that the box is back
const HEALTH_TIMEOUT_MS = 5_000;
const GRACE_MS = 5_000;          // a page just opened is "connecting", not "lost", this long

const listeners = new Set();
const backListeners = new Set();
let usesSocket = false;
let socketUp = false;
let boxUp = true;
let graceOver = false;
let state = "connecting";
let lostAt = null;

/** "connecting" (page just opened), "live" or "lost". */
export function connectionState() {
  return state;
}

export function isLive() {
  return state === "live" || (!usesSocket && state !== "lost");
}

/** When the connection was lost (a Date), or null while live. */
export function lostSince() {
  return lostAt;
}

/** Call `listener(state)` whenever the state changes. */
export function onConnection(listener) {
  listeners.add(listener);
}

function decide() {
  if (usesSocket) {
    if (socketUp && boxUp) return "live";
    return graceOver || lostAt ? "lost" : "connecting";
  }
  return boxUp ? "live" : "lost";
}

function update() {
  const next = decide();
  if (next === state) return;
  state = next;
  lostAt = state === "lost" ? (lostAt || new Date()) : null;
  document.body.dataset.live = state;
  showBanner();
  for (const listener of listeners) listener(state);
}

function showBanner() {
  const banner = $("#connection-lost");
  if (!banner) return;
  banner.hidden = state !== "lost";
  if (state !== "lost") return;
  replace(banner,
    h("strong", {}, `No connection to the box since ${lostAt.toLocaleTimeString()}.`), " ",
    usesSocket ? "What you see is the last known state, not live; commands are disabled " +
                 "until the connection is back. Reconnecting…"
               : "The box does not answer; check the network.");
}

/** The live socket opened and sent its snapshot (true), or closed (false). */
export function socketState(up) {
  socketUp = up;
  if (up) boxUp = true;
  update();
}

/** Call `listener()` when the box answers again while the socket is down (reconnect now). */
export function onBoxBack(listener) {
  backListeners.add(listener);
}

function boxAnswered(yes) {
  if (yes && !socketUp && usesSocket) for (const listener of backListeners) listener();
  if (boxUp === yes) return;
  boxUp = yes;
  update();
}

async function checkHealth() {
  try {
    await fetch("/healthz", { cache: "no-store", signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    boxAnswered(true);
  } catch {
    boxAnswered(false);
  }
}

function healthLoop() {
  checkHealth().finally(() => {
    setTimeout(healthLoop, state === "lost" ? HEALTH_LOST_MS : HEALTH_EVERY_MS);
  });
}

/** A page with a live socket: watch the box as well, and start with "connecting". */
export function watchLive() {
  usesSocket = true;
  document.body.dataset.live = state;
  setTimeout(() => { graceOver = true; update(); }, GRACE_MS);
  setTimeout(healthLoop, HEALTH_EVERY_MS);
}

onNetwork(boxAnswered);
