"""The FTP command and data channels of one charger's session (pyftpdlib subclasses).

A login is a grant (``Transfers.login``); its permissions and its view of the files
come from ``access.py``. Commands that would change anything but a fresh upload
(DELE, RMD, MKD, RNFR/RNTO, APPE, STOU, MFMT, SITE ...) are not offered to anyone. A
STOR is answered 226 only once its file is durable and its grant redeemed, so a
charger that reports Uploaded (§4.4) never reports a file the box could still lose.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.handlers.ftp.control import proto_cmds
from pyftpdlib.log import logger as ftp_logger

from .. import errors
from ..storage.group_commit import CommitFailed
from .access import PERMISSIONS, GrantFS
from .bridge import LoopUnavailable
from .transfers import IncomingUpload, Login, Transfers

log = logging.getLogger(__name__)

NOT_OFFERED = frozenset({"APPE", "DELE", "MFMT", "MKD", "XMKD", "RMD", "XRMD", "RNFR", "RNTO",
                         "STOU", "SITE", "SITE CHMOD", "SITE HELP"})
OFFERED = {name: spec for name, spec in proto_cmds.items() if name not in NOT_OFFERED}


class Permissions:
    """pyftpdlib's authorizer interface for one session: its permission letters, no more.
    (Logins themselves are checked by ``ChargerFTPHandler.ftp_PASS``.)"""

    def __init__(self, letters: str = ""):
        self.letters = letters

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return bool(perm) and perm in self.letters

    def get_perms(self, username: str) -> str:
        return self.letters

    def get_msg_quit(self, username: str) -> str:
        return "Goodbye."

    def impersonate_user(self, username: str, password: str) -> None:
        pass

    def terminate_impersonation(self, username: str) -> None:
        pass


NO_ACCESS = Permissions()


class ReceivingDTPHandler(DTPHandler):
    """The data channel: publishes a completed upload before answering, and answers a
    refusal while receiving (size limit, quota, free-space floor) with 552 and the reason
    (RFC 959: "exceeded storage allocation")."""

    def handle_error(self) -> None:
        failure = sys.exc_info()[1]
        if not isinstance(failure, errors.EvedgeError):
            super().handle_error()
            return
        self._resp = (f"552 {failure.message}; transfer aborted.", ftp_logger.info)
        self.close()

    def close(self) -> None:
        incoming = self.file_obj
        if (not self._closed and self.receive and self.transfer_finished
                and isinstance(incoming, IncomingUpload) and not incoming.closed):
            self._publish(incoming)
        super().close()  # closes the file (IncomingUpload.close), then answers

    def _publish(self, incoming: IncomingUpload) -> None:
        try:
            stored = incoming.publish()
        except (errors.EvedgeError, LoopUnavailable, CommitFailed, OSError) as exc:
            log.warning("an FTP upload could not be stored: %s", exc)
            stored = None
        except Exception:
            log.exception("an FTP upload could not be stored")
            stored = None
        if stored is None:
            self.transfer_finished = False
            self._resp = ("451 The upload could not be stored; send it again.",
                          ftp_logger.warning)
            return
        self._resp = (f"226 Transfer complete; stored as {stored.name}.", ftp_logger.debug)


class ChargerFTPHandler(FTPHandler):
    """The command channel. ``transfers`` and the settings are class attributes, set on a
    subclass per server (server.py), as pyftpdlib configures its handlers."""

    transfers: Transfers
    login: Login | None = None
    authorizer = NO_ACCESS
    abstracted_fs = GrantFS
    dtp_handler = ReceivingDTPHandler
    proto_cmds = OFFERED
    banner = "evedge ready."
    permit_foreign_addresses = False  # data connections only to the client itself (no bounce)
    permit_privileged_ports = False

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        if cmd in NOT_OFFERED:
            self.respond(f"502 {cmd} is not offered: this server only hands out firmware and "
                         "receives diagnostics.")
            return
        if "\0" in line:  # a path with a NUL would raise inside os.path
            self.respond("501 Syntax error: NUL in the command.")
            return
        super().pre_process_command(line, cmd, arg)

    def ftp_PASS(self, line: str) -> None:
        """Log in with a grant: user ``firmware`` or ``diagnostics``, its token as password."""
        if self.authenticated:
            self.respond("503 User already authenticated.")
            return
        if not self.username:
            self.respond("503 Login with USER first.")
            return
        try:
            login = self.transfers.login(self.username, line)
        except LoopUnavailable as exc:
            log.warning("FTP login not checked: %s", exc)
            self.respond("421 The box cannot check logins now; try again later.")
            self.close_when_done()
            return
        if login is None:
            # Delayed by auth_failed_timeout (setting ftp_login_failure_delay); at most
            # max_login_attempts per connection.
            self.handle_auth_failed("Authentication failed.", line)
            return
        self.login = login
        self.authorizer = Permissions(PERMISSIONS[login.purpose])
        self.handle_auth_success(str(login.directory), line, "Logged in.")

    def flush_account(self) -> None:
        """USER again or REIN: the session goes back to no access (an upload still
        waiting for its data connection is dropped)."""
        queued = self._in_dtp_queue
        if queued is not None and queued[0] is not None:
            queued[0].close()
        super().flush_account()
        self.login = None
        self.authorizer = NO_ACCESS

    def on_file_sent(self, file: str) -> None:
        login = self.login
        log.info("firmware %s sent to %s by FTP", file, login.charger_id if login else "?")

    def on_incomplete_file_sent(self, file: str) -> None:
        log.info("firmware %s: FTP download interrupted", file)

    def log_exception(self, instance: Any) -> None:
        log.exception("FTP session failed (%r)", instance)
