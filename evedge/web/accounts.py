"""REST: /api/auth/ (register, login, logout, refresh: the original system's contract;
setup: whether the box still needs its first admin) and /api/users/ for admins (list,
create with a role, change role, disable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.accounts import user_json
from .base import ApiHandler

if TYPE_CHECKING:
    from ..domain.accounts import TokenPair
    from ..storage.models import User


def _session_body(user: User, tokens: TokenPair, message: str) -> dict:
    return {"message": message, "username": user.username, "role": user.role,
            "access": tokens.access, "refresh": tokens.refresh}


class RegisterHandler(ApiHandler):
    async def post(self) -> None:
        """Create an account and log it in: the first admin with the setup code, later
        ones when self-registration is open."""
        user, tokens = await self.services.accounts.register(
            self.body.get("username"), self.body.get("password"), self.body.get("setup_code"),
            self.request.remote_ip)
        self.send_json(_session_body(user, tokens, "account created"), status=201)


class SetupHandler(ApiHandler):
    def get(self) -> None:
        """Whether the box still needs its first admin (the login page then asks for the
        setup code)."""
        self.send_json({"setup_required": self.services.accounts.setup_required()})


class LoginHandler(ApiHandler):
    async def post(self) -> None:
        """Exchange username and password for an access and a refresh token."""
        user, tokens = await self.services.accounts.login(
            self.body.get("username"), self.body.get("password"), self.request.remote_ip)
        self.send_json(_session_body(user, tokens, "logged in"))


class LogoutHandler(ApiHandler):
    def post(self) -> None:
        """End the login session: its access and refresh tokens stop working at once."""
        self.services.accounts.logout(self.bearer_token(), self.body.get("refresh"))
        self.send_json({"message": "logged out"})


class RefreshHandler(ApiHandler):
    def post(self) -> None:
        """Rotate tokens: new access and refresh tokens; the old refresh token is revoked."""
        tokens = self.services.accounts.refresh(self.body.get("refresh"))
        self.send_json({"access": tokens.access, "refresh": tokens.refresh})


class MeHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self) -> None:
        """Who the bearer token belongs to."""
        self.send_json({"id": self.user.id, "username": self.user.username,
                        "role": self.user.role})


class UsersHandler(ApiHandler):
    permissions = {"GET": "admin", "POST": "admin"}

    def get(self) -> None:
        """All accounts."""
        self.send_json({"items": [user_json(u) for u in self.services.accounts.users()]})

    async def post(self) -> None:
        """Create an account: ``{"username", "password", "role"}``."""
        user = await self.services.accounts.create_user(
            self.body.get("username"), self.body.get("password"), self.body.get("role", "viewer"))
        self.send_json(user_json(user), status=201)


class UserHandler(ApiHandler):
    permissions = {"GET": "admin", "PATCH": "admin"}

    def get(self, user_id: str) -> None:
        """One account."""
        self.send_json(user_json(self.services.accounts.user(int(user_id))))

    async def patch(self, user_id: str) -> None:
        """Change ``role``, ``is_active`` (disable) or ``password``."""
        user = await self.services.accounts.update_user(int(user_id), self.body, self.user)
        self.send_json(user_json(user))


ROUTES = [
    (r"/api/auth/register/", RegisterHandler),
    (r"/api/auth/setup/", SetupHandler),
    (r"/api/auth/login/", LoginHandler),
    (r"/api/auth/logout/", LogoutHandler),
    (r"/api/auth/refresh/", RefreshHandler),
    (r"/api/auth/me/", MeHandler),
    (r"/api/users/", UsersHandler),
    (r"/api/users/([0-9]{1,12})/", UserHandler),
]
