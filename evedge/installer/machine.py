"""What differs between installing on the live system and into a staging root.

The live machine creates the ``evedge`` user and runs systemctl; a staging root (for
tests and packages) gets the same files, owned by whoever runs the installer, and only
the lines saying what the live machine would do there.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from .layout import DATA_DIR, USER, InstallError, Say

Owner = tuple[int, int]


def _nologin() -> str:
    for shell in ("/usr/sbin/nologin", "/sbin/nologin"):
        if os.path.exists(shell):
            return shell
    return "/bin/false"


class LiveMachine:
    live = True

    def __init__(self, say: Say):
        self.say = say

    def preflight(self) -> None:
        """Refuse before anything is written when there is no systemd to run the service."""
        if not os.path.isdir("/run/systemd/system"):
            try:
                init = open("/proc/1/comm").read().strip()
            except OSError:
                init = "unknown"
            raise InstallError(f"systemd is not running here (PID 1 is {init}): stage the "
                               "files with --root DIR, or see README 'Appendix: by hand'")

    def owner(self) -> Owner | None:
        try:
            entry = pwd.getpwnam(USER)
        except KeyError:
            return None
        return entry.pw_uid, entry.pw_gid

    def ensure_user(self) -> Owner:
        found = self.owner()
        if found:
            self.say(f"user {USER}: exists (uid {found[0]})")
            return found
        # A system user with no login shell; its home is the data dir (not created here).
        self._run(["useradd", "--system", "--user-group", "--home-dir", DATA_DIR,
                   "--no-create-home", "--shell", _nologin(), "--comment",
                   "evedge OCPP central system", USER])
        found = self.owner()
        if found is None:
            raise InstallError(f"useradd ran but there is no user {USER}")
        self.say(f"user {USER}: created (uid {found[0]}, no login shell, home {DATA_DIR})")
        return found

    def remove_user(self) -> None:
        if self.owner() is None:
            return
        self._run(["userdel", USER])
        try:
            grp.getgrnam(USER)
            self._run(["groupdel", USER])
        except KeyError:
            pass
        self.say(f"user {USER}: removed")

    def is_active(self, unit: str) -> bool:
        return subprocess.run(["systemctl", "is-active", "--quiet", unit]).returncode == 0

    def systemctl(self, *args: str) -> None:
        self._run(["systemctl", *args])
        self.say("ran: systemctl " + " ".join(args))

    @staticmethod
    def _run(command: list[str]) -> None:
        if shutil.which(command[0]) is None:
            raise InstallError(f"{command[0]} is not on this system "
                               f"(PATH={os.environ.get('PATH')})")
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
            raise InstallError(f"`{' '.join(command)}` failed (exit {result.returncode})"
                               + (f": {detail[-1]}" if detail else ""))


class StagingMachine:
    live = False

    def __init__(self, say: Say):
        self.say = say

    def preflight(self) -> None:
        pass

    def owner(self) -> Owner | None:
        return None

    def ensure_user(self) -> None:
        self.say(f"user {USER}: would be created (staging root: no user is created)")

    def remove_user(self) -> None:
        self.say(f"user {USER}: would be removed")

    def is_active(self, unit: str) -> bool:
        return False

    def systemctl(self, *args: str) -> None:
        self.say("would run: systemctl " + " ".join(args))
