// The charger's timeline: status changes, boots, connects and disconnects, commands with
// their answers, sessions, quirk repairs and anomalies, merged newest first from the
// existing APIs (status-log, anomalies, command-log, transactions) and the connection log
// where the box serves it (GET /api/chargers/<id>/connection-log/; otherwise the latest
// boot, connect and disconnect of the charger record stand in for it).

import { get } from "./api.js";
import { serves } from "./capabilities.js";
import { kwh, time } from "./format.js";
import { can } from "./shell.js";
import { $, h, replace, showError } from "./ui.js";

const LIMIT = 100;
const SHOWN = 200;
const REFRESH_MS = 1500;
const KINDS = { status: "Status", connection: "Connection", command: "Commands",
                session: "Sessions", anomaly: "Anomalies and repairs" };
const enc = encodeURIComponent;

/** A command's request in one line: "type=Hard", "connector_id=1, id_tag=CARD-1". */
export function requestSummary(request) {
  if (request === null || request === undefined) return "";
  if (typeof request !== "object") return String(request);
  // The log keeps the OCPP payload with its unset optional fields as null: leave those out.
  const text = Object.entries(request).filter(([, value]) => value !== null).map(([key, value]) => `${key}=${
    typeof value === "object" && value !== null ? JSON.stringify(value) : value}`).join(", ");
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

function connectorName(id) {
  return id === 0 ? "Charger" : `Connector ${id}`;
}

const entry = (kind, at, text) => (at ? { kind, at, text } : null);

function statusEntries(log) {
  return log.items.map((e) => entry("status", e.received_at,
    `${connectorName(e.connector_id)}: ${e.status}` +
    (e.error_code && e.error_code !== "NoError" ? ` (${e.error_code})` : "") +
    (e.info ? ` · ${e.info}` : "")));
}

function anomalyEntries(log) {
  return log.items.map((a) => entry("anomaly", a.received_at, `${a.kind}: ${a.detail}`));
}

function commandEntries(log) {
  return log.items.map((c) => {
    const answer = (c.response && c.response.status) || c.outcome;
    const sent = requestSummary(c.request);
    return entry("command", c.sent_at,
      `${c.action}${sent ? ` (${sent})` : ""} by ${c.username} → ${answer || "no answer"}`);
  });
}

function sessionEntries(page) {
  return page.items.flatMap((t) => [
    entry("session", t.start_received_at, `Transaction ${t.id} started on connector ` +
          `${t.connector_id}, tag ${t.id_tag} (${t.auth_status})`),
    t.active ? null : entry("session", t.stop_received_at, `Transaction ${t.id} stopped` +
      `${t.stop_reason ? ` (${t.stop_reason}${t.stop_inferred ? ", inferred" : ""})` : ""}, ` +
      `${kwh(t.energy_wh)}`),
  ]);
}

const CONNECTION_WORDS = { boot: "Booted (BootNotification)", connected: "Connected",
                           disconnected: "Disconnected" };

function connectionEntries(log) {
  return log.items.map((c) => entry("connection", c.at,
    `${CONNECTION_WORDS[c.kind] || c.kind}${c.detail ? `: ${c.detail}` : ""}`));
}

function recordEntries(charger) {
  return [entry("connection", charger.last_boot_at, "Booted (latest BootNotification)"),
          entry("connection", charger.connected_at, "Connected (latest)"),
          entry("connection", charger.disconnected_at, "Disconnected (latest)")];
}

async function sources(chargerId) {
  const base = `/api/chargers/${enc(chargerId)}`;
  const hasLog = await serves("get", "/api/chargers/{charger_id}/connection-log/");
  const [status, anomalies, transactions, charger, connections, commands] = await Promise.all([
    get(`${base}/status-log/?limit=${LIMIT}`),
    get(`${base}/anomalies/?limit=${LIMIT}`),
    get(`/api/transactions/?charger=${enc(chargerId)}&limit=${LIMIT}`),
    hasLog ? null : get(`${base}/`),
    hasLog ? get(`${base}/connection-log/?limit=${LIMIT}`).catch((e) => {
      if (e.status === 404) return null; // not (yet) on this box: those rows stay out
      throw e;
    }) : null,
    can("operator") ? get(`/api/command-log/?charger=${enc(chargerId)}&limit=${LIMIT}`) : null,
  ]);
  return [
    ...statusEntries(status), ...anomalyEntries(anomalies), ...sessionEntries(transactions),
    ...(connections ? connectionEntries(connections) : charger ? recordEntries(charger) : []),
    ...(commands ? commandEntries(commands) : []),
  ].filter(Boolean);
}

function row(item) {
  return h("li", { dataset: { kind: item.kind } },
    h("time", { datetime: item.at }, time(item.at)),
    h("span", { class: "badge plain" }, KINDS[item.kind]),
    h("span", {}, item.text));
}

export function startTimeline(chargerId) {
  const hidden = new Set();
  let items = [];
  let timer = null;

  function render() {
    const shown = items.filter((item) => !hidden.has(item.kind)).slice(0, SHOWN);
    replace($("#timeline"), shown.length ? shown.map(row)
      : h("li", { class: "empty" }, "Nothing recorded yet."));
  }

  async function load() {
    items = (await sources(chargerId)).sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
    render();
  }

  replace($("#timeline-kinds"), h("legend", { class: "sr-only" }, "Show in the timeline"),
    Object.entries(KINDS).map(([kind, label]) => h("label", { class: "inline small" },
      h("input", { type: "checkbox", checked: true, name: `timeline-${kind}`,
                   onchange: (e) => {
                     if (e.target.checked) hidden.delete(kind);
                     else hidden.add(kind);
                     render();
                   } }),
      label)));
  load().catch(showError);
  return {
    refreshSoon() {
      clearTimeout(timer);
      timer = setTimeout(() => load().catch(showError), REFRESH_MS);
    },
  };
}
