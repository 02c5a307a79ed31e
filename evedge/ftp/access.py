"""What one FTP login sees: a directory holding only what its grant allows.

pyftpdlib hands every file-system operation of a session to an ``AbstractedFS``. The
session's home is a real directory (``firmware/``, or ``diagnostics/<charger>/``), so
pyftpdlib's own confinement still holds (``ftp2fs`` and ``validpath``: no path leaves
the home, symlinks resolved); on top of it, a firmware login sees and reads its one
file, a diagnostics login sees nothing and may only store, and nothing may delete,
rename, create directories or change modes. ``chdir`` never calls ``os.chdir``:
pyftpdlib's does, for the whole process, whose relative ``data_dir`` depends on it
(docs/library-notes.md §7).
"""

from __future__ import annotations

import os
from typing import Any

from pyftpdlib.exceptions import FilesystemError
from pyftpdlib.filesystems import AbstractedFS

from .. import errors
from ..domain.transfer_protocols import DIAGNOSTICS_USER, FIRMWARE_USER
from .bridge import LoopUnavailable

# pyftpdlib permission letters: e = CWD, l = list (LIST, NLST, MLSD, MLST, SIZE, MDTM,
# STAT <path>), r = RETR, w = STOR. Nothing else is ever granted.
PERMISSIONS = {FIRMWARE_USER: "elr", DIAGNOSTICS_USER: "ew"}


class GrantFS(AbstractedFS):
    def __init__(self, root: str, cmd_channel: Any):
        """``cmd_channel``: the session (session.ChargerFTPHandler), logged in."""
        super().__init__(root, cmd_channel)
        login = cmd_channel.login
        assert login is not None  # made only by handle_auth_success
        self.login = login
        self.transfers = cmd_channel.transfers

    # --- what is visible -----------------------------------------------------------

    def _is_home(self, path: str) -> bool:
        return os.path.normpath(path) == os.path.normpath(self.root)

    def _is_granted_file(self, path: str) -> bool:
        parent, name = os.path.split(os.path.normpath(path))
        return (self.login.file_name is not None and name == self.login.file_name
                and parent == os.path.normpath(self.root))

    def _require_file(self, path: str) -> None:
        if not self._is_granted_file(path):
            raise FilesystemError("No such file")

    def _require_visible(self, path: str) -> None:
        if not (self._is_home(path) or self._is_granted_file(path)):
            raise FilesystemError("No such file or directory")

    # --- reads ---------------------------------------------------------------------

    def chdir(self, path: str) -> None:
        if not self._is_home(path):
            raise FilesystemError("No such directory")
        self.cwd = "/"

    def listdir(self, path: str) -> list[str]:
        if not self._is_home(path):
            raise FilesystemError("No such directory")
        name = self.login.file_name
        return [name] if name and os.path.isfile(os.path.join(self.root, name)) else []

    listdirinfo = listdir

    def isdir(self, path: str) -> bool:
        return self._is_home(path)

    def isfile(self, path: str) -> bool:
        return self._is_granted_file(path) and os.path.isfile(path)

    def islink(self, path: str) -> bool:
        return False

    def lexists(self, path: str) -> bool:
        return self._is_home(path) or self.isfile(path)

    def stat(self, path: str) -> os.stat_result:
        self._require_visible(path)
        return os.stat(path)

    # The paths of commands were checked by validpath first (symlinks resolved); our own
    # directories hold none.
    lstat = stat

    def getsize(self, path: str) -> int:
        self._require_file(path)
        return os.path.getsize(path)

    def getmtime(self, path: str) -> float:
        self._require_file(path)
        return os.path.getmtime(path)

    def readlink(self, path: str) -> str:
        raise FilesystemError("No such file")

    def open(self, filename: str, mode: str) -> Any:
        """RETR ("rb") of the granted firmware file; STOR ("wb") of a diagnostics upload."""
        try:
            if mode == "rb":
                self._require_file(filename)
                return self.transfers.open_firmware(self.login)
            if mode == "wb" and self.login.purpose == DIAGNOSTICS_USER:
                return self.transfers.receive(self.login, os.path.relpath(filename, self.root))
        except errors.EvedgeError as exc:
            raise FilesystemError(exc.message) from None
        except LoopUnavailable:
            raise FilesystemError("The box cannot take uploads now; try again later") from None
        if mode == "r+b":  # REST before STOR
            raise FilesystemError("Uploads cannot be resumed; send the whole file again")
        raise FilesystemError("Not permitted")

    # --- changes: none -------------------------------------------------------------

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise FilesystemError("Not permitted")

    mkstemp = mkdir = rmdir = remove = rename = chmod = utime = _refuse
