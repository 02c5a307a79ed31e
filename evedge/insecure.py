"""Insecure choices in force, named once at start-up so that nobody runs them unknowingly.

A check is ``(condition, message)``; the message names the setting and what to do.
``config_checks`` has those of the settings alone; the server logs them with
``warn_insecure`` (server.py), and other parts add theirs to the list it is given.
"""

from __future__ import annotations

import logging
from typing import Iterable

from .config import Config
from .domain import charger_admin
from .storage.private import readable_by_others

Check = tuple[bool, str]


def config_checks(config: Config) -> list[Check]:
    return [
        (not config.tls_cert,
         "tls_cert/tls_key are not set: chargers (ws://), the dashboard and the API (http://) "
         "travel in clear text, so anyone on the site network can read passwords and tokens; "
         "set them (OCPP security profile 2) or terminate TLS in front of evedge"),
        (config.registration == "open",
         f"registration = open: anyone who reaches the box can create a "
         f"{config.registration_role} account through /api/auth/register/; set "
         "registration = closed and have an admin create the accounts"),
        (config.unknown_id_tags == "accept",
         "unknown_id_tags = accept: any RFID card, known or not, starts a charge; meant for "
         "commissioning only"),
        (config.admission == "accept",
         "admission = accept: any device that connects with a new charge point id is "
         "registered as a charger, without a password; use admission = pending (an admin "
         "approves each charger) and give chargers passwords"),
        (bool(config.ftp_port),
         "ftp_port is set: the FTP server is plain FTP (no FTPS), so the logins in its "
         "locations travel in clear text and anyone on the site network who reads one can "
         "use it until it is spent or expires; serve FTP only for chargers that support "
         "nothing else, on a network that only chargers reach"),
        ("*" in config.allowed_host_names,
         "allowed_hosts = *: requests with any Host header are answered, which lets a web "
         "page use DNS rebinding to reach the box through a visitor's browser; list the "
         "names instead"),
    ]


def state_checks(config: Config) -> list[Check]:
    """Checks of what is stored, made once the database is open."""
    bare = charger_admin.without_password()
    shown = ", ".join(bare[:10]) + (f" and {len(bare) - 10} more" if len(bare) > 10 else "")
    return [
        (bool(bare),
         f"{len(bare)} charger(s) have no password ({shown}): anyone on the site network can "
         "connect as one of them while it is offline; give each a password (PATCH "
         "/api/chargers/<id>/ or ChangeConfiguration AuthorizationKey)"),
        (not config.database_url and readable_by_others(config.data_dir),
         f"data_dir {config.data_dir} can be read by other users of this machine (password "
         "hashes, the token secret, every charger's history): chmod 700 it"),
    ]


def warn_insecure(checks: Iterable[Check], log: logging.Logger) -> list[str]:
    """Log one warning per check whose condition holds; returns the messages."""
    messages = [message for condition, message in checks if condition]
    for message in messages:
        log.warning("insecure: %s", message)
    return messages
