"""Passwords (bcrypt) and API tokens (JWT HS256): pure functions, no web framework."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import jwt

from ..storage.private import private_directory

ISSUER = "evedge"
ALGORITHMS = ["HS256"]  # fixed: never taken from the token header (PyJWT docs)
MAX_PASSWORD_BYTES = 72  # bcrypt 5 raises beyond this instead of truncating silently
LEEWAY = 5  # seconds a token is still accepted after its exp (clock drift between tabs)


class InvalidToken(Exception):
    """The token is malformed, expired, of the wrong kind or badly signed."""


def _bytes(password: str | bytes) -> bytes:
    # A charger's password may be binary: the AuthorizationKey of the 1.6 security
    # whitepaper is random bytes, sent hex-encoded and used decoded.
    return password if isinstance(password, bytes) else password.encode("utf-8")


def password_too_long(password: str | bytes) -> bool:
    return len(_bytes(password)) > MAX_PASSWORD_BYTES


def hash_password(password: str | bytes, rounds: int = 12) -> str:
    """bcrypt hash; slow on purpose (~250 ms at 12 rounds), so call it off the event loop."""
    return bcrypt.hashpw(_bytes(password), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str | bytes, hashed: str | None) -> bool:
    if not hashed or password_too_long(password):
        return False
    try:
        return bcrypt.checkpw(_bytes(password), hashed.encode("ascii"))
    except ValueError:  # malformed hash in the database
        return False


def load_or_create_secret(data_dir: Path) -> str:
    """The JWT signing secret, generated on first start and kept with mode 0600."""
    path = Path(data_dir) / "jwt-secret"
    try:
        secret = path.read_text().strip()
        if secret:
            return secret
    except FileNotFoundError:
        pass
    private_directory(Path(data_dir))
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret


@dataclass(frozen=True)
class Token:
    value: str
    jti: str
    expires_at: dt.datetime  # naive UTC


def issue_token(secret: str, *, user_id: int, sid: str, kind: str, ttl: int,
                now: dt.datetime) -> Token:
    """Sign an ``access`` or ``refresh`` token for ``user_id`` in login session ``sid``."""
    jti = str(uuid.uuid4())
    expires = now + dt.timedelta(seconds=ttl)
    utc = dt.timezone.utc
    claims = {"sub": str(user_id), "sid": sid, "typ": kind, "jti": jti, "iss": ISSUER,
              "iat": now.replace(tzinfo=utc), "exp": expires.replace(tzinfo=utc)}
    return Token(jwt.encode(claims, secret, algorithm="HS256"), jti, expires)


def decode_token(secret: str, token: str, kind: str) -> dict:
    try:
        claims = jwt.decode(token, secret, algorithms=ALGORITHMS, issuer=ISSUER, leeway=LEEWAY,
                            options={"require": ["exp", "iat", "sub", "sid", "jti", "typ"]})
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(str(exc)) from None
    if claims.get("typ") != kind:
        raise InvalidToken(f"expected a {kind} token")
    return claims
