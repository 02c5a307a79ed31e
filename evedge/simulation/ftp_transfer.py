"""File transfer over ftp:// for the simulated charger: firmware download (RETR) and
diagnostics upload (STOR), as chargers that support FTP do (§9.1 SupportedFileTransferProtocols).

Blocking ``ftplib``: callers run these in a thread (``asyncio.to_thread``). The URL carries
the login (``ftp://user:password@host:port/dir/name``, RFC 1738 §3.1; no user means
anonymous); the path's directories are entered with CWD, one at a time, and the file is
transferred in binary, passive mode.
"""

from __future__ import annotations

import ftplib
import io
import urllib.parse


def _open(url: str, timeout: float) -> tuple[ftplib.FTP, str]:
    """A logged-in session, in the URL's directory, and the file name to transfer."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "ftp" or not parts.hostname:
        raise ValueError(f"not an ftp:// URL: {url!r}")
    ftp = ftplib.FTP(timeout=timeout)
    try:
        ftp.connect(parts.hostname, parts.port or 21)
        ftp.login(urllib.parse.unquote(parts.username or "anonymous"),
                  urllib.parse.unquote(parts.password or ""))
        *directories, name = (urllib.parse.unquote(p) for p in parts.path.split("/")[1:])
        for directory in directories:
            if directory:
                ftp.cwd(directory)
    except BaseException:
        ftp.close()
        raise
    return ftp, name


def download(url: str, timeout: float = 60.0) -> bytes:
    """The file at ``url``. Raises ftplib.all_errors or ValueError on failure."""
    ftp, name = _open(url, timeout)
    with ftp:
        received = io.BytesIO()
        ftp.retrbinary(f"RETR {name}", received.write)
        return received.getvalue()


def upload(url: str, body: bytes, timeout: float = 60.0) -> str:
    """Store ``body`` at ``url``; returns the server's final answer (``226 ...``)."""
    ftp, name = _open(url, timeout)
    with ftp:
        return ftp.storbinary(f"STOR {name}", io.BytesIO(body))
