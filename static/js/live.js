// The live socket /ws/dashboard: authenticate with the first message (the token never
// goes into the URL), receive a snapshot, then batches of events. Reconnects with
// exponential backoff; re-authenticates whenever the tokens are refreshed.

import { onTokens, refreshTokens, session, toLogin } from "./api.js";
import { $ } from "./ui.js";

const UNAUTHORIZED = 4401;
const MAX_DELAY_MS = 30_000;

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
  document.body.dataset.live = live ? "on" : "off";
}

/**
 * connectLive({onSnapshot(chargers), onEvents(events)}): keeps one socket open for the
 * page's lifetime. Returns {close()}.
 */
export function connectLive(handlers) {
  let socket = null;
  let attempt = 0;
  let closed = false;

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function open() {
    const current = session();
    if (!current) return toLogin();
    socket = new WebSocket(socketUrl());
    socket.addEventListener("open", () => send({ type: "auth", token: session().access }));
    socket.addEventListener("message", (message) => receive(JSON.parse(message.data)));
    socket.addEventListener("close", (event) => closedWith(event.code));
  }

  function receive(data) {
    if (data.type === "snapshot") {
      attempt = 0;
      showState(true);
      handlers.onSnapshot(data.chargers);
    } else if (Array.isArray(data.events)) {
      handlers.onEvents(data.events);
    }
  }

  async function closedWith(code) {
    showState(false);
    if (closed) return;
    if (code === UNAUTHORIZED) {
      try {
        await refreshTokens(); // the tab slept past the token's expiry, most likely
      } catch {
        return toLogin();
      }
    }
    const ceiling = Math.min(MAX_DELAY_MS, 1000 * 2 ** attempt);
    attempt += 1;
    setTimeout(open, ceiling / 2 + Math.random() * ceiling / 2);
  }

  onTokens((current) => send({ type: "auth", token: current.access }));
  window.addEventListener("pagehide", () => { closed = true; if (socket) socket.close(1000); });
  open();
  return { close() { closed = true; if (socket) socket.close(1000); } };
}
