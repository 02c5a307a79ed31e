"""Questions on the terminal: a new account's password (``createuser``, ``install``)."""

from __future__ import annotations

import getpass
import sys


def read_new_password() -> str | None:
    """The new account's password: asked twice on a terminal, else one line of stdin
    (``printf '%s\\n' "$PW" | evedge createuser ...``). None when the answers differ or
    the user gave up (the reason is printed)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    try:
        first = getpass.getpass("Password: ")
        again = getpass.getpass("Password (again): ")
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return None
    if first != again:
        print("evedge: the passwords differ", file=sys.stderr)
        return None
    return first


def ask(question: str) -> str | None:
    """One answer from the terminal; None without a terminal or when the user gave up."""
    if not sys.stdin.isatty():
        return None
    try:
        return input(question).strip()
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return None


def confirm(question: str) -> bool:
    """True only when someone at a terminal answers yes."""
    return (ask(question) or "").lower() == "yes"
