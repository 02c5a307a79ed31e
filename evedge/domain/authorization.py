"""Authorization: the IdTagInfo a tag gets (OCPP 1.6 §7.24), for Authorize, Start/Stop
and the chargers' local lists alike.

Id tags are CiString20Type (§7.28): case-insensitive.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..storage import sql
from ..timeutil import stored_time, to_rfc3339
from .policy import Policy


def id_tag_info(tag: str, policy: Policy, now: dt.datetime) -> dict[str, Any]:
    """The IdTagInfo for ``tag``: status, expiry and parent, as OCPP 1.6 §7.24 defines it."""
    row = sql.id_tag(tag)
    if row is None:
        return {"status": "Accepted" if policy.unknown_id_tags == "accept" else "Invalid"}
    status, expiry_text, parent, limit = row
    expiry = stored_time(expiry_text)
    status = effective_status(status, expiry, now)
    if status == "Accepted" and parent:
        status = _parent_status(parent, now)
    if status == "Accepted" and limit is not None and sql.active_transaction_count(tag) >= limit:
        status = "ConcurrentTx"
    return tag_info(status, expiry, parent)


def effective_status(status: str, expiry: dt.datetime | None, now: dt.datetime) -> str:
    """A tag's own status, with an expiry date in the past turning Accepted into Expired."""
    return "Expired" if status == "Accepted" and expiry is not None and expiry <= now else status


def tag_info(status: str, expiry: dt.datetime | None, parent: str | None) -> dict[str, Any]:
    """An IdTagInfo (snake case) with the optional fields only when they are set."""
    info: dict[str, Any] = {"status": status}
    if expiry is not None:
        info["expiry_date"] = to_rfc3339(expiry)
    if parent:
        info["parent_id_tag"] = parent
    return info


def _parent_status(parent: str, now: dt.datetime) -> str:
    """A blocked or expired parent tag blocks its children (group cards)."""
    row = sql.id_tag(parent)
    if row is None:
        return "Accepted"
    expiry = stored_time(row[1])
    return effective_status(row[0], expiry, now)
