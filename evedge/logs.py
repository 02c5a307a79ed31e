"""Logging set-up: plain lines on stdout for journald, quiet third-party loggers."""

import json
import logging
import os
import sys
from typing import Any

from .config import Config


def setup_logging(config: Config) -> None:
    # Under systemd, journald adds its own timestamps (JOURNAL_STREAM is set by systemd).
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s %(name)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(stream=sys.stdout, format=fmt, level=config.log_level.upper(), force=True)
    for handler in logging.getLogger().handlers:
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
