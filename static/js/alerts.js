// Opt-in alerts on the dashboard: a short sound, and a desktop notification where the
// browser allows one (the Notification API needs https or localhost), when a connector
// faults or a charger goes offline. Off until the technician turns it on; remembered in
// this browser.

import { shortTime } from "./format.js";
import { $ } from "./ui.js";

const KEY = "evedge.alerts";
let audio = null;

function on() {
  return localStorage.getItem(KEY) === "on";
}

function canNotify() {
  return "Notification" in window && Notification.permission === "granted";
}

function describe(last = null) {
  const parts = [];
  if (on()) {
    parts.push(canNotify() ? "Sound and desktop notifications are on."
      : "Sound is on; desktop notifications are not allowed by this browser" +
        (window.isSecureContext ? "." : " (they need https)."));
  }
  if (last) parts.push(`Last alert: ${last}`);
  $("#alerts-state").textContent = parts.join(" ");
}

function beep() {
  // The AudioContext was made during the click that turned alerts on (autoplay rules).
  if (!audio) return;
  audio.resume().catch(() => {});
  const tone = audio.createOscillator();
  const gain = audio.createGain();
  tone.frequency.value = 880;
  gain.gain.setValueAtTime(0.15, audio.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
  tone.connect(gain).connect(audio.destination);
  tone.start();
  tone.stop(audio.currentTime + 0.4);
}

function prepareSound() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!audio && Context) audio = new Context();
}

function alert(title, body) {
  beep();
  if (canNotify()) {
    try {
      const shown = new Notification(title, { body, tag: title });
      shown.onclick = () => window.focus();
    } catch {
      // Some browsers only notify from a service worker: the sound still played.
    }
  }
  describe(`${title} (${shortTime(new Date().toISOString())})`);
}

/** What in `events` deserves an alert, judged against the chargers before they apply. */
export function alertsIn(events, byId) {
  const found = [];
  for (const event of events) {
    const charger = byId.get(event.charger_id);
    if (!charger) continue;
    if (event.type === "connector.status" && event.status === "Faulted") {
      const before = charger.connectors.find((c) => c.connector_id === event.connector_id);
      if (!before || before.status !== "Faulted") {
        found.push([`${charger.id} connector ${event.connector_id} Faulted`,
                    event.error_code || "no error code"]);
      }
    } else if (event.type === "charger.disconnected" && charger.online) {
      found.push([`${charger.id} went offline`, "The charger's connection to the box closed."]);
    }
  }
  return found;
}

/** Wire the toggle; returns check(events, byId), to call before the store applies them. */
export function startAlerts() {
  const toggle = $("#alerts-toggle");
  toggle.checked = on();
  toggle.addEventListener("change", async () => {
    if (toggle.checked) {
      localStorage.setItem(KEY, "on");
      prepareSound();
      if ("Notification" in window && Notification.permission === "default") {
        await Notification.requestPermission().catch(() => "denied");
      }
    } else {
      localStorage.removeItem(KEY);
    }
    describe();
  });
  // Turned on in an earlier visit: sound needs a gesture on this page first.
  document.addEventListener("pointerdown", () => { if (on()) prepareSound(); }, { once: true });
  describe();
  return (events, byId) => {
    if (!on()) return;
    for (const [title, body] of alertsIn(events, byId)) alert(title, body);
  };
}
