"""REST: /api/users/ (being written)."""

ROUTES: list = []
