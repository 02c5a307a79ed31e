"""The .deb built from the one-file binary (``make deb``), inspected with dpkg-deb.

Installing it for real (dpkg -i, the first admin, enable --now, remove, purge) needs a
running systemd: tests/test_unit_hardening.py does that in a booted container.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from evedge import __version__
from evedge.installer import debian, units
from evedge.installer.layout import InstallError

BINARY = os.environ.get("EVEDGE_FROZEN_BINARY", "")
needs_binary = pytest.mark.skipif(
    not BINARY or shutil.which("dpkg-deb") is None,
    reason="set EVEDGE_FROZEN_BINARY=dist/evedge (make build); needs dpkg-deb")


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> pathlib.Path:
    return debian.build_deb(pathlib.Path(BINARY), tmp_path_factory.mktemp("deb"))


def dpkg_deb(*args: str) -> str:
    return subprocess.run(["dpkg-deb", *args], check=True, capture_output=True, text=True,
                          timeout=60).stdout


@needs_binary
def test_control_fields_and_maintainer_scripts(package):
    assert package.name == f"evedge_{__version__}_{debian.architecture(pathlib.Path(BINARY))}.deb"
    fields = dict(line.split(": ", 1) for line in
                  dpkg_deb("--field", str(package)).splitlines() if ": " in line)
    assert fields["Package"] == "evedge" and fields["Version"] == __version__
    assert fields["Depends"] == "adduser"
    assert int(fields["Installed-Size"]) >= os.path.getsize(BINARY) // 1024
    info = dpkg_deb("--info", str(package))
    for member in ("conffiles", "postinst", "prerm", "postrm"):
        assert f" {member} " in info
    assert dpkg_deb("--ctrl-tarfile", str(package))  # readable
    control = pathlib.Path(package.parent / "control")
    subprocess.run(["dpkg-deb", "--control", str(package), str(control)], check=True,
                   timeout=60)
    assert (control / "conffiles").read_text() == "/etc/evedge/evedge.toml\n"
    for script in ("postinst", "prerm", "postrm"):
        assert os.access(control / script, os.X_OK)
        syntax = subprocess.run(["sh", "-n", str(control / script)], capture_output=True,
                                text=True, timeout=10)
        assert syntax.returncode == 0, syntax.stderr
    # The service is not enabled by the package: the first admin comes first.
    postinst = (control / "postinst").read_text()
    assert debian.FIRST_STEPS in postinst and "createuser" in debian.FIRST_STEPS
    assert "systemctl enable" not in postinst.replace(debian.FIRST_STEPS, "")
    assert "adduser --system" in postinst


@needs_binary
def test_contents_are_root_owned_with_their_modes(package):
    listing = {}
    for line in dpkg_deb("--contents", str(package)).splitlines():
        perms, owner, *_, path = line.split()
        listing[path.removeprefix(".").rstrip("/") or "/"] = (perms, owner)
    assert listing["/usr/bin/evedge"] == ("-rwxr-xr-x", "root/root")
    assert listing["/etc/evedge/evedge.toml"] == ("-rw-r-----", "root/root")
    assert listing["/etc/evedge"] == ("drwxr-x---", "root/root")
    for unit in ("evedge.service", "evedge-backup.service", "evedge-backup.timer"):
        assert listing[f"/lib/systemd/system/{unit}"] == ("-rw-r--r--", "root/root")
    assert "/usr/share/doc/evedge/README.md" in listing
    # No data, no cache, no user's files: postinst makes those on the box.
    assert not [p for p in listing if p.startswith(("/var", "/tmp", "/home", "/root"))]


@needs_binary
def test_extracted_files_are_the_installers_and_the_binary_runs(package, tmp_path):
    subprocess.run(["dpkg-deb", "-x", str(package), str(tmp_path)], check=True, timeout=60)
    unit_dir = tmp_path / "lib/systemd/system"
    assert (unit_dir / "evedge.service").read_text() == units.service_unit("/usr/bin/evedge")
    assert (unit_dir / "evedge-backup.service").read_text() == \
        units.backup_service_unit("/usr/bin/evedge", "/var/backups/evedge")
    assert (tmp_path / "usr/bin/evedge").read_bytes() == pathlib.Path(BINARY).read_bytes()
    selftest = subprocess.run([tmp_path / "usr/bin/evedge", "selftest"], capture_output=True,
                              text=True, timeout=60)
    assert selftest.returncode == 0 and "selftest ok" in selftest.stdout, selftest.stderr


def test_the_architecture_is_read_from_the_binary(tmp_path):
    python = pathlib.Path(os.path.realpath(sys.executable))
    expected = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                              text=True).stdout.strip() if shutil.which("dpkg") else None
    found = debian.architecture(python)
    assert found in ("amd64", "arm64", "armhf", "i386")
    if expected:
        assert found == expected
    script = tmp_path / "evedge"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(InstallError, match="not an ELF executable"):
        debian.architecture(script)


def test_a_missing_binary_is_one_clear_line(tmp_path, capsys):
    assert debian.main([str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == \
        f"evedge deb: {tmp_path / 'nothing'}: no such binary (make build)"
