"""Configuration: every setting declared once, with its default and help text.

Precedence, lowest first: defaults, the TOML file given by ``--config`` (or
``EVEDGE_CONFIG``), ``EVEDGE_*`` environment variables, command-line options.
Everything else in evedge receives a built :class:`Config`; nothing reads the
environment on its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

ENV_PREFIX = "EVEDGE_"
MIN_BCRYPT_ROUNDS, MAX_BCRYPT_ROUNDS = 10, 16
MIN_JWT_SECRET_BYTES = 32  # HS256's key should be as long as its hash (RFC 7518 §3.2)
MIN_METRICS_TOKEN_CHARS = 16  # 16 random characters are out of any online guessing's reach
# Largest request body held in memory (the HTTP server's max_buffer_size, server.py).
MAX_BUFFERED_BODY_BYTES = 4 * 1024 * 1024
_TOKEN = re.compile(r"[\x21-\x7e]+")  # what an Authorization header carries as it is
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_HOST_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")


class ConfigError(ValueError):
    """A setting has a value evedge cannot use; the message names the setting."""


def setting(default: Any, help: str, choices: Sequence[str] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class Config:
    """All settings of one evedge instance."""

    host: str = setting("0.0.0.0", "Address to listen on.")
    port: int = setting(8000, "TCP port for OCPP, the REST API and the dashboard.")
    data_dir: Path = setting(
        Path("var"), "Directory for the database, the JWT secret, firmware and diagnostics files."
    )
    database_url: str = setting(
        "", "Database URL (sqlite:////abs/path.db or postgresql://...); empty = data_dir/evedge.db."
    )
    sqlite_synchronous: str = setting(
        "full",
        "SQLite synchronous mode. 'full' makes every acknowledged message survive a power cut; "
        "'normal' is faster but may lose the last commits on power loss.",
        ("full", "normal"),
    )
    commit_window: float = setting(
        0.002,
        "Seconds charger messages are gathered into one database commit (group commit); "
        "answers wait for it. Larger windows mean fewer disk syncs and more latency.",
    )
    log_level: str = setting("info", "Log level of evedge itself.",
                             ("debug", "info", "warning", "error"))
    ocpp_log_level: str = setting(
        "warning", "Log level of the ocpp library ('info' logs every frame).",
        ("debug", "info", "warning", "error"),
    )
    heartbeat_interval: int = setting(
        300, "Heartbeat interval in seconds sent to chargers in BootNotification.conf."
    )
    boot_retry_interval: int = setting(
        60, "Seconds a Pending or Rejected charger waits before its next BootNotification."
    )
    admission: str = setting(
        "accept",
        "What to do with an unknown charger id: 'accept' registers it, 'pending' registers it "
        "as Pending until an admin approves it, 'reject' refuses the connection.",
        ("accept", "pending", "reject"),
    )
    unknown_id_tags: str = setting(
        "invalid",
        "Answer for id tags that are not in the tag table: 'invalid' (OCPP default) or "
        "'accept' (commissioning only: any card charges).",
        ("invalid", "accept"),
    )
    allow_missing_subprotocol: bool = setting(
        True,
        "Accept chargers that offer no WebSocket subprotocol as OCPP 1.6 (many firmwares omit it).",
    )
    command_timeout: float = setting(
        30.0, "Seconds to wait for a charger's answer to a remote command before giving up (504)."
    )
    orphan_timeout: int = setting(
        86400,
        "Seconds a charger may stay offline before its open transactions are closed as inferred.",
    )
    reboot_grace: int = setting(
        600,
        "Seconds after a BootNotification for the charger to send the StopTransactions it queued; "
        "a transaction begun before the reboot and silent since (no StopTransaction, no "
        "MeterValues, connector not charging) is then closed as inferred.",
    )
    strict_validation: bool = setting(
        False,
        "Answer every deviation from the OCPP 1.6 JSON schemas with its CALLERROR (conformance "
        "runs). Off: deviations whose meaning is clear (unknown properties, over-long strings, "
        "numbers as text, unlisted enum values...) are repaired and recorded as anomalies.",
    )
    meter_retention_days: int = setting(
        30,
        "Delete meter samples received more than this many days ago (0 keeps them forever). "
        "Transactions and their energy are kept; a sample costs ~150 bytes, 2 MB per charger "
        "and day metering every minute.",
    )
    forget_pending_after_days: float = setting(
        14.0,
        "Delete chargers that registered themselves as Pending, never had a transaction and "
        "were not seen for this many days (0 keeps them), so that the approval list holds "
        "the chargers really waiting.",
    )
    ws_ping_interval: float = setting(
        30.0, "Seconds between WebSocket pings; a charger that stops answering is dropped."
    )
    ws_ping_timeout: float = setting(
        20.0, "Seconds to wait for a pong before dropping a charger (at most ws_ping_interval)."
    )
    takeover_probe_timeout: float = setting(
        3.0,
        "Seconds a connected charger has to answer a WebSocket ping when another connection "
        "claims its id without its password: if it answers, the newcomer is refused (409).",
    )
    max_opening_connections: int = setting(
        64,
        "Connections handled at once in their opening phase (until the WebSocket handshake is "
        "done or the first request's headers are read); more wait, accepted but idle, so that a "
        "reconnect storm cannot starve connected chargers. 0 = no limit.",
    )
    dashboard_auth_timeout: float = setting(
        5.0, "Seconds a dashboard socket has to send its auth message before it is closed (4401)."
    )
    dashboard_recheck_interval: float = setting(
        60.0, "Seconds between checks that a dashboard socket's token still works."
    )
    dashboard_max_pending_bytes: int = setting(
        2 * 1024 * 1024,
        "Bytes waiting in a dashboard socket's write buffer at which the browser is dropped "
        "(too slow; it reconnects to a fresh snapshot).",
    )
    max_connector_id: int = setting(
        32, "Highest connectorId a charger may report; larger ones get PropertyConstraintViolation."
    )
    opening_deadline: float = setting(
        10.0,
        "Seconds a connection holding an opening slot has to finish its request (a WebSocket "
        "upgrade, or a plain request's headers); slower ones are closed (slowloris).",
    )
    max_opening_per_address: int = setting(
        16,
        "Opening slots one client address may hold at once; more from it wait. Chargers behind "
        "one NAT router share an address, so this is a share, not one each.",
    )
    charger_message_rate: float = setting(
        10.0,
        "Sustained frames per second read from one charger (a frame also costs one unit per "
        "4 KiB); a charger above it is read more slowly, nothing it sends is dropped.",
    )
    charger_message_burst: float = setting(
        600.0,
        "Frames a charger may send at full speed above charger_message_rate (an offline queue "
        "replayed after an outage goes through unslowed).",
    )
    max_message_size: int = setting(
        256 * 1024, "Largest WebSocket frame accepted from a charger, in bytes."
    )
    request_body_timeout: float = setting(
        30.0, "Seconds a client has to send a request body (file uploads: upload_timeout)."
    )
    upload_timeout: float = setting(
        3600.0, "Seconds a firmware or diagnostics upload may take to arrive."
    )
    max_buffered_bodies: int = setting(
        64 * 1024 * 1024,
        "Bytes of request bodies held in memory at once, over all connections (file uploads "
        "stream to disk and do not count); a body beyond it is refused and its connection closed.",
    )
    firmware_max_bytes: int = setting(
        256 * 1024 * 1024, "Largest firmware file accepted for upload, in bytes (larger: 413)."
    )
    diagnostics_max_bytes: int = setting(
        64 * 1024 * 1024, "Largest diagnostics file a charger may upload, in bytes (larger: 413)."
    )
    diagnostics_quota_per_charger: int = setting(
        256 * 1024 * 1024, "Bytes of diagnostics files one charger may keep on the box (507)."
    )
    diagnostics_quota_total: int = setting(
        1024 * 1024 * 1024, "Bytes of diagnostics files all chargers together may keep (507)."
    )
    diagnostics_grant_ttl: int = setting(
        2 * 86400,
        "Seconds a diagnostics location handed to a charger stays valid (it is single-use).",
    )
    firmware_grant_ttl: int = setting(
        7 * 86400,
        "Seconds an ftp:// firmware location handed out for UpdateFirmware stays valid; until "
        "then the charger may download (and resume) that one file as often as it needs.",
    )
    ftp_port: int = setting(
        0,
        "TCP port of the FTP server for chargers that transfer files only by FTP (firmware "
        "downloads, diagnostics uploads; e.g. 2121); 0 = no FTP server.",
    )
    ftp_host: str = setting(
        "", "Address the FTP server listens on; empty = host. A specific address is also the "
            "host in the ftp:// locations the box hands out.")
    ftp_passive_ports: str = setting(
        "",
        "Ports for FTP passive-mode data connections, as a range (60000-60099) to open in a "
        "firewall or forward through NAT; empty = any free port.",
    )
    ftp_login_failure_delay: float = setting(
        3.0, "Seconds before a failed FTP login is answered (slows down guessing).")
    min_free_bytes: int = setting(
        64 * 1024 * 1024,
        "Free space, in bytes, every upload must leave on the data_dir volume, so that the "
        "database can still commit (else 507).",
    )
    access_token_ttl: int = setting(900, "Lifetime of API access tokens, in seconds.")
    refresh_token_ttl: int = setting(7 * 86400, "Lifetime of API refresh tokens, in seconds.")
    registration: str = setting(
        "closed",
        "Self-registration through /api/auth/register/ once the box has its admin: 'closed' "
        "(admins create the accounts) or 'open' (anyone who reaches the box gets a "
        "registration_role account, as the original system did).",
        ("closed", "open"),
    )
    registration_role: str = setting(
        "viewer", "Role given to self-registered accounts (registration = open).",
        ("viewer", "operator")
    )
    bcrypt_rounds: int = setting(
        12, f"bcrypt cost factor for user and charger passwords ({MIN_BCRYPT_ROUNDS} to "
            f"{MAX_BCRYPT_ROUNDS}; each step doubles the time of a login).")
    allowed_hosts: str = setting(
        "",
        "Comma-separated host names the box answers to besides IP addresses, localhost and its "
        "own host name (and FQDN, and <hostname>.local); a leading dot allows the subdomains "
        "too ('.depot.example'), '*' any name. Other Host headers get 400 (DNS rebinding).",
    )
    max_json_body_bytes: int = setting(
        64 * 1024, "Largest JSON request body the API reads, in bytes (larger: 413).")
    max_site_model_bytes: int = setting(
        1024 * 1024, "Largest site model PUT /api/site/ reads, in bytes (larger: 413; at most "
        "4 MiB). Read only once the caller is known to be an admin, so it may exceed "
        "max_json_body_bytes. 1 MiB holds about 6,000 chargers with every field written out, "
        "20,000 with only their id and circuit.")
    tls_cert: str = setting(
        "", "PEM certificate file; with tls_key, serve https/wss (OCPP security profile 2).")
    tls_key: str = setting("", "PEM private key file for tls_cert.")
    tls_ciphers: str = setting(
        "ECDHE+AESGCM:ECDHE+CHACHA20:AES128-GCM-SHA256:AES256-GCM-SHA384",
        "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are always on). The default is "
        "forward-secret suites first, plus the two TLS_RSA_WITH_AES_*_GCM suites the OCPP 1.6 "
        "security whitepaper names for RSA certificates, which many chargers are limited to.",
    )
    jwt_secret: str = setting(
        "", f"JWT signing secret, at least {MIN_JWT_SECRET_BYTES} bytes; empty = generated on "
            "first start and kept in data_dir (mode 0600)."
    )
    metrics_token: str = setting(
        "", f"Bearer token Prometheus may scrape GET /metrics with (at least "
            f"{MIN_METRICS_TOKEN_CHARS} visible ASCII characters); empty = only a logged-in "
            "user's access token (any role) is accepted. /metrics is never open.")
    site_model_file: str = setting(
        "", "JSON file with the site model for load management (circuits, chargers; see "
            "docs/load-management.md), read at start-up; then PUT /api/site/ answers 409. "
            "Empty: the model is the one stored through the API.")
    load_debounce: float = setting(
        0.05, "Seconds load management gathers events (sessions starting and stopping, "
              "chargers going offline) into one allocation; the longest a decrease waits.")
    load_increase_interval: float = setting(
        10.0, "Seconds between two raised limits sent to one charger (lowered limits always "
              "go out at once).")
    load_reaction_time: float = setting(
        5.0, "Seconds a car takes to follow a lowered limit (IEC 61851-1: 5 s); capacity a "
             "decrease frees is given to others only that long after the charger accepted it.")
    load_current_threshold: float = setting(
        1.0, "Amperes a measured current (grid meter, a charger under a metered circuit, a "
             "car drawing less than its limit) must move on a phase before load management "
             "allocates again.")
    load_demand_headroom: float = setting(
        2.0, "Amperes above its measured Current.Import that a car drawing clearly less than "
             "its limit keeps (its own charger or a full battery holds it); the rest of its "
             "share goes to the others. 0: every session keeps its full share.")
    load_measured_max_age: float = setting(
        300.0, "Seconds a charger's measured Current.Import counts (for the grid meters' "
               "other loads and for display); older readings are ignored.")
    grid_meter_max_age: float = setting(
        30.0, "Seconds a grid meter reading is trusted; a circuit whose meter is silent "
              "longer counts as fully loaded by other loads (its sessions are queued).")
    modbus_poll_interval: float = setting(
        2.0, "Seconds between two readings of a Modbus TCP grid meter (also its timeout).")
    # Not a setting (no file, variable or option reaches it): the test suite's way to cheap
    # bcrypt (cost 4, about 1 ms) for its hundreds of accounts. Production cannot set it
    # by accident, and with it unset a bcrypt_rounds below 10 is a configuration error.
    _cheap_bcrypt_for_tests: bool = field(default=False, repr=False,
                                          metadata={"private": True})

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise ConfigError(f"{f.name} must be one of {', '.join(choices)}")
        if not 0 < self.port < 65536:
            raise ConfigError("port must be between 1 and 65535")
        if self.ws_ping_timeout > self.ws_ping_interval:
            # Tornado 6.5+ clamps the timeout to the interval with a warning; say it up front.
            raise ConfigError("ws_ping_timeout must not exceed ws_ping_interval")
        if self.orphan_timeout <= 0 or self.reboot_grace <= 0:
            raise ConfigError("orphan_timeout and reboot_grace must be positive")
        if self.opening_deadline <= 0 or self.max_opening_per_address < 1:
            raise ConfigError("opening_deadline must be positive and max_opening_per_address "
                              "at least 1")
        if self.charger_message_rate <= 0 or self.charger_message_burst < 1:
            raise ConfigError("charger_message_rate must be positive and charger_message_burst "
                              "at least 1")
        if self.max_opening_connections < 0:
            raise ConfigError("max_opening_connections must not be negative (0 = no limit)")
        if not 1 <= self.max_connector_id <= 10_000:
            raise ConfigError("max_connector_id must be between 1 and 10000")
        if self.takeover_probe_timeout <= 0:
            raise ConfigError("takeover_probe_timeout must be positive")
        if self.command_timeout <= 0:
            raise ConfigError("command_timeout must be positive")
        self._check_load_settings()
        if min(self.request_body_timeout, self.upload_timeout) <= 0 \
                or self.max_buffered_bodies < 1024 * 1024:
            raise ConfigError("request_body_timeout and upload_timeout must be positive, "
                              "max_buffered_bodies at least 1 MiB")
        if self.firmware_max_bytes <= 0 or self.diagnostics_max_bytes <= 0:
            raise ConfigError("firmware_max_bytes and diagnostics_max_bytes must be positive")
        if self.meter_retention_days < 0:
            raise ConfigError("meter_retention_days must not be negative (0 keeps samples)")
        if self.min_free_bytes < 0:
            raise ConfigError("min_free_bytes must not be negative")
        self._check_ftp()
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("tls_cert and tls_key must be set together")
        self._check_secrets()
        self._check_ciphers()
        if self.max_json_body_bytes < 1024:
            raise ConfigError("max_json_body_bytes must be at least 1024")
        if not 1024 <= self.max_site_model_bytes <= MAX_BUFFERED_BODY_BYTES:
            raise ConfigError("max_site_model_bytes must be from 1024 to "
                              f"{MAX_BUFFERED_BODY_BYTES} (4 MiB)")
        for name in self.allowed_host_names:
            if name != "*" and not _HOST_NAME.fullmatch(name.removeprefix(".")):
                raise ConfigError(f"allowed_hosts: {name!r} is not a host name "
                                  "(no scheme, port or path)")

    def _check_ciphers(self) -> None:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(self.tls_ciphers)
        except ssl.SSLError:
            raise ConfigError(f"tls_ciphers: {self.tls_ciphers!r} names no cipher this "
                              "OpenSSL knows") from None

    def _check_load_settings(self) -> None:
        if not 0 < self.load_debounce <= 1:
            raise ConfigError("load_debounce must be above 0 and at most 1 s (a lowered limit "
                              "waits that long)")
        for name in ("load_increase_interval", "load_reaction_time", "load_current_threshold",
                     "load_demand_headroom"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        for name in ("load_measured_max_age", "grid_meter_max_age", "modbus_poll_interval"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")

    def _check_secrets(self) -> None:
        low = 4 if self._cheap_bcrypt_for_tests else MIN_BCRYPT_ROUNDS
        if not low <= self.bcrypt_rounds <= MAX_BCRYPT_ROUNDS:
            raise ConfigError(f"bcrypt_rounds must be between {MIN_BCRYPT_ROUNDS} and "
                              f"{MAX_BCRYPT_ROUNDS} (below, a stolen database gives up its "
                              "passwords quickly)")
        if self.metrics_token and (len(self.metrics_token) < MIN_METRICS_TOKEN_CHARS
                                   or not _TOKEN.fullmatch(self.metrics_token)):
            raise ConfigError(f"metrics_token must be at least {MIN_METRICS_TOKEN_CHARS} "
                              "visible ASCII characters (no blanks), or empty")
        if self.jwt_secret and len(self.jwt_secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ConfigError(f"jwt_secret must be at least {MIN_JWT_SECRET_BYTES} bytes, or "
                              "empty to have one generated")

    def _check_ftp(self) -> None:
        if not 0 <= self.ftp_port < 65536:
            raise ConfigError("ftp_port must be between 1 and 65535, or 0 for no FTP server")
        if self.ftp_port == self.port:
            raise ConfigError("ftp_port must differ from port")
        self.ftp_passive_port_range  # raises ConfigError naming the setting
        if self.ftp_login_failure_delay < 0 or self.firmware_grant_ttl <= 0:
            raise ConfigError("ftp_login_failure_delay must not be negative and "
                              "firmware_grant_ttl must be positive")

    @property
    def ftp_passive_port_range(self) -> range | None:
        """ftp_passive_ports as a range of ports; None: any free port."""
        text = self.ftp_passive_ports.strip()
        if not text:
            return None
        match = re.fullmatch(r"(\d{1,5})\s*(?:-\s*(\d{1,5}))?", text)
        first, last = (int(match[1]), int(match[2] or match[1])) if match else (0, 0)
        if not 1024 <= first <= last < 65536:
            raise ConfigError(f"ftp_passive_ports: {text!r} is not a range of ports such as "
                              "60000-60099 (1024 to 65535, first to last)")
        return range(first, last + 1)

    @property
    def allowed_host_names(self) -> tuple[str, ...]:
        """allowed_hosts as a list: lower case, without a trailing dot."""
        return tuple(name.strip().lower().rstrip(".") for name in self.allowed_hosts.split(",")
                     if name.strip())

    @property
    def database_path(self) -> Path:
        return self.data_dir / "evedge.db"


def _settings() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(Config) if not f.metadata.get("private")]


def settings_help() -> dict[str, str]:
    """Name -> help text of every setting (used by ``--help`` and the docs test)."""
    return {f.name: f.metadata["help"] for f in _settings()}


def _coerce(name: str, raw: Any) -> Any:
    """Convert a raw file/env/CLI value to the type of setting ``name``."""
    kind = {f.name: f for f in dataclasses.fields(Config)}[name].type
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: cannot use {raw!r} as {kind}") from None


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    names = settings_help()
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    return {k: _coerce(k, v) for k, v in data.items()}


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values = {}
    for name in settings_help():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw)
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` and one ``--<setting>`` option per setting to ``parser``."""
    parser.add_argument("--config", type=Path, help="TOML file with settings (env EVEDGE_CONFIG).")
    for f in _settings():
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(flag, dest=f.name, default=None, help=f.metadata["help"])


def load_config(args: argparse.Namespace | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Build the Config from defaults, the config file, the environment and parsed CLI args."""
    environ = os.environ if environ is None else environ
    cli = {k: v for k, v in vars(args or argparse.Namespace()).items() if v is not None}
    config_file = cli.pop("config", None) or environ.get(ENV_PREFIX + "CONFIG")
    values: dict[str, Any] = {}
    if config_file:
        values.update(_from_file(Path(config_file)))
    values.update(_from_env(environ))
    names = settings_help()
    values.update({k: _coerce(k, v) for k, v in cli.items() if k in names})
    return Config(**values)
