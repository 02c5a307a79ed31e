"""The settings the charging rules depend on, as one value (built from Config once)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """The configuration the rules depend on."""

    unknown_id_tags: str = "invalid"     # "invalid" | "accept"
    admission: str = "accept"            # "accept" | "pending" | "reject"
