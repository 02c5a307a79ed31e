// What needs a technician first, worked out from the chargers as the dashboard knows them:
// faulted connectors, offline chargers, sessions that look stuck, chargers waiting for an
// admin's approval. Pure functions of the data and a `now` (the box's clock), no DOM.

import { duration } from "./format.js";

export const STUCK_NO_METER_MS = 15 * 60_000;     // no MeterValues for this long in a session
export const STUCK_NOT_CHARGING_MS = 10 * 60_000; // a session whose connector is not Charging
export const SEVERITY = { faulted: 0, offline: 1, stuck: 2, pending: 3 };
export const NO_PROBLEM = 9;

const at = (iso) => (iso ? Date.parse(iso) : NaN);
const newest = (...times) => Math.max(...times.filter((t) => !Number.isNaN(t)), -Infinity);

function connectorName(id) {
  return id === 0 ? "the charger" : `connector ${id}`;
}

function faults(charger) {
  return charger.connectors.filter((c) => c.status === "Faulted").map((c) => ({
    kind: "faulted", charger_id: charger.id, connector_id: c.connector_id,
    since: c.status_at || c.updated_at || null,
    text: `${connectorName(c.connector_id)} Faulted: ${c.error_code || "no error code"}` +
          (c.info ? ` (${c.info})` : ""),
  }));
}

/** When a session last showed life: its newest meter sample, a live meter event, its start. */
export function lastSign(tx) {
  return newest(at(tx.last_meter_at), tx.live_meter_at ?? NaN, at(tx.start_received_at));
}

function stuck(charger, tx, now) {
  const connector = charger.connectors.find((c) => c.connector_id === tx.connector_id);
  const base = { kind: "stuck", charger_id: charger.id, connector_id: tx.connector_id,
                 transaction_id: tx.id };
  // The charger's own timestamp of the status when it sent one, else when it came in.
  const statusSince = connector ? at(connector.status_at || connector.updated_at) : NaN;
  if (connector && connector.status && connector.status !== "Charging"
      && now - statusSince > STUCK_NOT_CHARGING_MS) {
    return { ...base, since: new Date(statusSince).toISOString(),
             text: `transaction ${tx.id} runs but ${connectorName(tx.connector_id)} is ` +
                   `${connector.status} for ${duration(now - statusSince)}` };
  }
  const quiet = lastSign(tx);
  if (Number.isFinite(quiet) && now - quiet > STUCK_NO_METER_MS) {
    return { ...base, since: new Date(quiet).toISOString(),
             text: `transaction ${tx.id} on ${connectorName(tx.connector_id)}: no meter ` +
                   `value for ${duration(now - quiet)}` };
  }
  return null;
}

/** Whether the charger ever connected (a pre-registered one waiting to be installed has not). */
export function everConnected(charger) {
  return Boolean(charger.connected_at || charger.last_seen || charger.last_boot_at);
}

/** Every problem of one charger, most severe kinds first. */
export function problemsOf(charger, now) {
  const list = faults(charger);
  if (!charger.online && everConnected(charger)) {
    list.push({ kind: "offline", charger_id: charger.id, connector_id: null,
                since: charger.disconnected_at || charger.last_seen || null,
                text: "offline" });
  }
  if (charger.online) {
    for (const tx of charger.active_transactions || []) {
      const problem = stuck(charger, tx, now);
      if (problem) list.push(problem);
    }
  }
  if (charger.registration_status === "Pending") {
    list.push({ kind: "pending", charger_id: charger.id, connector_id: null, since: null,
                text: "waits for an admin's approval" });
  }
  return list.sort((a, b) => SEVERITY[a.kind] - SEVERITY[b.kind]);
}

/** Sort key of a charger: its most severe problem, NO_PROBLEM when it has none. */
export function rank(charger, now) {
  const problems = problemsOf(charger, now);
  return problems.length ? SEVERITY[problems[0].kind] : NO_PROBLEM;
}

/** Problem chargers first (most severe first), then the rest, each by id. */
export function byAttention(chargers, now) {
  const ranks = new Map(chargers.map((c) => [c.id, rank(c, now)]));
  return [...chargers].sort((a, b) => (ranks.get(a.id) - ranks.get(b.id))
    || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
