"""What FTP sessions may do, in evedge's terms: log in with a grant, fetch the granted
firmware file, receive one diagnostics upload under the rules HTTP uploads follow.

Runs in the FTP thread. Files are read and written here (never on the event loop);
the grant lookups, the redeeming and the ``charger.diagnostics_received`` event go
through the bridge to the loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .. import errors
from ..domain import files, upload_grants
from ..domain.transfer_protocols import DIAGNOSTICS_USER, FIRMWARE_USER
from ..events import Broadcaster
from ..storage.group_commit import GroupCommit
from ..timeutil import utcnow
from .bridge import LoopBridge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Login:
    """One FTP session's grant: what it may see and do."""

    purpose: str  # FIRMWARE_USER or DIAGNOSTICS_USER
    charger_id: str
    token: str
    file_name: str | None  # firmware: the one file it may fetch
    directory: Path  # its home: firmware/ or diagnostics/<charger>/


class Transfers:
    def __init__(self, bridge: LoopBridge, firmware: files.FileStore,
                 diagnostics: files.DiagnosticsStore, events: Broadcaster,
                 committer: GroupCommit):
        self.bridge = bridge
        self.firmware = firmware
        self.diagnostics = diagnostics
        self.events = events
        self.committer = committer

    def login(self, user: str, password: str) -> Login | None:
        """The session ``user``/``password`` opens, None when they are no usable grant.
        May raise bridge.LoopUnavailable."""
        if user not in (FIRMWARE_USER, DIAGNOSTICS_USER) or not password:
            return None
        grant = self.bridge.read(lambda: upload_grants.find(password, user, utcnow()))
        if grant is None:
            return None
        directory = (self.firmware.directory if user == FIRMWARE_USER
                     else self.diagnostics.for_charger(grant.charger_id).directory)
        return Login(user, grant.charger_id, password, grant.file_name, directory)

    def open_firmware(self, login: Login) -> BinaryIO:
        """The granted firmware file, for RETR."""
        if login.purpose != FIRMWARE_USER or login.file_name is None:
            raise errors.Forbidden("this login may not download")
        return self.firmware.open(login.file_name)

    def receive(self, login: Login, raw_name: str) -> IncomingUpload:
        """Start the upload a STOR brings; raises an EvedgeError when it is refused.

        As over HTTP (web/files.py): the grant must still be unused, one upload at a time
        holds it, the name is cleaned (docs/decisions.md D17) and never replaces a file
        (a taken name gets ``-2``), and the bytes count against both quotas.
        """
        if login.purpose != DIAGNOSTICS_USER:
            raise errors.Forbidden("this login may not upload")
        key = self.bridge.read(lambda: upload_grants.valid(
            login.token, login.charger_id, DIAGNOSTICS_USER, utcnow()))
        if key is None:
            raise errors.Forbidden("this location was used already or expired; send "
                                   "GetDiagnostics again")
        if not self.diagnostics.claim(key):
            raise errors.Conflict("an upload to this location is already in progress")
        try:
            name = files.name_from_charger(raw_name, files.generated_diagnostics_name())
            upload = self.diagnostics.for_charger(login.charger_id).begin(
                name, unique=True, quota=self.diagnostics.quota(login.charger_id))
        except BaseException:
            self.diagnostics.unclaim(key)
            raise
        return IncomingUpload(self, login.charger_id, key, upload)


class IncomingUpload:
    """The file object pyftpdlib writes a STOR into.

    ``write`` is ``Upload.write`` (size limit, quotas and the free-space floor checked
    for every chunk). The data channel calls ``publish`` once the transfer is complete,
    before it answers 226; ``close`` ends the upload either way: a file not published
    is discarded, and the grant is free for another try.
    """

    def __init__(self, transfers: Transfers, charger_id: str, grant_key: str,
                 upload: files.Upload):
        self._transfers = transfers
        self._charger_id = charger_id
        self._grant_key = grant_key
        self._upload = upload
        self.name = str(upload.path)  # pyftpdlib logs it
        self.closed = False

    def write(self, chunk: bytes) -> None:
        self._upload.write(chunk)

    def publish(self) -> files.StoredFile:
        """Make the file durable under its final name, redeem the grant, announce it."""
        stored, _ = self._upload.commit()  # fsync and rename: here, in the FTP thread
        transfers, key, charger_id = self._transfers, self._grant_key, self._charger_id
        self.name = str(self._upload.path)

        def announce(redeemed: bool) -> None:
            if not redeemed:
                log.warning("diagnostics %s of %s arrived by FTP on a grant already used",
                            stored.name, charger_id)
            transfers.events.publish_when_committed(
                transfers.committer, "charger.diagnostics_received", charger_id=charger_id,
                name=stored.name, size=stored.size)

        transfers.bridge.commit(lambda: upload_grants.redeem(key, stored.name, utcnow()),
                                then=announce)
        log.info("diagnostics %s of %s received by FTP (%d bytes)", stored.name, charger_id,
                 stored.size)
        return stored

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._upload.discard()  # after publish: only gives back its share of the quotas
        self._transfers.diagnostics.unclaim(self._grant_key)
