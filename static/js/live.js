// The live socket /ws/dashboard: authenticate with the first message (the token never
// goes into the URL), receive a snapshot, then batches of events. Reconnects with
// exponential backoff; re-authenticates whenever the tokens change (also in another tab).

import { onTokens, refreshTokens, session, toLogin } from "./api.js";
import { onBoxBack, socketState, watchLive } from "./connection.js";
import { $ } from "./ui.js";

const UNAUTHORIZED = 4401;
const MAX_DELAY_MS = 30_000;
const eventListeners = new Set();

function socketUrl() {
  // Same scheme family as the page: wss:// behind TLS, ws:// otherwise.
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/dashboard`;
}

function showState(live) {
  const badge = $("#live-state");
  if (!badge) return;
  badge.hidden = false;
  badge.textContent = live ? "Live" : "Live: reconnecting";
  badge.className = `badge ${live ? "ok" : "warn"} live-state`;
}

/** Call `listener(events)` for every batch of live events (follow-ups, alerts). */
export function onLiveEvents(listener) {
  eventListeners.add(listener);
  return () => eventListeners.delete(listener);
}

/**
 * connectLive({onSnapshot(chargers), onEvents(events)}): keeps one socket open for the
 * page's lifetime. Returns {close()}.
 */
export function connectLive(handlers) {
  let socket = null;
  let attempt = 0;
  let closed = false;
  let token = null; // the access token this socket authenticated with
  let retry = null;  // the timer of the next reconnection attempt

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function open() {
    retry = null;
    const current = session();
    if (!current) return toLogin();
    socket = new WebSocket(socketUrl());
    socket.addEventListener("open", () => {
      token = session() ? session().access : null;
      send({ type: "auth", token });
    });
    socket.addEventListener("message", (message) => receive(JSON.parse(message.data)));
    socket.addEventListener("close", (event) => closedWith(event.code));
    return undefined;
  }

  function receive(data) {
    if (data.type === "snapshot") {
      attempt = 0;
      showState(true);
      socketState(true);
      handlers.onSnapshot(data.chargers);
    } else if (Array.isArray(data.events)) {
      handlers.onEvents(data.events);
      for (const listener of eventListeners) listener(data.events);
    }
  }

  async function closedWith(code) {
    showState(false);
    socketState(false);
    if (closed) return undefined;
    if (code === UNAUTHORIZED) {
      try {
        await refreshTokens(token); // the tab slept past the token's expiry, most likely
      } catch (error) {
        if (error.status !== 0) return toLogin();
      }
    }
    const ceiling = Math.min(MAX_DELAY_MS, 1000 * 2 ** attempt);
    attempt += 1;
    retry = setTimeout(open, ceiling / 2 + Math.random() * ceiling / 2);
    return undefined;
  }

  function reconnectNow() {
    // The box answers HTTP again: no need to sit out the rest of the backoff.
    if (closed || retry === null || (socket && socket.readyState !== WebSocket.CLOSED)) return;
    clearTimeout(retry);
    retry = null;
    open();
  }

  watchLive();
  onBoxBack(reconnectNow);
  onTokens((current) => { token = current.access; send({ type: "auth", token }); });
  window.addEventListener("pagehide", () => { closed = true; if (socket) socket.close(1000); });
  open();
  return { close() { closed = true; if (socket) socket.close(1000); } };
}
