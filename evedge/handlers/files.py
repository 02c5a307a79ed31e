"""REST: /api/files/ (being written)."""

ROUTES: list = []
