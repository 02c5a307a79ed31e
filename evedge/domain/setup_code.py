"""The one-time setup code that makes the first admin on an empty database.

Whoever reaches the box first must not become its admin (the install race of "the first
account registered is admin"). The code is shown only where the installer looks: the
server's console and log (server.py). It lives in memory, never in a file, and stops
working once an admin exists (domain/accounts.py).
"""

from __future__ import annotations

import hmac
import secrets

# No 0/O, 1/I/L lookalikes: the code is read off a console and typed on a tablet.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GROUPS, GROUP_SIZE = 4, 4  # 16 characters of 31: about 79 bits


def new_setup_code() -> str:
    """A fresh code, e.g. ``7QKM-X2PD-HW9C-4RTE``."""
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_SIZE))
              for _ in range(GROUPS))
    return "-".join(groups)


def normalise(code: str) -> str:
    """As typed: any case, with or without the dashes and spaces."""
    return "".join(code.split()).replace("-", "").upper()


def matches(given: str, expected: str) -> bool:
    """Constant-time comparison of the normalised codes."""
    return hmac.compare_digest(normalise(given).encode(), normalise(expected).encode())
