"""The live install and the hardened unit, under a real systemd as PID 1.

This machine's PID 1 is not systemd, so ``systemd-run`` cannot run here. Instead a
container is booted with ``systemd-nspawn`` (package systemd-container) from an overlay
of this machine's own root: systemd 252 as the container's PID 1, a private network,
every write going to a tmpfs that is thrown away. tests/container_checks.py runs there
as root: ``evedge install`` for real (user, units, first admin, systemctl enable --now),
the service answering OCPP and the API inside its sandbox, each option of
``units.HARDENING`` on its own under ``systemd-run``, a kill -9, the backup unit, an
upgrade, ``evedge uninstall --purge`` and the .deb through dpkg.

What a container cannot show: nspawn itself already withholds some capabilities and
system calls from everything in it, so options such as ProtectKernelModules are shown
not to break evedge, not to be what stops a module load.

Needs root, overlayfs, systemd-nspawn and the one-file binary (EVEDGE_FROZEN_BINARY: the
sandbox hides /root, where a source checkout's interpreter may live); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from evedge.installer import debian
from evedge.installer.units import HARDENING

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINARY = os.environ.get("EVEDGE_FROZEN_BINARY", "")
BOOT_TIMEOUT = 240
# The checks run from this checkout and its virtualenv, bound read-only into the container:
# the container's /tmp is its own, and a clone (CI's, say) may live there.
REPO = "/evedge-check/repo"
IN_VENV = sys.prefix != sys.base_prefix
PYTHON = (f"/evedge-check/venv/bin/{pathlib.Path(sys.executable).name}" if IN_VENV
          else sys.executable)
BINDS = [f"--bind-ro={ROOT}:{REPO}", *([f"--bind-ro={sys.prefix}:/evedge-check/venv"]
                                       if IN_VENV else [])]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(BOOT_TIMEOUT + 60)]

CHECK_UNITS = {
    "evedge-check.target": """\
[Unit]
Description=evedge installation checks
Requires=basic.target evedge-check.service
After=basic.target evedge-check.service
AllowIsolate=yes
""",
    "evedge-check.service": """\
[Unit]
Description=evedge installation checks
After=basic.target
SuccessAction=exit
FailureAction=exit

[Service]
Type=oneshot
Environment=PYTHONPATH={root}
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ExecStart={python} {root}/tests/container_checks.py {binary} /evedge-check/results.json {deb}
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec={timeout}
""",
}


def _why_not() -> str | None:
    if not BINARY:
        return "set EVEDGE_FROZEN_BINARY=dist/evedge (make build)"
    if os.geteuid() != 0:
        return "booting a container needs root"
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn is not installed (apt-get install systemd-container)"
    return None


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)


def _write_check_units(merged: pathlib.Path, deb: pathlib.Path) -> None:
    """The checks' units, and the binary and the package where the container sees them
    (its /tmp is its own)."""
    (merged / "evedge-check").mkdir()
    shutil.copy(BINARY, merged / "evedge-check/evedge")
    shutil.copy(deb, merged / "evedge-check" / deb.name)
    fields = {"root": REPO, "python": PYTHON, "binary": "/evedge-check/evedge",
              "deb": f"--deb /evedge-check/{deb.name}", "timeout": BOOT_TIMEOUT}
    for name, text in CHECK_UNITS.items():
        (merged / "etc/systemd/system" / name).write_text(text.format(**fields))


@pytest.fixture(scope="module")
def container(tmp_path_factory) -> dict:
    """Boot the container once; the checks' results, by name."""
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("container")
    deb = debian.build_deb(pathlib.Path(BINARY), base / "deb")
    layers = base / "layers"
    layers.mkdir()
    _mount("-t", "tmpfs", "-o", "size=3G,mode=0755", "tmpfs", str(layers))
    try:
        for name in ("upper", "work", "merged"):
            (layers / name).mkdir()
        try:
            _mount("-t", "overlay", "overlay", "-o",
                   f"lowerdir=/,upperdir={layers}/upper,workdir={layers}/work",
                   str(layers / "merged"))
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"no overlay of / here: {exc.stderr.decode().strip()}")
        try:
            return _boot(layers / "merged", deb, base)
        finally:
            subprocess.run(["umount", "-l", str(layers / "merged")], timeout=30)
    finally:
        subprocess.run(["umount", "-l", str(layers)], timeout=30)


def _boot(merged: pathlib.Path, deb: pathlib.Path, base: pathlib.Path) -> dict:
    _write_check_units(merged, deb)
    console = base / "console.log"
    with open(console, "wb") as out:
        boot = subprocess.run(
            ["systemd-nspawn", "--directory", str(merged), "--quiet", "--register=no",
             "--link-journal=no", "--keep-unit", "--private-network", *BINDS,
             f"--machine=evedge-check-{os.getpid()}", "--boot", "--",
             "systemd.unit=evedge-check.target"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            timeout=BOOT_TIMEOUT)
    print(f"container console: {console} (exit {boot.returncode})")
    results = merged / "evedge-check/results.json"
    if not results.exists():
        pytest.fail("the container wrote no results; its console:\n"
                    + console.read_text(errors="replace")[-4000:])
    shutil.copy(results, base / "results.json")  # kept for a look after the overlay goes
    return json.loads(results.read_text())


CHECKS = ["systemd is PID 1", "install", "serves", "sandbox of the running service",
          "data files", "unpacked under /var/cache/evedge", "restart after kill -9",
          "backup unit", "each option on its own", "a breaking sandbox is detected",
          *[f"option {option}" for option, _, _ in HARDENING],
          "install again", "uninstall --purge",
          "deb install", "deb first admin and start", "deb remove and purge"]


@pytest.mark.parametrize("name", CHECKS)
def test_in_a_booted_systemd(container, name):
    assert name in container, f"{name} did not run; ran: {sorted(container)}"
    result = container[name]
    assert result["ok"], result["detail"]
