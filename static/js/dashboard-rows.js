// One table row per charger on the dashboard. A row is rebuilt when its structure changes
// (online, statuses, transactions, the connection to the box); live values (power,
// energy, last seen) are patched in place, so that a button keeps its focus while meter
// values stream in. What is not live is never shown as if it were: an offline charger's
// connectors read "last known", and with the box unreachable every row does.

import { remoteStart, remoteStop, reset, unlock } from "./actions.js";
import { WAITING_TEXT, awaitingBoot } from "./approval.js";
import { rank } from "./attention.js";
import { serverNow } from "./clock.js";
import { isLive } from "./connection.js";
import { ago, kw, kwh, shortTime, statusKind } from "./format.js";
import { can } from "./shell.js";
import { h } from "./ui.js";

// Connector statuses a remote start makes sense in (OCPP 1.6 §4.9 StatusNotification): not
// Faulted or Unavailable, not already in a session. "Unknown": never reported yet.
const STARTABLE = new Set(["Available", "Preparing", "Reserved", "Finishing", "Unknown",
                           undefined, null]);
const enc = encodeURIComponent;
export const selection = new Set(); // charger ids ticked for a bulk command (bulk.js)

export function outlets(charger) {
  return charger.connectors.filter((c) => c.connector_id > 0);
}

export function isCharging(charger) {
  return outlets(charger).some((c) => c.status === "Charging" || c.active_transaction);
}

export function isFaulted(charger) {
  return charger.connectors.some((c) => c.status === "Faulted");
}

export const usable = (charger) => isLive() && charger.online
  && charger.registration_status === "Accepted";

function blocked(charger) {
  if (!isLive()) return "No connection to the box: the state shown may be out of date";
  if (!charger.online) return "The charger is offline";
  if (charger.registration_status !== "Accepted") {
    return `The charger is ${charger.registration_status}, not Accepted`;
  }
  return null;
}

/** Whether a remote start is offered on `connector` (never on a Faulted or Unavailable one). */
export function startable(charger, connector) {
  const whole = charger.connectors.find((c) => c.connector_id === 0);
  if (whole && (whole.status === "Faulted" || whole.status === "Unavailable")) return false;
  return !connector.active_transaction && STARTABLE.has(connector.status);
}

/** What decides the row's layout; a change rebuilds the row. */
export function rowKey(charger) {
  return JSON.stringify([
    charger.online, charger.registration_status, charger.label, charger.location,
    charger.vendor, charger.model, charger.disconnected_at,
    charger.connectors.map((c) => [c.connector_id, c.status, c.error_code, c.info,
                                   c.active_transaction && c.active_transaction.id]),
    can("operator"), isLive(), rank(charger, serverNow()), awaitingBoot(charger),
  ]);
}

const badge = (text, kind) => h("span", { class: `badge ${kind}` }, text);

function live(name, text) {
  return h("span", { class: "live", dataset: { live: name } }, text);
}

function lastKnown(charger) {
  return !isLive() || !charger.online;
}

function stateCell(charger) {
  const whole = charger.connectors.find((c) => c.connector_id === 0);
  const since = charger.disconnected_at || charger.last_seen;
  let online;
  if (!isLive()) {
    online = badge(`last known: ${charger.online ? "Online" : "Offline"}`, "stale");
  } else if (charger.online) {
    online = badge("Online", "ok");
  } else {
    online = [badge("Offline", "off"),
              h("span", { class: "small" }, since ? ` since ${shortTime(since)}` : " never connected")];
  }
  return h("td", { class: "cell-state", dataset: { label: "State" } },
    online, " ",
    charger.registration_status !== "Accepted"
      ? badge(charger.registration_status, statusKind(charger.registration_status)) : "",
    awaitingBoot(charger)
      ? h("div", { class: "small waiting" }, `Approved: ${WAITING_TEXT}`) : "",
    whole && whole.status !== "Available"
      ? h("div", {}, "Charger: ", badge(whole.status, statusKind(whole.status))) : "");
}

function button(charger, what, id, props, text) {
  const reason = blocked(charger);
  return h("button", { type: "button", disabled: Boolean(reason), title: reason,
                       "aria-label": `${what}: ${charger.id} connector ${id}`,
                       dataset: { focus: `${charger.id}/${what}/${id}` }, ...props }, text);
}

function connectorActions(charger, connector) {
  if (!can("operator")) return "";
  const tx = connector.active_transaction;
  const id = connector.connector_id;
  const buttons = [];
  if (tx) {
    buttons.push(button(charger, "Stop charging", id, { class: "small danger",
      onclick: (e) => remoteStop(charger, tx, e.currentTarget) }, "Stop"));
  } else if (startable(charger, connector)) {
    buttons.push(button(charger, "Start charging", id, { class: "small primary",
      onclick: (e) => remoteStart(charger, id, e.currentTarget) }, "Start"));
  }
  buttons.push(button(charger, "Unlock", id, { class: "small",
    onclick: (e) => unlock(charger, id, e.currentTarget) }, "Unlock"));
  return h("span", { class: "actions" }, buttons);
}

function connectorLine(charger, connector) {
  const tx = connector.active_transaction;
  const status = connector.status || "Unknown";
  const stale = lastKnown(charger);
  return h("div", { class: stale ? "connector stale" : "connector",
                    dataset: { connector: connector.connector_id } },
    h("span", {}, `#${connector.connector_id}`),
    stale ? h("span", { class: "small" }, "last known:") : "",
    badge(status, stale ? "stale" : statusKind(status)),
    connector.error_code && connector.error_code !== "NoError"
      ? h("span", { class: "error-text" }, connector.error_code) : "",
    tx ? [live("power", kw(tx.power_w)), live("energy", kwh(tx.energy_wh)),
          h("span", { class: "muted small" }, `tag ${tx.id_tag}`)] : "",
    stale && !charger.online && charger.disconnected_at
      ? h("span", { class: "small" }, `(as of ${shortTime(charger.disconnected_at)})`) : "",
    connectorActions(charger, connector));
}

function connectorsCell(charger) {
  const list = outlets(charger);
  return h("td", { class: "cell-connectors", dataset: { label: "Connectors" } },
    list.length ? list.map((c) => connectorLine(charger, c))
                : h("span", { class: "muted" }, "no status reported yet"));
}

function selectBox(charger) {
  if (!can("operator")) return "";
  return h("input", { type: "checkbox", class: "select-row", checked: selection.has(charger.id),
                      "aria-label": `Select ${charger.id} for a bulk command`,
                      dataset: { focus: `${charger.id}/select`, select: charger.id } });
}

function chargerCell(charger) {
  const where = [charger.label, charger.location].filter(Boolean).join(" · ");
  const model = [charger.vendor, charger.model].filter(Boolean).join(" ");
  return h("td", { class: "cell-charger", dataset: { label: "Charger" } },
    h("div", { class: "charger-head" }, selectBox(charger),
      h("a", { class: "charger-id", href: `/ui/charger/${enc(charger.id)}/` }, charger.id)),
    where ? h("div", { class: "small where" }, where) : "",
    model ? h("div", { class: "muted small" }, model) : "");
}

function actionsCell(charger) {
  if (!can("operator")) return "";
  const reason = blocked(charger);
  return h("td", { class: "cell-actions", dataset: { label: "Actions" } },
    h("button", { type: "button", class: "small danger", disabled: Boolean(reason), title: reason,
                  "aria-label": `Reset ${charger.id}`, dataset: { focus: `${charger.id}/reset` },
                  onclick: (e) => reset(charger, e.currentTarget) }, "Reset…"));
}

export function renderRow(charger) {
  const seen = h("td", { class: "cell-seen", dataset: { label: "Last seen" } },
                 h("span", { dataset: { since: charger.last_seen || "" } }, ago(charger.last_seen)));
  const problem = rank(charger, serverNow());
  return h("tr", { dataset: { id: charger.id }, class: problem < 9 ? "problem" : null },
    chargerCell(charger), connectorsCell(charger), stateCell(charger), seen,
    actionsCell(charger));
}

/** Update the live numbers of a row built for the same rowKey. */
export function patchRow(tr, charger) {
  for (const connector of outlets(charger)) {
    const line = tr.querySelector(`[data-connector="${connector.connector_id}"]`);
    const tx = connector.active_transaction;
    if (!line || !tx) continue;
    line.querySelector('[data-live="power"]').textContent = kw(tx.power_w);
    line.querySelector('[data-live="energy"]').textContent = kwh(tx.energy_wh);
  }
  const since = tr.querySelector("[data-since]");
  since.dataset.since = charger.last_seen || "";
  since.textContent = ago(charger.last_seen);
}
