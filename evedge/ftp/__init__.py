"""The FTP server for chargers that transfer files only by FTP (OCPP 1.6 §9.1,
SupportedFileTransferProtocols): firmware downloads for UpdateFirmware (§5.19) and
diagnostics uploads for GetDiagnostics (§5.9).

pyftpdlib serves the protocol on its own IOLoop, in one thread of its own
(``server.py``, docs/decisions.md D20), so that file reads and writes never stall evedge's
event loop. Every
login is an upload grant (domain/upload_grants.py, docs/decisions.md D19): user
``firmware`` or ``diagnostics``, the grant's token as password. A session sees a
directory holding only what its grant allows (``access.py``); storage rules are those
of HTTP uploads (domain/files.py). Anything that touches the database goes back to the
event loop through ``bridge.py``, since all writes run there through the group commit
(docs/decisions.md D3).

Modules: ``bridge`` (the FTP thread asks the loop), ``transfers`` (grants, uploads and
events for the sessions), ``access`` (what one login sees), ``session`` (the command and
data channels), ``server`` (the thread, start and stop).
"""
