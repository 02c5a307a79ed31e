// Is an id tag going to be accepted? Asked before a remote start, so that the technician
// hears "this card is blocked" before sending, not after nothing charges.

import { get } from "./api.js";
import { time } from "./format.js";

const enc = encodeURIComponent;
const SEARCH_LIMIT = 1000;

/**
 * The tag record for `idTag` (any case, as chargers treat id tags), or null when the box
 * does not know it. A search rather than GET /api/id-tags/<tag>/, whose 404 for an
 * unknown tag the browser would log as an error; the exact lookup is the fallback when
 * the search has more matches than one page.
 */
export async function findTag(idTag) {
  const wanted = idTag.toLowerCase();
  const page = await get(`/api/id-tags/?q=${enc(idTag)}&limit=${SEARCH_LIMIT}`);
  const hit = page.items.find((tag) => tag.id_tag.toLowerCase() === wanted);
  if (hit || page.total <= page.items.length) return hit || null;
  try {
    return await get(`/api/id-tags/${enc(idTag)}/`);
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

function refusal(tag) {
  const status = tag.effective_status || tag.status;
  if (status === "Expired") {
    return tag.expiry_date ? `expired on ${time(tag.expiry_date)}` : "is Expired";
  }
  return status === "Accepted" ? null : `is ${status}`;
}

/** Why the box would refuse `idTag` (a sentence), or null when it would accept it. */
export async function tagWarning(idTag) {
  if (!idTag) return null;
  const tag = await findTag(idTag);
  const after = "The charger may accept the remote start, but the box refuses the tag and " +
                "nothing charges.";
  if (!tag) {
    return `${idTag} is not a known ID tag: the box answers Invalid (unless it is set to ` +
           `accept unknown tags). ${after}`;
  }
  const own = refusal(tag);
  if (own) return `${tag.id_tag} ${own}. ${after}`;
  if (tag.parent_id_tag) {
    const parent = await findTag(tag.parent_id_tag);
    const inherited = parent && refusal(parent);
    if (inherited) return `${tag.id_tag} belongs to ${parent.id_tag}, which ${inherited}. ${after}`;
  }
  return null;
}
