"""The evedge.toml the installer writes once: the hardened site of README "Configuration",
less what needs the site's own files (TLS certificate, host names), left as comments."""

from __future__ import annotations

from .layout import CONFIG_DIR, DATA_DIR


def hardened_settings() -> str:
    return f"""\
# evedge settings (README "Configuration"; `evedge serve --help` lists them all).
# Written once by `evedge install`, never overwritten; `systemctl restart evedge` applies
# a change. The service pins data_dir to {DATA_DIR} (its sandbox writes nowhere else).
data_dir = "{DATA_DIR}"
port = 8000                            # below 1024: README "Ports below 1024"
admission = "pending"                  # unknown charger ids wait for an admin's approval
unknown_id_tags = "invalid"            # only cards in the tag table charge
registration = "closed"                # admins create the accounts
bcrypt_rounds = 12

# TLS for chargers (wss://, OCPP security profile 2) and people (https://). The key must be
# readable by the evedge group: chown root:evedge, chmod 0640.
# tls_cert = "{CONFIG_DIR}/box.crt"
# tls_key = "{CONFIG_DIR}/box.key"
# The names chargers and browsers use for the box, besides its IP addresses and host name:
# allowed_hosts = "evedge.depot.example"
"""
