"""REST: /api/users/ for admins (list, create with a role, change role, disable)."""

from __future__ import annotations

from .. import errors
from ..storage.models import User
from ..timeutil import to_rfc3339
from .base import ApiHandler


def user_json(user: User) -> dict:
    return {"id": user.id, "username": user.username, "role": user.role,
            "is_active": user.is_active, "created_at": to_rfc3339(user.created_at),
            "last_login_at": to_rfc3339(user.last_login_at)}


class UsersHandler(ApiHandler):
    permissions = {"GET": "admin", "POST": "admin"}

    def get(self) -> None:
        """All accounts."""
        self.send_json({"items": [user_json(u) for u in User.select().order_by(User.id)]})

    async def post(self) -> None:
        """Create an account: ``{"username", "password", "role"}``."""
        user = await self.services.accounts.create_user(
            self.body.get("username"), self.body.get("password"), self.body.get("role", "viewer"))
        self.send_json(user_json(user), status=201)


class UserHandler(ApiHandler):
    permissions = {"GET": "admin", "PATCH": "admin"}

    def get(self, user_id: str) -> None:
        """One account."""
        user = User.get_or_none(User.id == int(user_id))
        if user is None:
            raise errors.NotFound(f"user {user_id} does not exist")
        self.send_json(user_json(user))

    async def patch(self, user_id: str) -> None:
        """Change ``role``, ``is_active`` (disable) or ``password``."""
        user = await self.services.accounts.update_user(int(user_id), self.body, self.user)
        self.send_json(user_json(user))


ROUTES = [
    (r"/api/users/", UsersHandler),
    (r"/api/users/([0-9]{1,12})/", UserHandler),
]
