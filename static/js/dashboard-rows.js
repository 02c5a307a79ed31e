// One table row per charger on the dashboard. A row is rebuilt when its structure changes
// (online, statuses, transactions); live values (power, energy, last seen) are patched in
// place, so that a button keeps its focus while meter values stream in.

import { remoteStart, remoteStop, reset, unlock } from "./actions.js";
import { ago, kw, kwh, statusKind } from "./format.js";
import { can } from "./shell.js";
import { h } from "./ui.js";

const STARTABLE = new Set(["Available", "Preparing", "Reserved", "Finishing", undefined]);
const enc = encodeURIComponent;

export function outlets(charger) {
  return charger.connectors.filter((c) => c.connector_id > 0);
}

export function isCharging(charger) {
  return outlets(charger).some((c) => c.status === "Charging" || c.active_transaction);
}

export function isFaulted(charger) {
  return charger.connectors.some((c) => c.status === "Faulted");
}

/** What decides the row's layout; a change rebuilds the row. */
export function rowKey(charger) {
  return JSON.stringify([
    charger.online, charger.registration_status, charger.label, charger.location,
    charger.vendor, charger.model,
    charger.connectors.map((c) => [c.connector_id, c.status, c.error_code,
                                   c.active_transaction && c.active_transaction.id]),
    can("operator"),
  ]);
}

const badge = (text, kind) => h("span", { class: `badge ${kind}` }, text);

function live(name, text) {
  return h("span", { class: "live", dataset: { live: name } }, text);
}

function stateCell(charger) {
  const whole = charger.connectors.find((c) => c.connector_id === 0);
  return h("td", { dataset: { label: "State" } },
    charger.online ? badge("Online", "ok") : badge("Offline", "off"), " ",
    charger.registration_status !== "Accepted"
      ? badge(charger.registration_status, statusKind(charger.registration_status)) : "",
    whole && whole.status !== "Available"
      ? h("div", {}, "Charger: ", badge(whole.status, statusKind(whole.status))) : "");
}

function connectorActions(charger, connector) {
  if (!can("operator")) return "";
  const usable = charger.online && charger.registration_status === "Accepted";
  const reason = usable ? null : "The charger is offline or not accepted";
  const tx = connector.active_transaction;
  const id = connector.connector_id;
  const name = (what) => `${what}: ${charger.id} connector ${id}`;
  const buttons = [];
  if (tx) {
    buttons.push(h("button", { type: "button", class: "small danger", disabled: !usable,
                               title: reason, "aria-label": name("Stop charging"),
                               dataset: { focus: `${charger.id}/stop/${id}` },
                               onclick: (e) => remoteStop(charger, tx, e.currentTarget) },
                   "Stop"));
  } else if (STARTABLE.has(connector.status)) {
    buttons.push(h("button", { type: "button", class: "small primary", disabled: !usable,
                               title: reason, "aria-label": name("Start charging"),
                               dataset: { focus: `${charger.id}/start/${id}` },
                               onclick: (e) => remoteStart(charger, id, e.currentTarget) },
                   "Start"));
  }
  buttons.push(h("button", { type: "button", class: "small", disabled: !usable, title: reason,
                             "aria-label": name("Unlock"),
                             dataset: { focus: `${charger.id}/unlock/${id}` },
                             onclick: (e) => unlock(charger, id, e.currentTarget) }, "Unlock"));
  return h("span", { class: "actions" }, buttons);
}

function connectorLine(charger, connector) {
  const tx = connector.active_transaction;
  const status = connector.status || "Unknown";
  return h("div", { class: "connector", dataset: { connector: connector.connector_id } },
    h("span", {}, `#${connector.connector_id}`),
    badge(status, statusKind(status)),
    connector.error_code && connector.error_code !== "NoError"
      ? h("span", { class: "error-text" }, connector.error_code) : "",
    tx ? [live("power", kw(tx.power_w)), live("energy", kwh(tx.energy_wh)),
          h("span", { class: "muted small" }, `tag ${tx.id_tag}`)] : "",
    connectorActions(charger, connector));
}

function connectorsCell(charger) {
  const list = outlets(charger);
  return h("td", { dataset: { label: "Connectors" } },
    list.length ? list.map((c) => connectorLine(charger, c))
                : h("span", { class: "muted" }, "no status reported yet"));
}

function chargerCell(charger) {
  const where = [charger.label, charger.location].filter(Boolean).join(" · ");
  const model = [charger.vendor, charger.model].filter(Boolean).join(" ");
  return h("td", { dataset: { label: "Charger" } },
    h("a", { class: "charger-id", href: `/ui/charger/${enc(charger.id)}/` }, charger.id),
    where ? h("div", { class: "small" }, where) : "",
    model ? h("div", { class: "muted small" }, model) : "");
}

function actionsCell(charger) {
  if (!can("operator")) return "";
  const usable = charger.online && charger.registration_status === "Accepted";
  return h("td", { dataset: { label: "Actions" } },
    h("button", { type: "button", class: "small danger", disabled: !usable,
                  "aria-label": `Reset ${charger.id}`, dataset: { focus: `${charger.id}/reset` },
                  onclick: (e) => reset(charger, e.currentTarget) }, "Reset…"));
}

export function renderRow(charger) {
  const seen = h("td", { dataset: { label: "Last seen" } },
                 h("span", { dataset: { since: charger.last_seen || "" } }, ago(charger.last_seen)));
  return h("tr", { dataset: { id: charger.id } },
    chargerCell(charger), stateCell(charger), connectorsCell(charger), seen,
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
