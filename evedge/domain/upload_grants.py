"""Single-use upload grants: a charger may upload only what the box asked it for.

GetDiagnostics gives the charger a location; without a token in it, anyone on the
site network who knew a charger id could fill the box's disk. A grant is a random
token bound to one charger and one purpose, valid until it expires or its upload
completes. Only the token's sha256 is stored, so the database does not hold usable
locations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from ..storage.models import UploadGrant


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def issue(charger_id: str, purpose: str, now: dt.datetime, ttl: float) -> tuple[str, dt.datetime]:
    """A new grant for ``charger_id``: (token, expires_at). A write: run it committed."""
    token = secrets.token_urlsafe(18)
    expires = now + dt.timedelta(seconds=ttl)
    UploadGrant.create(token_hash=_digest(token), charger=charger_id, purpose=purpose,
                       created_at=now, expires_at=expires)
    return token, expires


def valid(token: str, charger_id: str, purpose: str, now: dt.datetime) -> str | None:
    """The grant's key when ``token`` is an unused, unexpired grant for this charger and
    purpose; None otherwise (one answer for every reason, to tell an attacker nothing)."""
    key = _digest(token)
    grant = UploadGrant.get_or_none(UploadGrant.token_hash == key)
    if (grant is None or grant.charger_id != charger_id or grant.purpose != purpose
            or grant.used_at is not None or grant.expires_at <= now):
        return None
    return key


def redeem(key: str, file_name: str, now: dt.datetime) -> bool:
    """Mark a grant used by the file it brought; False if another upload used it first."""
    return bool(UploadGrant.update(used_at=now, file_name=file_name[:128]).where(
        UploadGrant.token_hash == key, UploadGrant.used_at.is_null()).execute())


def purge(now: dt.datetime) -> int:
    """Forget grants that expired (housekeeping)."""
    return UploadGrant.delete().where(UploadGrant.expires_at < now).execute()
