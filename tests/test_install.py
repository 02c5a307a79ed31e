"""``evedge install`` / ``evedge uninstall`` into a staging root, as a real process.

The live install (a user, systemctl, the hardened service running) is tested in a
booted systemd container by tests/test_unit_hardening.py; here every file the installer
writes is checked: modes, owners, contents, idempotence, and its clear one-line errors.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import sqlite3
import stat
import subprocess
import sys

import bcrypt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evedge.config import load_config
from evedge.insecure import config_checks
from evedge.installer import units
from evedge.installer.layout import InstallError, checked_path

ROOT = pathlib.Path(__file__).resolve().parent.parent
PASSWORD = "depot-admin-pw-1"
IS_ROOT = os.geteuid() == 0


def evedge(*args: str, stdin: str | None = "", unprivileged: bool = False
           ) -> subprocess.CompletedProcess:
    """``python -m evedge ARGS`` from this checkout, stdin not a terminal. Unprivileged as
    root: in a new user namespace, euid 65534 and no capabilities (the interpreter, under
    /root, stays readable: its owner is still the caller)."""
    prefix = ["unshare", "--user"] if unprivileged and IS_ROOT else []
    return subprocess.run([*prefix, sys.executable, "-m", "evedge", *args], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def install(stage: pathlib.Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    result = evedge("install", "--root", str(stage), *args, stdin=stdin)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def fake_binary(path: pathlib.Path, version: str) -> pathlib.Path:
    path.write_text(f"#!/bin/sh\necho evedge {version}\n")
    path.chmod(0o755)
    return path


def mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def admins(stage: pathlib.Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(f"file:{stage}/var/lib/evedge/evedge.db?mode=ro", uri=True)
    try:
        return db.execute("SELECT username, password_hash FROM user WHERE role = 'admin' "
                          "AND is_active").fetchall()
    finally:
        db.close()


def test_staged_install_writes_every_file_with_its_mode(tmp_path):
    stage = tmp_path / "root"
    result = install(stage, "--admin-user", "chief", "--backups", "/var/backups/evedge",
                     stdin=PASSWORD + "\n")
    modes = {"var/lib/evedge": 0o700, "var/cache/evedge": 0o700, "etc/evedge": 0o750,
             "etc/evedge/evedge.toml": 0o640, "usr/local/bin/evedge": 0o755,
             "etc/systemd/system/evedge.service": 0o644,
             "etc/systemd/system/evedge-backup.service": 0o644,
             "etc/systemd/system/evedge-backup.timer": 0o644, "var/backups/evedge": 0o700,
             "var/lib/evedge/evedge.db": 0o600, "var/lib/evedge/jwt-secret": 0o600}
    assert {name: mode(stage / name) for name in modes} == modes
    if IS_ROOT:  # a staging root creates no user: everything stays the runner's
        owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in stage.rglob("*")}
        assert owners == {(0, 0)}
    assert (stage / "etc/systemd/system/evedge.service").read_text() == \
        units.service_unit("/usr/local/bin/evedge")
    assert (stage / "etc/systemd/system/evedge-backup.service").read_text() == \
        units.backup_service_unit("/usr/local/bin/evedge", "/var/backups/evedge")
    [(name, hashed)] = admins(stage)
    assert name == "chief" and bcrypt.checkpw(PASSWORD.encode(), hashed.encode())
    out = result.stdout
    assert "user evedge: would be created" in out
    # The admin exists before the service would be enabled.
    assert out.index("first admin: created chief") < out.index(
        "would run: systemctl enable --now evedge.service evedge-backup.timer")


def test_the_launcher_runs_this_checkout(tmp_path):
    stage = tmp_path / "root"
    install(stage)
    launched = subprocess.run([stage / "usr/local/bin/evedge", "--version"],
                              capture_output=True, text=True, timeout=30)
    assert launched.returncode == 0 and launched.stdout.startswith("evedge "), launched.stderr


def test_install_again_upgrades_binary_and_units_and_keeps_data_and_config(tmp_path):
    stage = tmp_path / "root"
    first = fake_binary(tmp_path / "v1", "1")
    install(stage, "--binary", str(first), "--admin-user", "chief", "--backups", "/mnt/usb",
            stdin=PASSWORD + "\n")
    config = stage / "etc/evedge/evedge.toml"
    config.write_text(config.read_text() + "heartbeat_interval = 600\n")
    edited = config.read_text()
    (stage / "var/lib/evedge/firmware").mkdir()
    (stage / "var/lib/evedge/firmware/fw.bin").write_bytes(b"firmware")
    unit = stage / "etc/systemd/system/evedge.service"
    unit.write_text("[Service]\nExecStart=/old\n")  # as an older installer wrote it
    database = (stage / "var/lib/evedge/evedge.db").read_bytes()

    second = install(stage, "--binary", str(fake_binary(tmp_path / "v2", "2")),
                     "--admin-user", "chief", stdin="")
    assert (stage / "usr/local/bin/evedge").read_text() == (tmp_path / "v2").read_text()
    assert unit.read_text() == units.service_unit("/usr/local/bin/evedge")
    # Without --backups, the timer's directory is the one the first install wrote.
    assert "ExecStart=/usr/local/bin/evedge backup /mnt/usb/ --keep 14" in \
        (stage / "etc/systemd/system/evedge-backup.service").read_text()
    assert config.read_text() == edited
    assert (stage / "var/lib/evedge/firmware/fw.bin").read_bytes() == b"firmware"
    assert (stage / "var/lib/evedge/evedge.db").read_bytes() == database
    assert len(admins(stage)) == 1
    for line in ("/usr/local/bin/evedge: upgraded", "/etc/systemd/system/evedge.service: updated",
                 "evedge.toml: kept as it is", "first admin: the box has one already"):
        assert line in second.stdout

    third = install(stage, "--binary", str(tmp_path / "v2"), "--admin-user", "chief")
    assert "/usr/local/bin/evedge: unchanged" in third.stdout
    assert "/etc/systemd/system/evedge.service: unchanged" in third.stdout


def test_uninstall_keeps_data_and_config_unless_purged(tmp_path):
    stage = tmp_path / "root"
    install(stage, "--admin-user", "chief", "--backups", "/var/backups/evedge",
            stdin=PASSWORD + "\n")
    (stage / "var/backups/evedge/evedge-backup-20260101T000000Z.tar.gz").write_bytes(b"x")
    result = evedge("uninstall", "--root", str(stage))
    assert result.returncode == 0, result.stderr
    for gone in ("usr/local/bin/evedge", "etc/systemd/system/evedge.service",
                 "etc/systemd/system/evedge-backup.service",
                 "etc/systemd/system/evedge-backup.timer", "var/cache/evedge"):
        assert not (stage / gone).exists(), gone
    for kept in ("var/lib/evedge/evedge.db", "etc/evedge/evedge.toml",
                 "var/backups/evedge/evedge-backup-20260101T000000Z.tar.gz"):
        assert (stage / kept).exists(), kept
    assert "would run: systemctl disable --now evedge-backup.timer evedge-backup.service " \
           "evedge.service" in result.stdout

    unconfirmed = evedge("uninstall", "--root", str(stage), "--purge", stdin="yes\n")
    assert unconfirmed.returncode == 1
    assert "--purge deletes the data" in unconfirmed.stderr
    assert (stage / "var/lib/evedge/evedge.db").exists()

    purged = evedge("uninstall", "--root", str(stage), "--purge", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert not (stage / "var/lib/evedge").exists() and not (stage / "etc/evedge").exists()
    assert (stage / "var/backups/evedge/evedge-backup-20260101T000000Z.tar.gz").exists()


def test_written_config_loads_with_only_the_tls_warning(tmp_path):
    stage = tmp_path / "root"
    install(stage)
    config = load_config(environ={"EVEDGE_CONFIG": str(stage / "etc/evedge/evedge.toml")})
    assert str(config.data_dir) == "/var/lib/evedge" and config.port == 8000
    assert (config.admission, config.unknown_id_tags, config.registration) == \
        ("pending", "invalid", "closed")
    warnings = [message for condition, message in config_checks(config) if condition]
    assert len(warnings) == 1 and warnings[0].startswith("tls_cert/tls_key")


def _verify_warnings(unit_dir: pathlib.Path, names: list[str]) -> str:
    """What systemd-analyze verify says about the units (it exits 0 on unknown keys and
    bad values, so anything it prints is a failure)."""
    result = subprocess.run(["systemd-analyze", "verify", *(str(unit_dir / n) for n in names)],
                            capture_output=True, text=True, timeout=30)
    return (f"exit {result.returncode}: " if result.returncode else "") + \
        result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (apt-get install systemd)")
def test_the_units_pass_systemd_analyze_verify(tmp_path):
    binary = fake_binary(tmp_path / "evedge", "1")  # verify wants ExecStart to exist
    names = {"evedge.service": units.service_unit(str(binary)),
             "evedge-backup.service": units.backup_service_unit(str(binary), str(tmp_path)),
             "evedge-backup.timer": units.backup_timer_unit()}
    for name, text in names.items():
        (tmp_path / name).write_text(text)
    assert _verify_warnings(tmp_path, list(names)) == ""
    # The check can fail: one misspelt value is reported.
    (tmp_path / "evedge.service").write_text(names["evedge.service"].replace(
        "ProtectSystem=strict", "ProtectSystem=stricter"))
    assert "stricter" in _verify_warnings(tmp_path, ["evedge.service"])


def test_the_repository_units_are_what_the_installer_writes():
    systemd = ROOT / "systemd"
    assert (systemd / "evedge.service").read_text() == units.service_unit("/usr/local/bin/evedge")
    assert (systemd / "evedge-backup.service").read_text() == \
        units.backup_service_unit("/usr/local/bin/evedge", "/var/backups/evedge")
    assert (systemd / "evedge-backup.timer").read_text() == units.backup_timer_unit()


def test_both_services_carry_the_whole_sandbox():
    for text in (units.service_unit("/b/evedge"), units.backup_service_unit("/b/evedge", "/x")):
        lines = set(text.splitlines())
        missing = [f"{option}={value}" for option, value, _ in units.HARDENING
                   if f"{option}={value}" not in lines]
        assert missing == []
        assert "Environment=TMPDIR=/var/cache/evedge" in text  # not /tmp, maybe noexec


def test_refuses_to_run_without_root_outside_a_staging_root(tmp_path):
    for command in ("install", "uninstall"):
        result = evedge(command, "--prefix", str(tmp_path / "prefix"), unprivileged=True)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"evedge {command}: {command} changes the system and must run as root "
            f"(sudo evedge {command}); --root DIR stages the files without root"]
    assert not (tmp_path / "prefix").exists()


@pytest.mark.parametrize("args, named", [
    (["--prefix", "usr/local"], "--prefix"),
    (["--prefix", "/opt/ev edge"], "--prefix"),
    (["--backups", "/media/%h"], "--backups"),
    (["--backups", "/"], "--backups"),
    (["--binary", "/nonexistent/evedge"], "--binary"),
])
def test_bad_options_are_one_clear_line_and_nothing_is_written(tmp_path, args, named):
    stage = tmp_path / "root"
    result = evedge("install", "--root", str(stage), *args)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"evedge install: {named}")
    assert not (stage / "etc").exists()


@pytest.mark.parametrize("stdin, admin, says", [
    ("short\n", "chief", "password"),
    ("", "chief", "no password on stdin"),
    (PASSWORD + "\n", "bad name!", "user"),
    (PASSWORD + "\n", "", "give --admin-user NAME"),  # no terminal to ask the name on
])
def test_a_refused_first_admin_stops_before_the_service_is_enabled(tmp_path, stdin, admin,
                                                                   says):
    stage = tmp_path / "root"
    result = evedge("install", "--root", str(stage), "--admin-user", admin, stdin=stdin)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("evedge install: ") and says in line
    assert "systemctl enable" not in result.stdout
    assert admins(stage) == []


def test_refuses_to_install_over_the_debian_package(tmp_path):
    stage = tmp_path / "root"
    (stage / "var/lib/dpkg/info").mkdir(parents=True)
    (stage / "var/lib/dpkg/info/evedge.list").write_text("/usr/bin/evedge\n")
    for command in ("install", "uninstall"):
        result = evedge(command, "--root", str(stage))
        assert result.returncode == 1
        assert "installed from its Debian package here" in result.stderr
    assert not (stage / "etc/evedge").exists()


@given(st.text(alphabet="/ab.-_+ %$'\"\\\n", max_size=30))
def test_a_path_written_into_a_unit_is_absolute_and_needs_no_quoting(value):
    try:
        path = checked_path("--prefix", value)
    except InstallError as exc:
        assert str(exc).startswith("--prefix: ")
        return
    assert path.startswith("/") and ".." not in path.split("/")
    assert not set(path) & set(" %$'\"\\\n")


@pytest.mark.skipif(os.path.isdir("/run/systemd/system"),
                    reason="systemd runs here: the live install is tested in the container")
def test_a_live_install_without_systemd_refuses_before_writing_anything():
    # In-process: run for real on such a machine, a regression would create a user here.
    from evedge.installer.machine import LiveMachine
    with pytest.raises(InstallError, match=r"systemd is not running here \(PID 1 is "):
        LiveMachine(print).preflight()
