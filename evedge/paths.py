"""Where evedge's read-only resources live: the source tree or the PyInstaller bundle.

This is the only module that knows about ``sys._MEIPASS``; the writable state
(database, secret, uploads) lives under ``Config.data_dir``, never here.
"""

import os
import sys

_BASE = getattr(sys, "_MEIPASS", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def resource(*parts: str) -> str:
    return os.path.join(_BASE, *parts)


def templates() -> str:
    return resource("templates")


def static() -> str:
    return resource("static")


def migrations() -> str:
    # Inside the package so that `pip install` ships them too (setup.cfg package_data).
    if hasattr(sys, "_MEIPASS"):
        return resource("evedge", "storage", "migrations")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "storage", "migrations")
