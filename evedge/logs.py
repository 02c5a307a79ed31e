"""Logging set-up: one line per event on stdout, in the form journald reads best.

* One line per event: a message never spans lines. Newlines in what is logged (a
  charger's malformed frame may carry them, JSON allows them between tokens) are written
  as ``\\n``, so a charger cannot forge log lines. Only a real bug's traceback takes
  more lines.
* Under systemd (stdout is the journal stream ``JOURNAL_STREAM`` names), no timestamp
  (journald adds its own) and each line starts with the syslog priority journald parses
  (``<3>`` error, ``<4>`` warning, ``<6>`` info, ``<7>`` debug: sd-daemon(3)), so that
  ``journalctl -u evedge -p warning`` shows warnings and worse, tracebacks included.
* A line about one charger carries ``charger=<id>`` (the OCPP layer writes it first):
  ``journalctl -u evedge --grep 'charger=CP-1( |$)'``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import IO, Any

from .config import Config

# sd-daemon.h: SD_ERR <3>, SD_WARNING <4>, SD_INFO <6>, SD_DEBUG <7>; CRITICAL is SD_CRIT.
PRIORITIES = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
              logging.DEBUG: 7}
_ESCAPES = str.maketrans({"\n": "\\n", "\r": "\\r"})


def priority(levelno: int) -> int:
    """The syslog priority of a logging level (custom levels round to the next lower)."""
    return next((value for level, value in sorted(PRIORITIES.items(), reverse=True)
                 if levelno >= level), 7)


def journal_stream(stream: IO) -> bool:
    """Whether ``stream`` is the journal stream systemd connected us to.

    systemd sets JOURNAL_STREAM to the ``device:inode`` of that stream (systemd.exec(5));
    a process that merely inherited the variable (a shell in a terminal started by a
    service) writes somewhere else, and keeps its timestamps.
    """
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"


class OneLineFormatter(logging.Formatter):
    """The message on one line; with ``prefix``, every line starts with its ``<N>``."""

    def __init__(self, fmt: str, prefix: bool):
        super().__init__(fmt)
        self._prefix = prefix

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = record.message.translate(_ESCAPES)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self._prefix:
            return text
        mark = f"<{priority(record.levelno)}>"
        return "\n".join(mark + line for line in text.split("\n"))


def setup_logging(config: Config, stream: IO | None = None) -> None:
    stream = stream or sys.stdout
    journald = journal_stream(stream)
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not journald:
        fmt = "%(asctime)s " + fmt
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter(fmt, prefix=journald))
    logging.basicConfig(handlers=[handler], level=config.log_level.upper(), force=True)
    handler.addFilter(hide_write_only_values)
    # ocpp 2.1.0 logs every frame at INFO and every CallError with a traceback at ERROR
    # (mobilityhouse/ocpp#415): keep it at WARNING unless asked.
    logging.getLogger("ocpp").setLevel(config.ocpp_log_level.upper())
    # One line per HTTP request is noise on a box with thousands of chargers.
    logging.getLogger("tornado.access").setLevel(
        logging.INFO if config.log_level == "debug" else logging.WARNING)
    # pyftpdlib logs each FTP session's connect, login and disconnect at INFO; evedge logs
    # the transfers themselves (evedge.ftp.*).
    logging.getLogger("pyftpdlib").setLevel(
        logging.INFO if config.log_level == "debug" else logging.WARNING)


def hide_write_only_values(record: logging.LogRecord) -> bool:
    """Logging filter: the value of a write-only key (1.6 security whitepaper:
    AuthorizationKey, the charger's password) never reaches the journal, whatever the
    level, in the frames the ocpp library logs or anywhere else."""
    message = record.getMessage()
    if "AuthorizationKey" in message:
        record.msg, record.args = _hidden(message), None
    return True


def _hidden(message: str) -> str:
    """``message`` with the JSON it ends with redacted; all of that JSON if unparsable."""
    starts = [i for i in (message.find("["), message.find("{")) if i >= 0]
    start = min(starts) if starts else 0
    try:
        value = json.loads(message[start:])
    except ValueError:
        return message[:start] + "(hidden: it names AuthorizationKey)"
    return message[:start] + json.dumps(_redact(value), separators=(",", ":"))


def _redact(value: Any) -> Any:
    if isinstance(value, list):
        return [_redact(item) for item in value]
    if isinstance(value, dict):
        if value.get("key") == "AuthorizationKey" and "value" in value:
            value = {**value, "value": "(hidden)"}
        return {key: _redact(item) for key, item in value.items()}
    return value
