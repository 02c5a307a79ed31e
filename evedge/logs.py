"""Logging set-up: plain lines on stdout for journald, quiet third-party loggers."""

import logging
import os
import sys

from .config import Config


def setup_logging(config: Config) -> None:
    # Under systemd, journald adds its own timestamps (JOURNAL_STREAM is set by systemd).
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s %(name)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(stream=sys.stdout, format=fmt, level=config.log_level.upper(), force=True)
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
