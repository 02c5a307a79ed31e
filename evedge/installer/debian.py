"""The Debian package, built with dpkg-deb from the one-file binary: ``make deb``.

The payload is what ``evedge install`` writes (the same units and config, from
``units`` and ``settings_file``), with Debian's places: the binary in /usr/bin, the units
in /lib/systemd/system, the config a conffile. The maintainer scripts create the user
and the directories, but do not enable the service: the first admin comes first
(``evedge createuser``), as with the installer. A purge keeps the data dir.

    python -m evedge.installer.debian dist/evedge --out dist/
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import __version__
from . import units
from .files import copy_file, ensure_dir, write_file
from .layout import (BACKUP_CACHE_DIR, BACKUP_SERVICE, BACKUP_TIMER, CACHE_DIR, CONFIG_DIR,
                     CONFIG_FILE, DATA_DIR, PACKAGE_UNIT_DIR, SERVICE, USER, InstallError)
from .settings_file import hardened_settings

BINARY = "/usr/bin/evedge"
BACKUPS = "/var/backups/evedge"
README = "/usr/share/doc/evedge/README.md"
# ELF e_machine -> Debian architecture (the binary's, not the build machine's).
_ARCHITECTURES = {0x3E: "amd64", 0xB7: "arm64", 0x28: "armhf", 0x03: "i386"}

FIRST_STEPS = f"""\
evedge is installed, not started: create the first admin, then start it
(the box is never reachable without an admin):
  runuser -u {USER} -- env TMPDIR={CACHE_DIR} {BINARY} createuser --config {CONFIG_FILE} \\
      --username admin
  systemctl enable --now evedge
Nightly backups into {BACKUPS}: systemctl enable --now {BACKUP_TIMER}"""

POSTINST = f"""\
#!/bin/sh
# evedge: the user and the directories; the admin enables the service (README).
set -e
if [ "$1" = configure ]; then
    if ! getent passwd {USER} >/dev/null; then
        adduser --system --group --home {DATA_DIR} --no-create-home \\
            --shell /usr/sbin/nologin --gecos "evedge OCPP central system" {USER}
    fi
    install -d -o {USER} -g {USER} -m 0700 {DATA_DIR} {CACHE_DIR} {BACKUP_CACHE_DIR}
    [ -d {BACKUPS} ] || install -d -o {USER} -g {USER} -m 0700 {BACKUPS}
    chown root:{USER} {CONFIG_DIR} {CONFIG_FILE}
    chmod 0750 {CONFIG_DIR}
    chmod 0640 {CONFIG_FILE}
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
        # An upgrade: prerm stopped what runs; start again what is enabled.
        for unit in {SERVICE} {BACKUP_TIMER}; do
            if [ -n "$2" ] && systemctl is-enabled --quiet "$unit"; then
                systemctl start "$unit" || true
            fi
        done
    fi
    if [ -z "$2" ]; then
        cat <<'EOF'
{FIRST_STEPS}
EOF
    fi
fi
exit 0
"""

PRERM = f"""\
#!/bin/sh
set -e
units="{SERVICE} {BACKUP_TIMER} {BACKUP_SERVICE}"
if [ -d /run/systemd/system ]; then
    systemctl stop $units >/dev/null 2>&1 || true
fi
if [ "$1" = remove ]; then
    systemctl disable $units >/dev/null 2>&1 || true
fi
exit 0
"""

POSTRM = f"""\
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
    rm -rf {CACHE_DIR} {BACKUP_CACHE_DIR}
    rmdir {CONFIG_DIR} 2>/dev/null || true
    echo "evedge: kept {DATA_DIR} (the database) and the user {USER}; if they must go:"
    echo "  rm -rf {DATA_DIR} && deluser --system {USER}"
fi
exit 0
"""


def architecture(binary: Path) -> str:
    """The Debian architecture of an ELF executable, from its header."""
    with open(binary, "rb") as fh:
        header = fh.read(20)
    if header[:4] != b"\x7fELF" or len(header) < 20:
        raise InstallError(f"{binary} is not an ELF executable (build it with make build)")
    machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    if machine not in _ARCHITECTURES:
        raise InstallError(f"{binary}: unknown ELF machine {machine:#x}")
    return _ARCHITECTURES[machine]


def _control(arch: str, installed_kib: int) -> str:
    return f"""\
Package: evedge
Version: {__version__}
Architecture: {arch}
Maintainer: evedge <root@localhost>
Installed-Size: {installed_kib}
Depends: adduser
Section: net
Priority: optional
Description: OCPP 1.6J central system for the gateway box of an EV charging depot
 One self-contained program (a PyInstaller one-file executable): chargers connect
 over OCPP-J WebSockets, technicians use its REST API and dashboard, and it keeps
 working with no internet. Runs as the systemd service evedge, sandboxed.
"""


def _payload(stage: Path, binary: Path, readme: Path | None) -> None:
    def at(path: str) -> Path:
        target = stage / path.lstrip("/")
        ensure_dir(target.parent, 0o755)
        return target
    copy_file(binary, at(BINARY), 0o755)
    unit_texts = {SERVICE: units.service_unit(BINARY),
                  BACKUP_SERVICE: units.backup_service_unit(BINARY, BACKUPS),
                  BACKUP_TIMER: units.backup_timer_unit()}
    for name, text in unit_texts.items():
        write_file(at(f"{PACKAGE_UNIT_DIR}/{name}"), text.encode(), 0o644)
    write_file(at(CONFIG_FILE), hardened_settings().encode(), 0o640)
    os.chmod(stage / CONFIG_DIR.lstrip("/"), 0o750)
    if readme is not None:
        copy_file(readme, at(README), 0o644)


def _size_kib(stage: Path) -> int:
    return sum(-(-p.stat().st_size // 1024) for p in stage.rglob("*") if p.is_file())


def _source_readme() -> Path | None:
    readme = Path(__file__).resolve().parents[2] / "README.md"
    return readme if readme.is_file() else None


def build_deb(binary: Path, out_dir: Path, readme: Path | None = None) -> Path:
    """Build ``evedge_<version>_<arch>.deb`` in ``out_dir`` from ``binary``; its path.
    ``readme`` (default: the source tree's README.md) is shipped as the documentation."""
    readme = readme or _source_readme()
    if shutil.which("dpkg-deb") is None:
        raise InstallError("dpkg-deb is not installed (apt-get install dpkg)")
    arch = architecture(binary)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="evedge-deb-") as temp:
        stage = Path(temp) / "stage"
        stage.mkdir(mode=0o755)
        _payload(stage, binary, readme)
        debian = stage / "DEBIAN"
        ensure_dir(debian, 0o755)
        write_file(debian / "control", _control(arch, _size_kib(stage)).encode(), 0o644)
        write_file(debian / "conffiles", f"{CONFIG_FILE}\n".encode(), 0o644)
        for name, script in (("postinst", POSTINST), ("prerm", PRERM), ("postrm", POSTRM)):
            write_file(debian / name, script.encode(), 0o755)
        package = out_dir / f"evedge_{__version__}_{arch}.deb"
        # The binary is compressed inside already: xz would spend a minute for little.
        result = subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build",
                                 str(stage), str(package)], capture_output=True, text=True)
        if result.returncode != 0:
            raise InstallError(f"dpkg-deb failed: {result.stderr.strip()}")
    return package


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evedge.installer.debian",
                                     description="Build the evedge .deb from the binary.")
    parser.add_argument("binary", type=Path, help="The one-file binary (make build: dist/evedge).")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="Directory for the .deb.")
    parser.add_argument("--readme", type=Path, default=None,
                        help=f"Shipped as {README} (default: README.md beside evedge/).")
    args = parser.parse_args(argv)
    try:
        if not args.binary.is_file():
            raise InstallError(f"{args.binary}: no such binary (make build)")
        if args.readme is not None and not args.readme.is_file():
            raise InstallError(f"--readme: {args.readme}: no such file")
        package = build_deb(args.binary, args.out, args.readme)
    except InstallError as exc:
        print(f"evedge deb: {exc}", file=sys.stderr)
        return 1
    print(package)
    return 0


if __name__ == "__main__":
    sys.exit(main())
