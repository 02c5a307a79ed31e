// The "Needs attention" strip at the top of the dashboard: every problem attention.js
// finds, most severe first, each with where it is, since when, and for a charger waiting
// for approval an inline Approve (admins).

import { approve } from "./approval.js";
import { SEVERITY, problemsOf } from "./attention.js";
import { serverNow } from "./clock.js";
import { isLive } from "./connection.js";
import { ago } from "./format.js";
import { can } from "./shell.js";
import { $, busy, h, notify, replace } from "./ui.js";

const SHOWN = 8; // more than this: "Show all N"
const LABELS = { faulted: ["Faulted", "bad"], offline: ["Offline", "off"],
                 stuck: ["Stuck?", "warn"], pending: ["Pending", "warn"] };
const enc = encodeURIComponent;

function approveButton(charger, store) {
  if (!can("admin")) return "";
  return h("button", { type: "button", class: "small primary", disabled: !isLive(),
                       "aria-label": `Approve ${charger.id}`,
                       onclick: (e) => busy(e.currentTarget, async () => {
                         await approve(charger);
                         notify(`${charger.id} approved; waiting for the charger's BootNotification`);
                         store.refetch(charger.id);
                       }) }, "Approve");
}

function item(problem, charger, store) {
  const [label, kind] = LABELS[problem.kind];
  return h("li", { class: `attention-item ${problem.kind}`, dataset: { kind: problem.kind,
                                                                     charger: charger.id } },
    h("span", { class: `badge ${kind}` }, label),
    h("a", { class: "charger-id", href: `/ui/charger/${enc(charger.id)}/` }, charger.id),
    h("span", {}, problem.text),
    problem.since ? h("span", { class: "muted small", dataset: { since: problem.since } },
                      ago(problem.since)) : "",
    problem.kind === "pending" ? approveButton(charger, store) : "");
}

/** Render the strip from the store; `expanded` shows every problem. Rebuilt only when a
 *  problem changed, so that an Approve button keeps its focus while meter values stream. */
export function renderAttention(store, state) {
  const now = serverNow();
  const problems = [];
  for (const charger of store.byId.values()) {
    for (const problem of problemsOf(charger, now)) problems.push([problem, charger]);
  }
  problems.sort(([a], [b]) => (SEVERITY[a.kind] - SEVERITY[b.kind])
    || (a.charger_id < b.charger_id ? -1 : a.charger_id > b.charger_id ? 1 : 0));
  const shown = state.expanded ? problems : problems.slice(0, SHOWN);
  const key = JSON.stringify([problems.length, state.expanded, isLive(), shown.map(([p]) =>
    [p.kind, p.charger_id, p.connector_id, p.text, p.since])]);
  if (key === state.key) return;
  state.key = key;
  replace($("#attention-list"), shown.map(([problem, charger]) => item(problem, charger, store)));
  $("#attention-count").textContent = String(problems.length);
  $("#attention-count").className = `badge ${problems.length ? "bad" : "plain"}`;
  $("#attention-empty").hidden = problems.length > 0;
  const more = $("#attention-more");
  more.hidden = problems.length <= SHOWN;
  more.textContent = state.expanded ? "Show fewer" : `Show all ${problems.length}`;
}

export function startAttention(store) {
  const state = { expanded: false, key: null };
  $("#attention-more").addEventListener("click", () => {
    state.expanded = !state.expanded;
    state.key = null;
    renderAttention(store, state);
  });
  return () => renderAttention(store, state);
}
