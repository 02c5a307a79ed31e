"""Which Host headers the box answers to: the defence against DNS rebinding.

A web page anywhere can have a browser on the site network send requests to the box
under the page's own domain name, once that name resolves to the box's address (DNS
rebinding); the browser then treats the box as the attacker's own origin and lets the
page read the answers. The Host header gives it away: it carries the attacker's name. So
the box answers only a Host that is an IP address (rebinding needs a name), ``localhost``,
one of the box's own names, or one the site configured (setting ``allowed_hosts``).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import threading
from typing import Iterable

log = logging.getLogger(__name__)


def parse_host(header: str) -> tuple[str, bool] | None:
    """(name or address, in brackets?) of a Host header, lower case, without the port or a
    trailing dot; None when it is not of that form."""
    header = header.strip().lower()
    if header.startswith("["):
        name, bracket, rest = header[1:].partition("]")
        if not bracket or (rest and not (rest[0] == ":" and rest[1:].isdigit())):
            return None
        return name, True
    name, colon, port = header.rpartition(":") if ":" in header else (header, "", "")
    if ":" in name or (colon and not port.isdigit()):
        return None  # an IPv6 address must be in brackets
    name = name.removesuffix(".")
    return (name, False) if name else None


def is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class AllowedHosts:
    """The Host check. ``configured`` are allowed_hosts' names (``.suffix`` allows a
    domain and its subdomains, ``*`` anything); ``own`` the box's own names."""

    def __init__(self, configured: Iterable[str] = (), own: Iterable[str] = ()):
        configured = [name.lower().removesuffix(".") for name in configured]
        self.any = "*" in configured
        self._names = {"localhost", *(name.lower() for name in own),
                       *(name for name in configured if not name.startswith("."))}
        self._suffixes = tuple(name for name in configured if name.startswith(".") and name != ".")

    def allows(self, header: str) -> bool:
        if self.any:
            return True
        parsed = parse_host(header)
        if parsed is None:
            return False
        name, bracketed = parsed
        if is_ip_address(name):
            return True
        if bracketed:
            return False
        return name in self._names or any(name == suffix[1:] or name.endswith(suffix)
                                          for suffix in self._suffixes)


@functools.cache
def own_host_names(timeout: float = 2.0) -> frozenset[str]:
    """The box's host name, its FQDN and its mDNS name (``<hostname>.local``), which a
    technician may type. Resolved once per process; the FQDN lookup can wait on a DNS
    server a box without internet cannot reach, so it gets ``timeout`` seconds."""
    hostname = socket.gethostname()
    found: list[str] = []
    lookup = threading.Thread(target=lambda: found.append(socket.getfqdn(hostname)),
                              daemon=True, name="fqdn")
    lookup.start()
    lookup.join(timeout)
    if not found:
        log.warning("no FQDN for %s within %g s; add it to allowed_hosts if it is used",
                    hostname, timeout)
    short = hostname.split(".")[0]
    names = {hostname, short, short + ".local", *found[:1]}
    return frozenset(name.lower().removesuffix(".") for name in names if name)
