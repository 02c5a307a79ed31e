"""Charger passwords (OCPP 1.6 security profile 1: HTTP Basic, user = charge point id):
checked on the bounded bcrypt pool, throttled per charger id and per client address, and
remembered once verified, so a reconnect storm of chargers with passwords does not queue
hundreds of bcrypt checks (each ~250 ms) behind one another.

The AuthorizationKey of the 1.6 security whitepaper is sent to the charger hex-encoded
(ChangeConfiguration) and used by it decoded, as the Basic password; some firmwares use
the hex text as it is. Both forms are accepted (``candidates``).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import logging
import secrets
from collections import OrderedDict
from typing import Awaitable, Callable

from ..domain.login_guard import LoginGuard
from ..domain.throttle import Throttle

log = logging.getLogger(__name__)

CheckPassword = Callable[[bytes, str], Awaitable[bool]]

AUTHORIZATION_KEY = "AuthorizationKey"
_MAX_REMEMBERED = 20_000


def key_password(value: str) -> bytes:
    """The password an AuthorizationKey value stands for: the bytes its hex encodes
    (whitepaper: "hexadecimal represented"), else the text itself."""
    try:
        decoded = binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        return value.encode("utf-8")
    return decoded if decoded else value.encode("utf-8")


def candidates(given: bytes) -> list[bytes]:
    """What a charger's Basic password may stand for: itself, and (for a firmware that sends
    the hex text of its AuthorizationKey instead of the key) the bytes that hex encodes."""
    forms = [given]
    if 32 <= len(given) <= 40 and len(given) % 2 == 0:
        try:
            forms.append(binascii.unhexlify(given))
        except (binascii.Error, ValueError):
            pass
    return forms


def charger_guard() -> LoginGuard:
    # Per charger id as for a user name; per address generous: a whole depot of chargers
    # may sit behind one NAT router, and one misconfigured charger must not lock out the rest.
    return LoginGuard(users=Throttle(base_delay=1.0, max_delay=300.0, free_failures=5),
                      addresses=Throttle(base_delay=1.0, max_delay=60.0, free_failures=50))


class ChargerPasswords:
    def __init__(self, check_password: CheckPassword, guard: LoginGuard | None = None):
        self._check = check_password
        self._guard = guard or charger_guard()
        self._pepper = secrets.token_bytes(32)
        # charger id -> (stored hash it was verified against, HMAC of the password)
        self._verified: OrderedDict[str, tuple[str, bytes]] = OrderedDict()

    async def verify(self, charger_id: str, given: tuple[str, bytes] | None,
                     password_hash: str, remote_ip: str | None) -> bool:
        """Whether ``given`` (user, password) proves the charger's password. Raises
        TooManyRequests (429) while the charger id or the address is throttled, Busy (503)
        when the bcrypt pool is full."""
        if given is None or given[0] != charger_id:
            return False
        mac = hmac.new(self._pepper, given[1], hashlib.sha256).digest()
        known = self._verified.get(charger_id)
        if known is not None and known[0] == password_hash and hmac.compare_digest(known[1], mac):
            self._verified.move_to_end(charger_id)
            return True
        with self._guard.attempt(remote_ip, charger_id) as attempt:
            for form in candidates(given[1]):
                if await self._check(form, password_hash):
                    attempt.succeeded()
                    self._remember(charger_id, password_hash, mac)
                    return True
            attempt.failed()
        return False

    def _remember(self, charger_id: str, password_hash: str, mac: bytes) -> None:
        self._verified[charger_id] = (password_hash, mac)
        self._verified.move_to_end(charger_id)
        while len(self._verified) > _MAX_REMEMBERED:
            self._verified.popitem(last=False)

    def forget(self, charger_id: str) -> None:
        """The charger's password changed or was removed."""
        self._verified.pop(charger_id, None)
