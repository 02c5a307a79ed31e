"""Which protocol a charger gets for a file transfer, and the ftp:// locations the box hands out.

OCPP 1.6 §9.1 lets a charger report ``SupportedFileTransferProtocols`` (a CSL of FTP,
FTPS, HTTP, HTTPS) in GetConfiguration. Many chargers download firmware and upload
diagnostics only by FTP; an HTTP location given to one of them ends in DownloadFailed or
UploadFailed without saying why. The box serves HTTP (or HTTPS, with TLS) and, when
``ftp_port`` is set, plain FTP (not FTPS). :func:`choose` is pure; :func:`reported_by`
reads what the charger's last GetConfiguration taught (domain/command_effects.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from .. import errors
from ..storage.models import Charger
from .command_effects import stored_configuration

KEY = "SupportedFileTransferProtocols"
PROTOCOLS = ("http", "ftp")
# The FTP user names; the password is the grant's token (domain/upload_grants.py).
FIRMWARE_USER, DIAGNOSTICS_USER = "firmware", "diagnostics"
_WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


@dataclass(frozen=True)
class Choice:
    protocol: str  # "http" or "ftp"
    reason: str  # one sentence, for the operator: why this protocol


def parse(value: str | None) -> frozenset[str] | None:
    """The protocols a reported value lists, upper case; None when nothing was reported.

    Lenient: the CSL of §9.1 is comma-separated, but firmwares also send spaces,
    semicolons and lower case (``ftp; http``).
    """
    if value is None or not value.strip():
        return None
    return frozenset(item.upper() for item in re.split(r"[\s,;]+", value) if item)


def choose(reported: str | None, forced: str | None = None, *, box_http: str = "HTTP",
           ftp_on: bool = True) -> Choice:
    """The protocol for a transfer with a charger that reported ``reported``.

    ``forced`` (``?protocol=``) wins. Otherwise HTTP when nothing is known or the
    charger lists the box's HTTP scheme (``box_http``: HTTPS when the box serves TLS),
    FTP when it lists FTP or FTPS but not that scheme, HTTP when it lists nothing the
    box serves. Conflict when the answer is FTP and the box has no FTP server.
    """
    if forced is not None:
        return _forced(forced, ftp_on)
    listed = parse(reported)
    if listed is None:
        return Choice("http", f"the charger has not reported {KEY} (GetConfiguration "
                              "teaches it); HTTP is the default")
    said = f"the charger reports {KEY} = {reported.strip()!r}"
    if box_http in listed:
        return Choice("http", f"{said}, which includes {box_http}")
    if not listed & {"FTP", "FTPS"}:
        return Choice("http", f"{said}, none of which the box serves; HTTP is the default")
    if not ftp_on:
        raise errors.Conflict(f"{said}, without {box_http}, and the box's FTP server is off: "
                              "set ftp_port, or ask for protocol=http", field="protocol")
    if "FTP" not in listed:
        return Choice("ftp", f"{said}, without {box_http}; the box serves plain FTP only "
                             "(no FTPS), which the charger may refuse")
    return Choice("ftp", f"{said}, without {box_http}")


def _forced(forced: str, ftp_on: bool) -> Choice:
    protocol = forced.strip().lower()
    if protocol not in PROTOCOLS:
        raise errors.BadRequest("protocol must be http or ftp", field="protocol")
    if protocol == "ftp" and not ftp_on:
        raise errors.Conflict("the box's FTP server is off (setting ftp_port)", field="protocol")
    return Choice(protocol, f"asked for with protocol={protocol}")


def reported_by(charger_id: str) -> str | None:
    """The charger's last reported SupportedFileTransferProtocols, None if never reported.

    Configuration keys are CiString50 (§7: compared without case), so the lookup is too.
    """
    charger = Charger.get_or_none(Charger.id == charger_id)
    if charger is None:
        return None
    for key, entry in stored_configuration(charger).items():
        if key.casefold() == KEY.casefold() and isinstance(entry, dict):
            value = entry.get("value")
            return value if isinstance(value, str) else None
    return None


def location_host(listen_host: str, request_host: str) -> str:
    """The host in an ftp:// location: the FTP server's own address when it listens on one,
    else the name the client reached the box by (checked against allowed_hosts)."""
    host = request_host if listen_host in _WILDCARD_HOSTS else listen_host
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def ftp_url(host: str, port: int, user: str, token: str, name: str = "") -> str:
    """``ftp://user:token@host:port/name``: the credentials ride in the URL (RFC 1738 §3.1),
    the only way OCPP 1.6 gives a charger to log in for a transfer."""
    return f"ftp://{quote(user, safe='')}:{quote(token, safe='')}@{host}:{port}/{quote(name)}"
