"""REST: /api/auth/ (register, login, logout, refresh), the original system's contract."""

from __future__ import annotations

from ..storage.models import User
from .base import ApiHandler


def _session_body(user: User, tokens, message: str) -> dict:
    return {"message": message, "username": user.username, "role": user.role,
            "access": tokens.access, "refresh": tokens.refresh}


class RegisterHandler(ApiHandler):
    async def post(self) -> None:
        """Create an account (the first one becomes admin) and log it in."""
        user, tokens = await self.services.accounts.register(
            self.body.get("username"), self.body.get("password"))
        self.send_json(_session_body(user, tokens, "account created"), status=201)


class LoginHandler(ApiHandler):
    async def post(self) -> None:
        """Exchange username and password for an access and a refresh token."""
        user, tokens = await self.services.accounts.login(
            self.body.get("username"), self.body.get("password"))
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


ROUTES = [
    (r"/api/auth/register/", RegisterHandler),
    (r"/api/auth/login/", LoginHandler),
    (r"/api/auth/logout/", LogoutHandler),
    (r"/api/auth/refresh/", RefreshHandler),
    (r"/api/auth/me/", MeHandler),
]
