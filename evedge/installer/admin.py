"""The first admin, created before the service is enabled: the box is never reachable
without one (the setup code would otherwise be the only way in)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from .. import errors
from ..config import ConfigError, load_config
from ..prompts import ask, read_new_password
from .layout import CONFIG_FILE, DATA_DIR, ENV_FILE, InstallError, Layout, Say


def _service_environment(layout: Layout) -> dict[str, str]:
    """The settings' environment the service gets: its unit's, then /etc/evedge/evedge.env
    (KEY=VALUE lines), so that the admin lands in the database the service will open."""
    env = {"EVEDGE_CONFIG": str(layout.staged(CONFIG_FILE)),
           "EVEDGE_DATA_DIR": str(layout.staged(DATA_DIR))}
    try:
        lines = layout.staged(ENV_FILE).read_text().splitlines()
    except FileNotFoundError:
        return env
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith("EVEDGE_") and key not in env:
            env[key.strip()] = value.strip().strip("'\"")
    return env


def _credentials(admin_user: str | None) -> tuple[str, str]:
    name = admin_user or ask("User name of the first admin: ")
    if not name:
        raise InstallError("the first admin needs a user name: give --admin-user NAME (there "
                           "is no terminal to ask on)" if not sys.stdin.isatty() else
                           "first admin: no user name given")
    if not sys.stdin.isatty():
        print(f"first admin {name}: reading the password from stdin", flush=True)
    password = read_new_password()
    if password is None:
        raise InstallError("first admin: no password (nothing was installed as a service; "
                           "run evedge install again)")
    if password == "" and not sys.stdin.isatty():
        raise InstallError("first admin: no password on stdin "
                           "(printf '%s\\n' \"$PW\" | evedge install --admin-user NAME)")
    return name, password


async def _create(config, name: str, password: str) -> str:
    from ..domain.accounts import Accounts
    from ..domain.credentials import load_or_create_secret
    accounts = Accounts(config, config.jwt_secret or load_or_create_secret(config.data_dir))
    try:
        user = await accounts.create_user(name, password, "admin")
    finally:
        accounts.close()
    return user.username


def ensure_first_admin(layout: Layout, admin_user: str | None, say: Say) -> None:
    """Ask for and create an admin unless the service's database has an active one."""
    from ..domain.accounts import Accounts, admin_exists
    from ..storage.database import close_database, open_database
    try:
        config = load_config(environ=_service_environment(layout))
    except ConfigError as exc:
        raise InstallError(f"{layout.staged(CONFIG_FILE)}: {exc}") from None
    old_umask = os.umask(0o077)  # as the service's UMask: the files are evedge's alone
    try:
        open_database(config)
        if admin_exists():
            say("first admin: the box has one already, not asking")
            return
        name, password = _credentials(admin_user)
        try:
            Accounts.validate_credentials(name, password)
            created = asyncio.run(_create(config, name, password))
        except errors.EvedgeError as exc:
            raise InstallError(f"first admin: {exc.message}") from None
        say(f"first admin: created {created} in {Path(config.data_dir)}")
    finally:
        close_database()
        os.umask(old_umask)
