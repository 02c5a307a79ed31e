"""Transfer grants: a charger may upload only what the box asked it for, and fetch over FTP
only the firmware file it was sent.

GetDiagnostics gives the charger a location; without a token in it, anyone on the
site network who knew a charger id could fill the box's disk. A grant is a random
token bound to one charger and one purpose, valid until it expires or, for a
diagnostics upload, until its upload completes. A firmware grant (the FTP login of
one UpdateFirmware, docs/decisions.md D19) names its one file and stays valid until it
expires: a charger retries and resumes downloads. Only the token's sha256 is stored,
so the database does not hold usable locations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from ..storage.models import UploadGrant

# Purposes whose grant is spent by its first completed upload.
SINGLE_USE = frozenset({"diagnostics"})


@dataclass(frozen=True)
class Grant:
    key: str  # the token's digest: what redeem() takes
    charger_id: str
    purpose: str
    file_name: str | None  # firmware: the one file it may fetch
    expires_at: dt.datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def issue(charger_id: str, purpose: str, now: dt.datetime, ttl: float,
          file_name: str | None = None) -> tuple[str, dt.datetime]:
    """A new grant for ``charger_id``: (token, expires_at). A write: run it committed."""
    token = secrets.token_urlsafe(18)
    expires = now + dt.timedelta(seconds=ttl)
    UploadGrant.create(token_hash=_digest(token), charger=charger_id, purpose=purpose,
                       created_at=now, expires_at=expires, file_name=file_name)
    return token, expires


def find(token: str, purpose: str, now: dt.datetime) -> Grant | None:
    """The usable grant ``token`` stands for (an FTP login names no charger: the grant
    does); None when it is unknown, of another purpose, expired or spent."""
    grant = UploadGrant.get_or_none(UploadGrant.token_hash == _digest(token))
    if (grant is None or grant.purpose != purpose or grant.expires_at <= now
            or (purpose in SINGLE_USE and grant.used_at is not None)):
        return None
    return Grant(grant.token_hash, grant.charger_id, grant.purpose, grant.file_name,
                 grant.expires_at)


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
