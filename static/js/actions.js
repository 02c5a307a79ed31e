// Remote commands a technician sends to a charger, with their confirmations.
// Used by the dashboard and the charger page. Every answer is shown: a charger's
// Rejected is an error notice, an API error names what was wrong.

import { get, post } from "./api.js";
import { followStart, newestTransaction } from "./start-followup.js";
import { tagWarning } from "./tag-check.js";
import { ask, busy, confirmed, h, notify } from "./ui.js";

const GOOD = new Set(["Accepted", "Scheduled", "Unlocked", "RebootRequired"]);
const enc = encodeURIComponent;

export const commandPath = (chargerId, slug) => `/api/chargers/${enc(chargerId)}/${slug}/`;

/** Fires "sent" (detail: {chargerId, slug}) after every command, answered or not: the
 *  charger page refreshes its command log and timeline. */
export const commands = new EventTarget();

function sent(chargerId, slug) {
  commands.dispatchEvent(new CustomEvent("sent", { detail: { chargerId, slug } }));
}

/** Show a charger's answer; returns it. */
export function report(what, answer) {
  const status = answer && answer.status;
  if (!status || GOOD.has(status)) notify(`${what}: ${status || "done"}`);
  else notify(`${what}: the charger answered ${status}`, "error");
  return answer;
}

/** Send one OCPP command (slug as in /api/chargers/<id>/<slug>/) and report the answer. */
export function command(chargerId, slug, body, what, button = null) {
  return busy(button, async () => {
    try {
      return report(what, await post(commandPath(chargerId, slug), body));
    } finally {
      sent(chargerId, slug);
    }
  });
}

/** A datalist (id "known-tags") of the Accepted tags, for an ID tag field to suggest. */
export async function tagList() {
  const list = h("datalist", { id: "known-tags" });
  try {
    // Effective status: an Accepted tag past its expiry date is not suggested.
    const tags = await get("/api/id-tags/?status=Accepted&limit=200");
    for (const tag of tags.items) list.append(h("option", { value: tag.id_tag }));
  } catch {
    // Suggestions only: the technician can still type a tag.
  }
  return list;
}

/**
 * Remote start with an id tag (typed, or from a USB RFID desk reader: the number and
 * Enter). A tag the box would refuse is named before anything is sent; after the
 * charger's Accepted, the follow-up says whether a session started (start-followup.js).
 */
export async function remoteStart(charger, connectorId, button = null) {
  const values = await ask({
    title: `Start charging: ${charger.id}`,
    text: `Connector ${connectorId}. The charger starts a transaction for this ID tag.`,
    fields: [{ name: "id_tag", label: "ID tag", required: true, list: "known-tags" }],
    ok: "Start charging",
    extra: await tagList(),
    check: (current) => tagWarning(current.id_tag.trim()),
  });
  if (!values) return undefined;
  const idTag = values.id_tag.trim();
  const prefix = `Remote start on ${charger.id}, connector ${connectorId}`;
  return busy(button, async () => {
    const after = await newestTransaction(charger.id);
    let answer;
    try {
      answer = await post(`/api/chargers/start/${enc(charger.id)}/`,
                          { connector_id: connectorId, id_tag: idTag });
    } finally {
      sent(charger.id, "remote-start");
    }
    followStart({ chargerId: charger.id, connectorId, idTag, after, prefix,
                  key: `start/${charger.id}/${connectorId}` });
    return answer;
  });
}

export async function remoteStop(charger, tx, button = null) {
  const ok = await confirmed(
    `Stop charging: ${charger.id}`,
    `Stops transaction ${tx.id} on connector ${tx.connector_id} (ID tag ${tx.id_tag}).`,
    "Stop charging");
  if (!ok) return undefined;
  return command(charger.id, "remote-stop", { transaction_id: tx.id },
                 `Remote stop of transaction ${tx.id}`, button);
}

export async function reset(charger, button = null) {
  const values = await ask({
    title: `Reset ${charger.id}`,
    text: "The charger reboots; running transactions are stopped. Soft: restart the " +
          "software. Hard: power-cycle.",
    fields: [{ name: "type", label: "Reset type", options: [["Soft", "Soft"], ["Hard", "Hard"]] }],
    ok: "Reset",
    danger: true,
  });
  if (!values) return undefined;
  return command(charger.id, "reset", { type: values.type }, `${values.type} reset of ${charger.id}`,
                 button);
}

export async function unlock(charger, connectorId, button = null) {
  const ok = await confirmed(`Unlock connector ${connectorId} of ${charger.id}`,
                             "Releases the cable lock; a running transaction on it stops.",
                             "Unlock");
  if (!ok) return undefined;
  return command(charger.id, "unlock-connector", { connector_id: connectorId },
                 `Unlock of ${charger.id} connector ${connectorId}`, button);
}

export async function availability(charger, connectorId, type, button = null) {
  const where = connectorId === 0 ? "the whole charger" : `connector ${connectorId}`;
  if (type === "Inoperative") {
    const ok = await confirmed(`Take ${where} of ${charger.id} out of service`,
                               "No one can charge there until it is set Operative again.",
                               "Set Inoperative");
    if (!ok) return undefined;
  }
  return command(charger.id, "change-availability", { connector_id: connectorId, type },
                 `${type}: ${charger.id} ${where}`, button);
}
