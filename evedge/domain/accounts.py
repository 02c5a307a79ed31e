"""Accounts: the first admin, registration, login, logout, token refresh, user management.

bcrypt runs on the Accounts' own bounded pool (password_pool.py), failed logins and setup
codes are throttled (login_guard.py); everything else is short, synchronous database
work. No web framework here: handlers translate. Whoever must react at once when logins
end (the dashboard socket) registers with ``watch``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import peewee

from .. import errors
from ..config import Config
from ..storage.models import ROLES, LoginSession, RevokedToken, User, database
from ..timeutil import to_rfc3339, utcnow
from . import credentials, setup_code
from .login_guard import LoginGuard
from .password_pool import PasswordPool

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[A-Za-z0-9@.+_-]{1,150}$")
MAX_USERNAME = 150
MIN_PASSWORD_LENGTH = 8

LoginsEnded = Callable[[int], None]


def user_json(user: User) -> dict:
    return {"id": user.id, "username": user.username, "role": user.role,
            "is_active": user.is_active, "created_at": to_rfc3339(user.created_at),
            "last_login_at": to_rfc3339(user.last_login_at)}


def admin_exists() -> bool:
    return User.select().where(User.role == "admin", User.is_active == True  # noqa: E712
                               ).exists()


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


class Accounts:
    def __init__(self, config: Config, secret: str, pool: PasswordPool | None = None,
                 guard: LoginGuard | None = None):
        self._config = config
        self._secret = secret
        self._pool = pool or PasswordPool()
        self._guard = guard or LoginGuard()
        # Compared against when the user name is unknown, at the configured cost, so that a
        # failed login takes as long whether or not the account exists.
        self._dummy_hash = credentials.hash_password("not-a-password", config.bcrypt_rounds)
        self._setup_code = None if admin_exists() else setup_code.new_setup_code()
        self._watchers: dict[int, tuple[int, LoginsEnded]] = {}  # handle -> (user id, callback)
        self._handles = itertools.count(1)

    def close(self) -> None:
        self._pool.close()

    # --- the first admin ------------------------------------------------------------------

    @property
    def setup_code(self) -> str | None:
        """The one-time code that makes the first admin; None once an admin exists."""
        if self._setup_code is not None and admin_exists():
            self._setup_code = None
        return self._setup_code

    @staticmethod
    def setup_required() -> bool:
        return not admin_exists()

    # --- who is told when logins end ------------------------------------------------------

    def watch(self, user_id: int, callback: LoginsEnded) -> int:
        """Call ``callback(user_id)`` right after logins of that user may have ended (logout,
        a stolen refresh token, disabled, demoted, new password). Returns a handle for
        ``unwatch``."""
        handle = next(self._handles)
        self._watchers[handle] = (user_id, callback)
        return handle

    def unwatch(self, handle: int) -> None:
        self._watchers.pop(handle, None)

    def _logins_ended(self, user_id: int) -> None:
        for watched, callback in list(self._watchers.values()):
            if watched == user_id:
                try:
                    callback(user_id)
                except Exception:  # one broken watcher must not undo a logout
                    log.exception("a watcher of user %s failed", user_id)

    # --- helpers ------------------------------------------------------------------------

    async def hash_password(self, password: str | bytes) -> str:
        """bcrypt on the bounded pool (also used for charger passwords); errors.Busy (503)
        when its queue is full, BadRequest beyond bcrypt's 72 bytes (a charger password of
        64 characters may be 256 bytes in UTF-8: bcrypt 5 raised ValueError, a 500)."""
        if credentials.password_too_long(password):
            raise errors.BadRequest(f"password must be at most {credentials.MAX_PASSWORD_BYTES}"
                                    " bytes in UTF-8", field="password")
        return await self._pool.run(credentials.hash_password, password,
                                    self._config.bcrypt_rounds)

    async def check_password(self, password: str | bytes, hashed: str | None) -> bool:
        """bcrypt check on the bounded pool (user and charger passwords); errors.Busy (503)
        when its queue is full."""
        return await self._pool.run(credentials.check_password, password,
                                    hashed or self._dummy_hash)

    @staticmethod
    def validate_credentials(username: object, password: object) -> tuple[str, str]:
        if not isinstance(username, str) or not USERNAME.fullmatch(username):
            raise errors.BadRequest(
                "username must be 1-150 letters, digits or @.+-_ characters", field="username")
        if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
            raise errors.BadRequest(
                f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password")
        if credentials.password_too_long(password):
            raise errors.BadRequest(
                f"password must be at most {credentials.MAX_PASSWORD_BYTES} bytes",
                field="password")
        return username, password

    def _issue(self, user: User) -> TokenPair:
        now = utcnow()
        sid = str(uuid.uuid4())
        refresh = credentials.issue_token(self._secret, user_id=user.id, sid=sid, kind="refresh",
                                          ttl=self._config.refresh_token_ttl, now=now)
        access = credentials.issue_token(self._secret, user_id=user.id, sid=sid, kind="access",
                                         ttl=self._config.access_token_ttl, now=now)
        LoginSession.create(sid=sid, user=user, created_at=now, expires_at=refresh.expires_at)
        return TokenPair(access.value, refresh.value)

    # --- use cases --------------------------------------------------------------------------

    async def register(self, username: object, password: object, code: object = None,
                       address: str | None = None) -> tuple[User, TokenPair]:
        """Self-registration (docs/architecture.md §5). With the setup ``code``: the first
        admin, while there is none. Without: an account of ``registration_role``, when
        ``registration`` is open and the box has its admin."""
        if code is not None:
            return await self._register_first_admin(username, password, code, address)
        if not admin_exists():
            raise errors.Forbidden("there is no admin yet: create one with the setup code "
                                   "shown in the server's log, or with `evedge createuser`",
                                   field="setup_code")
        if self._config.registration != "open":
            raise errors.Forbidden("self-registration is closed; ask an admin for an account")
        username, password = self.validate_credentials(username, password)
        hashed = await self.hash_password(password)
        user = self._create(username, hashed, self._config.registration_role)
        return user, self._issue(user)

    async def _register_first_admin(self, username: object, password: object, code: object,
                                    address: str | None) -> tuple[User, TokenPair]:
        if not isinstance(code, str):
            raise errors.BadRequest("setup_code must be a string", field="setup_code")
        with self._guard.attempt(address) as attempt:
            username, password = self.validate_credentials(username, password)
            expected = self.setup_code
            if expected is None or not setup_code.matches(code, expected):
                attempt.failed()
                if expected is None:
                    raise errors.Forbidden("the box has its admin: setup codes no longer work; "
                                           "log in instead", field="setup_code")
                raise errors.Forbidden("wrong setup code", field="setup_code")
            attempt.succeeded()
            hashed = await self.hash_password(password)
        user = self._create(username, hashed, "admin", only_if_no_admin=True)
        self._setup_code = None  # single use
        log.info("first admin %s created with the setup code", user.username)
        return user, self._issue(user)

    async def create_user(self, username: object, password: object, role: object) -> User:
        """An admin (or ``evedge createuser``) creates an account with an explicit role."""
        username, password = self.validate_credentials(username, password)
        if role not in ROLES:
            raise errors.BadRequest(f"role must be one of {', '.join(ROLES)}", field="role")
        hashed = await self.hash_password(password)
        return self._create(username, hashed, role)

    @staticmethod
    def _create(username: str, hashed: str, role: str, only_if_no_admin: bool = False) -> User:
        # Synchronous from the check to the insert, so two registrations with the setup code
        # cannot both make an admin; atomic() is a savepoint inside the group commit's
        # transaction, so a taken name (IntegrityError) rolls back only this insert.
        try:
            with database.atomic():
                if only_if_no_admin and admin_exists():
                    raise errors.Forbidden("the box has its admin: setup codes no longer work; "
                                           "log in instead", field="setup_code")
                return User.create(username=username, password_hash=hashed, role=role)
        except peewee.IntegrityError:
            raise errors.Conflict("this username is taken", field="username") from None

    @staticmethod
    def users() -> list[User]:
        return list(User.select().order_by(User.id))

    @staticmethod
    def user(user_id: int) -> User:
        user = User.get_or_none(User.id == user_id)
        if user is None:
            raise errors.NotFound(f"user {user_id} does not exist")
        return user

    async def update_user(self, user_id: int, changes: dict, acting: User) -> User:
        """Change role, active flag or password; disabling or demoting ends the user's
        logins. The last active admin can be neither demoted nor disabled."""
        user = User.get_or_none(User.id == user_id)
        if user is None:
            raise errors.NotFound(f"user {user_id} does not exist")
        unknown = sorted(set(changes) - {"role", "is_active", "password"})
        if unknown:
            raise errors.BadRequest(f"{unknown[0]} cannot be changed", field=unknown[0])
        role, active = changes.get("role", user.role), changes.get("is_active", user.is_active)
        if role not in ROLES:
            raise errors.BadRequest(f"role must be one of {', '.join(ROLES)}", field="role")
        if not isinstance(active, bool):
            raise errors.BadRequest("is_active must be true or false", field="is_active")
        hashed = None
        if "password" in changes:
            _, password = self.validate_credentials(user.username, changes["password"])
            hashed = await self.hash_password(password)
        with database.atomic():
            if user.role == "admin" and (role != "admin" or not active) and User.select().where(
                    User.role == "admin", User.is_active == True, User.id != user.id  # noqa: E712
            ).count() == 0:
                raise errors.Conflict("the last active admin cannot be demoted or disabled",
                                      field="role" if role != "admin" else "is_active")
            ends_logins = role != user.role or not active or hashed is not None
            user.role, user.is_active = role, active
            if hashed is not None:
                user.password_hash = hashed
            user.save()
            ends_logins = ends_logins and user.id != acting.id
            if ends_logins:
                LoginSession.update(revoked_at=utcnow()).where(
                    LoginSession.user == user, LoginSession.revoked_at.is_null()).execute()
        if ends_logins:
            self._logins_ended(user.id)
        return user

    async def login(self, username: object, password: object,
                    address: str | None = None) -> tuple[User, TokenPair]:
        """Tokens for a right user name and password. Failures are throttled per user name
        and per ``address`` (429 with Retry-After before any bcrypt work)."""
        if not isinstance(username, str) or not isinstance(password, str):
            raise errors.BadRequest("username and password are required",
                                    field=("username" if not isinstance(username, str)
                                           else "password"))
        with self._guard.attempt(address, username[:MAX_USERNAME]) as attempt:
            user = User.get_or_none(User.username == username) if USERNAME.fullmatch(username) \
                else None
            valid = await self.check_password(password, user.password_hash if user else None)
            if user is None or not valid or not user.is_active:
                attempt.failed()
                raise errors.Unauthorized("invalid username or password")
            attempt.succeeded()
        user.last_login_at = utcnow()
        user.save(only=[User.last_login_at])
        return user, self._issue(user)

    def authenticate(self, access_token: str) -> User:
        """The active user behind a valid, unrevoked access token."""
        claims = self._claims(access_token, "access")
        return self._live_user(claims)

    def seconds_left(self, access_token: str) -> float:
        """Seconds until a valid access token stops being accepted (its expiry, and the
        leeway the decoder allows)."""
        claims = self._claims(access_token, "access")
        return claims["exp"] + credentials.LEEWAY - time.time()

    def logout(self, access_token: str, refresh_token: object = None) -> None:
        """Revoke the login session: its access and refresh tokens stop working at once."""
        claims = self._claims(access_token, "access")
        self._live_user(claims)
        now = utcnow()
        with database.atomic():
            LoginSession.update(revoked_at=now).where(LoginSession.sid == claims["sid"]).execute()
            self._revoke(claims)
            if isinstance(refresh_token, str) and refresh_token:
                try:
                    self._revoke(credentials.decode_token(self._secret, refresh_token, "refresh"))
                except credentials.InvalidToken:
                    pass
        self._logins_ended(int(claims["sub"]))

    def refresh(self, refresh_token: object) -> TokenPair:
        """Rotate: a new access and refresh token; the presented refresh token is revoked."""
        if not isinstance(refresh_token, str) or not refresh_token:
            raise errors.BadRequest("refresh token is required", field="refresh")
        claims = self._claims(refresh_token, "refresh", field="refresh")
        if RevokedToken.get_or_none(RevokedToken.jti == claims["jti"]) is not None:
            # A rotated-out refresh token came back: it was copied. End the whole login.
            LoginSession.update(revoked_at=utcnow()).where(
                LoginSession.sid == claims["sid"]).execute()
            self._logins_ended(int(claims["sub"]))
            raise errors.Unauthorized("refresh token was already used", field="refresh")
        user = self._live_user(claims, field="refresh")
        now = utcnow()
        with database.atomic():
            self._revoke(claims)
            access = credentials.issue_token(
                self._secret, user_id=user.id, sid=claims["sid"], kind="access",
                ttl=self._config.access_token_ttl, now=now)
            new_refresh = credentials.issue_token(
                self._secret, user_id=user.id, sid=claims["sid"], kind="refresh",
                ttl=self._config.refresh_token_ttl, now=now)
            LoginSession.update(expires_at=new_refresh.expires_at).where(
                LoginSession.sid == claims["sid"]).execute()
        return TokenPair(access.value, new_refresh.value)

    def _claims(self, token: str, kind: str, field: str | None = None) -> dict:
        try:
            return credentials.decode_token(self._secret, token, kind)
        except credentials.InvalidToken as exc:
            raise errors.Unauthorized(f"invalid {kind} token: {exc}", field=field) from None

    def _live_user(self, claims: dict, field: str | None = None) -> User:
        row = (LoginSession.select(LoginSession, User).join(User)
               .where(LoginSession.sid == claims["sid"]).first())
        if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
            raise errors.Unauthorized("session has ended; log in again", field=field)
        if str(row.user.id) != claims["sub"] or not row.user.is_active:
            raise errors.Unauthorized("account is disabled", field=field)
        if claims["typ"] == "access" and RevokedToken.get_or_none(
                RevokedToken.jti == claims["jti"]) is not None:
            raise errors.Unauthorized("token was revoked", field=field)
        return row.user

    @staticmethod
    def _revoke(claims: dict) -> None:
        expires = dt.datetime.fromtimestamp(claims["exp"], tz=dt.timezone.utc).replace(tzinfo=None)
        RevokedToken.insert(jti=claims["jti"], expires_at=expires).on_conflict_ignore().execute()

    @staticmethod
    def purge_expired() -> int:
        """Drop revocation records of tokens that have expired anyway."""
        now = utcnow()
        removed = RevokedToken.delete().where(RevokedToken.expires_at < now).execute()
        removed += LoginSession.delete().where(LoginSession.expires_at < now).execute()
        return removed
