// After a charger accepted a remote start, did a session start? OCPP 1.6 §5.11: Accepted
// only means the charger will try; the StartTransaction that follows is what counts, and
// the box may refuse its tag (a transaction whose auth_status is not Accepted, which the
// charger ends at once). Watches the live events and polls the transactions until one
// appears or FOLLOW_MS pass, and says which.

import { get } from "./api.js";
import { onLiveEvents } from "./live.js";
import { notify } from "./ui.js";

export const FOLLOW_MS = 30_000;
const POLL_MS = 2_000;
const enc = encodeURIComponent;

/** The newest transaction id of a charger before the command (0 when none): what is new. */
export async function newestTransaction(chargerId) {
  const page = await get(`/api/transactions/?charger=${enc(chargerId)}&sort=-id&limit=1`);
  return page.items.length ? page.items[0].id : 0;
}

async function started(chargerId, connectorId, idTag, after) {
  const page = await get(`/api/transactions/?charger=${enc(chargerId)}&sort=-id&limit=20`);
  const tag = idTag.toLowerCase();
  return page.items.find((tx) => tx.id > after && tx.connector_id === connectorId
                                 && tx.id_tag.toLowerCase() === tag) || null;
}

function outcome(prefix, tx, idTag) {
  if (tx.auth_status === "Accepted") {
    return [`${prefix}: Accepted; charging started (transaction ${tx.id}).`, "ok"];
  }
  return [`${prefix}: Accepted by the charger, but the box refused ${idTag} ` +
          `(${tx.auth_status}): nothing charges (transaction ${tx.id} was ended).`, "error"];
}

/**
 * Follow a remote start the charger accepted; resolves with the transaction, or null
 * after FOLLOW_MS. The notice with `key` tells the technician what is happening.
 */
export function followStart({ chargerId, connectorId, idTag, after, prefix, key }) {
  notify(`${prefix}: Accepted; waiting for the charger to start the session…`, "wait", { key });
  return new Promise((resolve) => {
    let done = false;
    let poller = null;
    const finish = (tx) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearTimeout(poller);
      stopListening();
      if (tx) {
        const [text, kind] = outcome(prefix, tx, idTag);
        notify(text, kind, { key });
      } else {
        notify(`${prefix}: Accepted, but no session started within ${FOLLOW_MS / 1000} s. ` +
               "Is a car plugged in? Check the connector.", "error", { key });
      }
      resolve(tx);
    };
    const check = async () => {
      try {
        const tx = await started(chargerId, connectorId, idTag, after);
        if (tx) finish(tx);
      } catch {
        // A failed poll (network) is tried again; the deadline still holds.
      }
    };
    const poll = async () => {
      await check();
      if (!done) poller = setTimeout(poll, POLL_MS);
    };
    const deadline = setTimeout(() => finish(null), FOLLOW_MS);
    const stopListening = onLiveEvents((events) => {
      if (events.some((e) => e.type === "transaction.started" && e.charger_id === chargerId)) {
        check();
      }
    });
    poller = setTimeout(poll, POLL_MS);
  });
}
