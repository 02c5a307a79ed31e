"""REST: /api/id_tags/ (being written)."""

ROUTES: list = []
