// Approving a Pending charger. The box records Accepted at once, but the charger learns it
// only from the answer to its next BootNotification (OCPP 1.6 §4.2: a Pending charger
// boots again after the interval it was given; the box may also ask it to, with
// TriggerMessage). Until then it still refuses to charge, so the page says what it waits
// for, and stops saying so when the charger.boot event (a new last_boot_at) arrives.
// Remembered in localStorage, so that every tab of the box knows.

import { patch } from "./api.js";

const KEY = "evedge.approvals";
const FORGET_MS = 24 * 3600_000;

function read() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || {};
  } catch {
    return {};
  }
}

function write(approvals) {
  const now = Date.now();
  const kept = Object.fromEntries(Object.entries(approvals).filter(([, a]) => now - a.at < FORGET_MS));
  localStorage.setItem(KEY, JSON.stringify(kept));
}

/** Approve `charger` (PATCH registration_status Accepted) and wait for its boot. */
export async function approve(charger) {
  const detail = await patch(`/api/chargers/${encodeURIComponent(charger.id)}/`,
                             { registration_status: "Accepted" });
  write({ ...read(), [charger.id]: { boot: charger.last_boot_at || null, at: Date.now() } });
  return detail;
}

/** Whether `charger` was approved here and has not booted since. */
export function awaitingBoot(charger) {
  const approvals = read();
  const entry = approvals[charger.id];
  if (!entry) return false;
  if (charger.registration_status === "Accepted" && (charger.last_boot_at || null) === entry.boot) {
    return true;
  }
  delete approvals[charger.id];
  write(approvals);
  return false;
}

/** The charger booted (a charger.boot event): it knows its registration status now. */
export function booted(chargerId) {
  const approvals = read();
  if (!(chargerId in approvals)) return;
  delete approvals[chargerId];
  write(approvals);
}

export const WAITING_TEXT = "waiting for the charger's BootNotification";
