"""Which login and setup-code attempts may go on to a password check, and what a failure
costs: the rules around ``Throttle`` for accounts.

Failures are counted per user name and per client address (``request.remote_ip``; no
exemption for loopback, since behind a reverse proxy on the box every client is loopback).
A blocked key answers 429 with Retry-After before any bcrypt work, and a key already in a
password check answers 429 too: one flooding client holds at most one place in the
bcrypt queue (domain/password_pool.py). A success clears the user name's counter, never
the address's: otherwise a client holding one valid account could log in between guesses
at another and keep its address unthrottled.

Unknown user names count exactly like known ones, so the 429s tell nothing about which
accounts exist. The price of counting per user name: a client that keeps guessing at an
account keeps its owner waiting too (at most ``max_delay`` after each guess).
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from typing import Iterator

from .. import errors
from .throttle import OneAtATime, Throttle

log = logging.getLogger(__name__)


def user_throttle() -> Throttle:
    return Throttle(base_delay=1.0, max_delay=300.0, free_failures=5)


def address_throttle() -> Throttle:
    # More free failures than per user: several technicians may share an address (NAT).
    return Throttle(base_delay=1.0, max_delay=300.0, free_failures=10)


class Attempt:
    def __init__(self, guard: LoginGuard, address: str, username: str | None):
        self._guard, self._address, self._username = guard, address, username

    def failed(self) -> None:
        """One line per block, not per refused attempt (those are not logged at all)."""
        blocked = self._guard.addresses.failed(self._address)
        if blocked:
            log.warning("failed logins or setup codes from %s: refused for %d s",
                        self._address, math.ceil(blocked))
        if self._username is not None:
            blocked = self._guard.users.failed(self._username)
            if blocked:
                log.warning("failed logins for user name %r: refused for %d s",
                            self._username, math.ceil(blocked))

    def succeeded(self) -> None:
        if self._username is not None:
            self._guard.users.succeeded(self._username)


class LoginGuard:
    def __init__(self, users: Throttle | None = None, addresses: Throttle | None = None):
        self.users = users if users is not None else user_throttle()
        self.addresses = addresses if addresses is not None else address_throttle()
        self._busy = OneAtATime()

    @contextmanager
    def attempt(self, address: str | None, username: str | None = None) -> Iterator[Attempt]:
        """Raises TooManyRequests when the address or the user name must wait; else holds
        both for the duration of the attempt."""
        address = address or "unknown"
        waits = [self.addresses.check(address)]
        if username is not None:
            waits.append(self.users.check(username))
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            raise errors.TooManyRequests(
                f"too many failed attempts; try again in {math.ceil(wait)} s", wait)
        keys = [("address", address)] + ([("user", username)] if username is not None else [])
        if self._busy.busy(*keys):
            raise errors.TooManyRequests("another attempt from here or for this account is "
                                         "being checked; try again in a moment", 1)
        with self._busy.hold(*keys):
            yield Attempt(self, address, username)
