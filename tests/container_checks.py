"""Run inside a booted systemd container by tests/test_unit_hardening.py (not a test module).

As root on a throwaway system with systemd as PID 1: ``evedge install`` for real, the
hardened service serving, the sandbox seen from /proc, a kill -9 and its restart, the
nightly backup unit, each hardening option on its own under ``systemd-run``, an upgrade,
``evedge uninstall --purge``, then the .deb through dpkg. Every check is written to the
results file as it ends: ``{name: {"ok": bool, "detail": str}}``.

    python tests/container_checks.py BINARY RESULTS [--deb PACKAGE]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import pwd
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from evedge.installer.units import HARDENING

PASSWORD = "container-admin-pw-1"
BASE = "http://127.0.0.1:8000"
DEADLINE = 30.0


class Results:
    def __init__(self, path: Path):
        self.path, self.items = path, {}

    @contextlib.contextmanager
    def check(self, name: str):
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - recorded, the next check still runs
            self.record(name, False, f"{type(exc).__name__}: {exc}")
        else:
            self.items.setdefault(name, {"ok": True, "detail": ""})
        self.path.write_text(json.dumps(self.items, indent=1))

    def record(self, name: str, ok: bool, detail: str) -> None:
        self.items[name] = {"ok": ok, "detail": detail[-3000:]}


def run(*command: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def succeeded(*command: str, stdin: str = "", timeout: float = 120) -> str:
    result = run(*command, stdin=stdin, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)}: exit {result.returncode}\n"
                             f"{result.stdout}{result.stderr}")
    return result.stdout


def http(method: str, path: str, body: dict | None = None) -> tuple[int, dict | str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_until(what: str, condition) -> None:
    """Poll ``condition`` (a service coming up has no event to await from outside)."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        with contextlib.suppress(OSError, ValueError):
            if condition():
                return
        time.sleep(0.2)
    raise AssertionError(f"not within {DEADLINE:.0f} s: {what}")


def healthy() -> bool:
    return http("GET", "/healthz")[0] == 200


def port_closed() -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", 8000)) != 0


def main_pid(unit: str = "evedge.service") -> int:
    return int(succeeded("systemctl", "show", "-p", "MainPID", "--value", unit).strip())


def status_fields(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def mounts(pid: int) -> dict[str, set[str]]:
    """Mount point -> its per-mount options, as the process sees them."""
    found = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        found[fields[4]] = set(fields[5].split(","))
    return found


def serving_processes() -> list[int]:
    """The bootloader (the unit's main process) and the Python process it started."""
    pid = main_pid()
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def login() -> None:
    status, body = http("POST", "/api/auth/login/", {"username": "chief",
                                                     "password": PASSWORD})
    assert status == 200 and "access" in body, (status, body)


def boot_notification_is_pending() -> None:
    from websockets.sync.client import connect
    with connect("ws://127.0.0.1:8000/ocpp/CP-IN-BOX", subprotocols=["ocpp1.6"],
                 open_timeout=10) as ws:
        ws.send(json.dumps([2, "1", "BootNotification",
                            {"chargePointVendor": "V", "chargePointModel": "M"}]))
        reply = json.loads(ws.recv(timeout=10))
    # admission = "pending" from the installed config: the config is in force.
    assert reply[0] == 3 and reply[2]["status"] == "Pending", reply


def unpacked_dirs() -> list[str]:
    return sorted(p.name for p in Path("/var/cache/evedge").iterdir()
                  if p.name.startswith("_MEI"))


def check_sandbox() -> None:
    uid = pwd.getpwnam("evedge").pw_uid
    for pid in serving_processes():
        fields = status_fields(pid)
        assert fields["Uid"].split() == [str(uid)] * 4, fields["Uid"]
        wanted = {"NoNewPrivs": "1", "Seccomp": "2", "CapBnd": "0" * 16,
                  "CapEff": "0" * 16, "CapAmb": "0" * 16, "Umask": "0077"}
        seen = {key: fields.get(key) for key in wanted}
        assert seen == wanted, (pid, seen)
        seen_mounts = mounts(pid)
        assert "ro" in seen_mounts["/"], seen_mounts["/"]
        assert "rw" in seen_mounts["/var/lib/evedge"], seen_mounts.get("/var/lib/evedge")
        assert "/tmp" in seen_mounts and "/home" in seen_mounts, sorted(seen_mounts)


def check_data_files() -> None:
    uid = pwd.getpwnam("evedge").pw_uid
    for name, wanted in (("", 0o700), ("evedge.db", 0o600), ("jwt-secret", 0o600)):
        info = os.lstat(Path("/var/lib/evedge") / name)
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (uid, wanted), \
            (name, info.st_uid, oct(info.st_mode))


def check_restart_after_kill(results: Results) -> None:
    before = main_pid()
    succeeded("systemctl", "kill", "-s", "SIGKILL", "evedge.service")
    wait_until("a new main process after kill -9", lambda: main_pid() not in (0, before))
    wait_until("healthz after the restart", healthy)
    # The killed run could not remove its unpacked copy; ExecStartPre did.
    assert len(unpacked_dirs()) == 1, unpacked_dirs()


def check_backup_unit() -> None:
    succeeded("systemctl", "start", "evedge-backup.service")
    archives = list(Path("/var/backups/evedge").glob("evedge-backup-*.tar.gz"))
    assert len(archives) == 1, archives
    info = archives[0].stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == pwd.getpwnam("evedge").pw_uid


def selftest_under(binary: str, *properties: str, cache: bool = True
                   ) -> subprocess.CompletedProcess:
    """The installed binary's selftest as a transient service with these properties, and
    the unit's unpack directory (CacheDirectory=, TMPDIR) unless ``cache`` is False."""
    base = ["CacheDirectory=evedge"] if cache else []
    return run("systemd-run", "--wait", "--collect", "--quiet", "--pipe",
               "-p", "User=evedge", "-p", "Group=evedge",
               "-p", "Environment=TMPDIR=/var/cache/evedge",
               *[arg for prop in [*base, *properties] for arg in ("-p", prop)],
               binary, "selftest")


def check_each_option(results: Results, binary: str) -> None:
    options = {option: f"{option}={value}" for option, value, _ in HARDENING}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        done = dict(zip(options, pool.map(lambda prop: selftest_under(binary, prop),
                                          options.values())))
        # The harness sees a sandbox that breaks the binary: ProtectSystem=strict without
        # the unit's CacheDirectory= leaves the bootloader nowhere to unpack itself.
        broken = pool.submit(selftest_under, binary, "ProtectSystem=strict", cache=False)
    for option, result in done.items():
        ok = result.returncode == 0 and "selftest ok" in result.stdout
        results.record(f"option {option}", ok, f"exit {result.returncode}\n"
                       f"{result.stdout}{result.stderr}")
    broken = broken.result()
    results.record("a breaking sandbox is detected", broken.returncode != 0,
                   f"exit {broken.returncode}\n{broken.stdout}{broken.stderr}")


def check_live_install(results: Results, binary: str) -> None:
    with results.check("install"):
        out = succeeded(binary, "install", "--admin-user", "chief", "--backups",
                        "/var/backups/evedge", stdin=PASSWORD + "\n")
        assert out.index("first admin: created chief") < out.index(
            "ran: systemctl enable --now evedge.service evedge-backup.timer"), out
        results.record("install", True, out)
    with results.check("serves"):
        wait_until("healthz", healthy)
        login()
        boot_notification_is_pending()
    with results.check("sandbox of the running service"):
        check_sandbox()
    with results.check("data files"):
        check_data_files()
    with results.check("unpacked under /var/cache/evedge"):
        assert len(unpacked_dirs()) == 1, unpacked_dirs()
    with results.check("restart after kill -9"):
        check_restart_after_kill(results)
    with results.check("backup unit"):
        check_backup_unit()
    with results.check("each option on its own"):
        check_each_option(results, "/usr/local/bin/evedge")


def check_upgrade_and_uninstall(results: Results, binary: str) -> None:
    with results.check("install again"):
        out = succeeded(binary, "install")
        assert "first admin: the box has one already" in out, out
        assert "evedge.toml: kept as it is" in out, out
        wait_until("healthz after the upgrade", healthy)
        login()
    with results.check("uninstall --purge"):
        succeeded("/usr/local/bin/evedge", "uninstall", "--purge", "--yes")
        wait_until("the port closed", port_closed)
        for gone in ("/usr/local/bin/evedge", "/etc/systemd/system/evedge.service",
                     "/var/lib/evedge", "/etc/evedge"):
            assert not os.path.exists(gone), gone
        assert run("id", "evedge").returncode != 0
        assert list(Path("/var/backups/evedge").glob("evedge-backup-*.tar.gz"))


def check_package(results: Results, deb: str) -> None:
    with results.check("deb install"):
        out = succeeded("dpkg", "-i", deb)
        assert "create the first admin" in out, out
        assert run("systemctl", "is-enabled", "--quiet", "evedge.service").returncode != 0
        assert port_closed()
        config = os.stat("/etc/evedge/evedge.toml")
        assert (config.st_gid, stat.S_IMODE(config.st_mode)) == \
            (pwd.getpwnam("evedge").pw_gid, 0o640)
    with results.check("deb first admin and start"):
        succeeded("runuser", "-u", "evedge", "--", "env", "TMPDIR=/var/cache/evedge",
                  "/usr/bin/evedge", "createuser", "--config", "/etc/evedge/evedge.toml",
                  "--username", "chief", stdin=PASSWORD + "\n")
        succeeded("systemctl", "enable", "--now", "evedge.service")
        wait_until("healthz", healthy)
        login()
    with results.check("deb remove and purge"):
        succeeded("dpkg", "--remove", "evedge")
        wait_until("the port closed", port_closed)
        assert not os.path.exists("/usr/bin/evedge")
        assert os.path.exists("/etc/evedge/evedge.toml")  # a conffile stays until purge
        succeeded("dpkg", "--purge", "evedge")
        assert not os.path.exists("/etc/evedge/evedge.toml")
        assert os.path.exists("/var/lib/evedge/evedge.db")  # the data is never purged


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("results", type=Path)
    parser.add_argument("--deb")
    args = parser.parse_args()
    results = Results(args.results)
    with results.check("systemd is PID 1"):
        assert Path("/proc/1/comm").read_text().strip() == "systemd"
    check_live_install(results, args.binary)
    check_upgrade_and_uninstall(results, args.binary)
    if args.deb:
        check_package(results, args.deb)
    results.path.write_text(json.dumps(results.items, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
