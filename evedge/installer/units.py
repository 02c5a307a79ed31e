"""The systemd units, written from one place (the installer, the .deb and systemd/).

``HARDENING`` is the sandbox of both services: each entry is tested on its own by
tests/test_unit_hardening.py (the binary must still start under it), and all of them
together are the installed unit that serves there. README "What the unit allows".
"""

from __future__ import annotations

from .layout import BACKUP_CACHE_DIR, CACHE_DIR, CONFIG_FILE, DATA_DIR, ENV_FILE, USER

# (option, value, why). Order is the order in the unit.
HARDENING: tuple[tuple[str, str, str], ...] = (
    ("UMask", "0077", "the database, secret and uploads are evedge's alone"),
    ("NoNewPrivileges", "yes", "no setuid program can give the process more rights"),
    ("ProtectSystem", "strict", "the whole file system is read-only ..."),
    ("ReadWritePaths", DATA_DIR, "... but the data dir (CacheDirectory= is writable too)"),
    ("ProtectHome", "yes", "/home, /root and /run/user are not there"),
    ("PrivateTmp", "yes", "its own /tmp, emptied when it stops"),
    ("PrivateDevices", "yes", "only /dev/null, zero, full, random, urandom, tty and the like"),
    ("ProtectKernelTunables", "yes", "/proc/sys, /sys read-only"),
    ("ProtectKernelModules", "yes", "no module loading"),
    ("ProtectKernelLogs", "yes", "no kernel log"),
    ("ProtectControlGroups", "yes", "cgroups read-only"),
    ("ProtectClock", "yes", "cannot set the clock (chargers' times depend on it)"),
    ("ProtectHostname", "yes", "cannot change the host name"),
    ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX", "IP and local sockets only"),
    ("RestrictNamespaces", "yes", "no new namespaces"),
    ("RestrictRealtime", "yes", "no realtime scheduling"),
    ("RestrictSUIDSGID", "yes", "cannot make setuid files"),
    ("LockPersonality", "yes", "no execution-domain changes"),
    ("MemoryDenyWriteExecute", "yes",
     "no memory both writable and executable (CPython and the bootloader need none)"),
    ("SystemCallFilter", "@system-service", "the system calls of an ordinary service"),
    ("SystemCallErrorNumber", "EPERM",
     "a refused call fails with an error in the log instead of killing the server"),
    ("SystemCallArchitectures", "native", "no other-ABI system calls"),
    ("CapabilityBoundingSet", "", "no capabilities at all: port 8000 needs none"),
    ("AmbientCapabilities", "", "(port 80/443: README 'Ports below 1024')"),
)

_HEADER = """\
# Written by `evedge install` (README "Deploying on the box"); the next `evedge install`
# writes it again, so put local changes in a drop-in: systemctl edit {name}
"""

_SERVICE = """\
[Unit]
Description=evedge OCPP 1.6J Central System
Documentation=file:///usr/share/doc/evedge/README.md
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={user}
Group={user}
# The data dir: the database, the JWT secret, firmware and diagnostics files.
StateDirectory=evedge
StateDirectoryMode=0700
WorkingDirectory={data}
Environment=EVEDGE_CONFIG={config}
# Pinned here (not only in the config) because the sandbox lets evedge write nowhere else.
Environment=EVEDGE_DATA_DIR={data}
EnvironmentFile=-{env}
{unpack}\
ExecStart={binary} serve
# SIGTERM to the bootloader only; it forwards it to the Python process, which closes
# charger sockets (1001) and commits before exiting. SIGKILL to all after the timeout.
KillMode=mixed
TimeoutStopSec=20
Restart=always
RestartSec=2
# Thousands of chargers = thousands of sockets.
LimitNOFILE=65536
{hardening}
[Install]
WantedBy=multi-user.target
"""

_BACKUP_SERVICE = """\
# Nightly backup, started by evedge-backup.timer (README "Backup and restore"). It runs
# while evedge serves: the database copy is consistent and never blocks the server.
# Keep {backups} on another device than the data (the flash card is what dies).
[Unit]
Description=evedge backup (database, JWT secret, firmware files)
Documentation=file:///usr/share/doc/evedge/README.md
After=evedge.service
RequiresMountsFor={backups}

[Service]
Type=oneshot
User={user}
Group={user}
Environment=EVEDGE_CONFIG={config}
Environment=EVEDGE_DATA_DIR={data}
EnvironmentFile=-{env}
{unpack}\
# Keeps the newest 14 archives (evedge-backup-YYYYmmddTHHMMSSZ.tar.gz); add
# --with-diagnostics for the chargers' diagnostics uploads. On PostgreSQL: see the README.
ExecStart={binary} backup {backups}/ --keep 14
# Second place to the server for the CPU (gzip) and the disk.
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
{hardening}\
# And the archives. (The data dir is writable too: even a read-only SQLite connection
# writes the WAL index, evedge.db-shm.)
ReadWritePaths={backups}
"""

_TIMER = """\
# Starts evedge-backup.service every night; a run missed while the box was off is made up
# at the next boot (Persistent=).
[Unit]
Description=Nightly evedge backup

[Timer]
OnCalendar=*-*-* 03:15:00
Persistent=true
RandomizedDelaySec=10min

[Install]
WantedBy=timers.target
"""

# The one-file binary unpacks itself (about 60 MB) under TMPDIR at every start, and runs
# from there, so TMPDIR must allow exec: /tmp and /run often do not (noexec), and /run is
# RAM. Each unit gets its own directory under /var/cache, outside the data dir (backups
# and restores never see it); what a killed run left there is removed before the next.
_UNPACK = """\
CacheDirectory={cache_name}
CacheDirectoryMode=0700
Environment=TMPDIR={cache}
ExecStartPre=/usr/bin/find {cache} -mindepth 1 -maxdepth 1 -name _MEI* -exec rm -rf {{}} +
"""


def _hardening() -> str:
    lines = ["# The sandbox (README \"What the unit allows\")."]
    for option, value, why in HARDENING:
        lines += [f"# {why}", f"{option}={value}"]
    return "\n".join(lines) + "\n"


def _unpack(cache: str) -> str:
    return _UNPACK.format(cache=cache, cache_name=cache.removeprefix("/var/cache/"))


def _fields(binary: str) -> dict[str, str]:
    return {"user": USER, "data": DATA_DIR, "config": CONFIG_FILE, "env": ENV_FILE,
            "binary": binary, "hardening": _hardening()}


def service_unit(binary: str) -> str:
    """evedge.service, running ``binary serve``."""
    body = _SERVICE.format(**_fields(binary), unpack=_unpack(CACHE_DIR))
    return _HEADER.format(name="evedge") + body


def backup_service_unit(binary: str, backups: str) -> str:
    """evedge-backup.service, archiving into the directory ``backups``."""
    return _HEADER.format(name="evedge-backup") + _BACKUP_SERVICE.format(
        **_fields(binary), unpack=_unpack(BACKUP_CACHE_DIR), backups=backups)


def backup_timer_unit() -> str:
    return _HEADER.format(name="evedge-backup.timer") + _TIMER
