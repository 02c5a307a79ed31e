"""The data directory is evedge's alone (issue 9): created private whatever the umask, and
what is left open, or chargers anyone may connect as, named at start-up."""

from __future__ import annotations

import os
import stat

import pytest

from conftest import make_config
from evedge.insecure import state_checks

pytestmark = pytest.mark.sqlite_only  # the modes of the SQLite file and its companions


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o022)  # a shell's usual umask: `make run`
    yield
    os.umask(old)


async def test_a_first_start_creates_everything_private(tmp_path, start_server, open_umask):
    data_dir = tmp_path / "fresh" / "var"
    running = await start_server(data_dir=data_dir, jwt_secret="")
    token = (await running.api.register())["access"]
    assert (await running.api.post("/api/chargers/", {"id": "CP-1"}, token=token)).status == 201
    assert mode(data_dir) == 0o700 and mode(data_dir.parent) == 0o700
    for name in ("evedge.db", "evedge.db-wal", "evedge.db-shm", "jwt-secret"):
        assert mode(data_dir / name) == 0o600, name


async def test_start_up_names_chargers_without_password_and_an_open_data_dir(
        tmp_path, api, token):
    for body in ({"id": "CP-BARE"}, {"id": "CP-LOCKED", "password": "s3cret-pass"}):
        assert (await api.post("/api/chargers/", body, token=token)).status == 201
    config = make_config(tmp_path)
    os.chmod(tmp_path, 0o700)
    messages = [message for condition, message in state_checks(config) if condition]
    assert len(messages) == 1 and "CP-BARE" in messages[0] and "CP-LOCKED" not in messages[0]
    os.chmod(tmp_path, 0o755)
    messages = [message for condition, message in state_checks(config) if condition]
    assert any("chmod 700" in message for message in messages)
