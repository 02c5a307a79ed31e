"""One write discipline (issue 10 §3/§4): nothing acknowledged, to a charger or a REST
caller, is lost when the database refuses a write; a write lock held by another process
never wedges the server. Real server, real SQLite file, real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import pytest
import websockets

from conftest import ocpp_call
from evedge.storage.models import Connector, database

pytestmark = pytest.mark.sqlite_only  # holds SQLite's write lock / defers its FK checks

BOOT = [2, "b", "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X"}]


def status_frame(unique_id: str, status: str = "Available") -> list:
    return [2, unique_id, "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": status}]


@contextlib.asynccontextmanager
async def charger(running, charger_id: str):
    async with websockets.connect(f"{running.ocpp_url}/{charger_id}", subprotocols=["ocpp1.6"],
                                  open_timeout=5) as ws:
        assert (await ocpp_call(ws, BOOT))[2]["status"] == "Accepted"
        yield ws


@contextlib.contextmanager
def write_lock_held(running):
    """Another process's write transaction (an admin's ``sqlite3`` session, a script)."""
    other = sqlite3.connect(running.config.database_path, timeout=0,
                            isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield other
        other.execute("ROLLBACK")
    finally:
        other.close()


async def connector_status(api, token, charger_id: str) -> str | None:
    detail = (await api.get(f"/api/chargers/{charger_id}/", token=token)).body
    return {c["connector_id"]: c["status"] for c in detail["connectors"]}.get(1)


async def test_a_write_lock_held_elsewhere_fails_writes_fast_and_never_wedges(server, api,
                                                                              token):
    async with charger(server, "CP-LOCK") as ws:
        assert (await ocpp_call(ws, status_frame("s0")))[0] == 3
        with write_lock_held(server):
            # Writes fail at once (no lock wait on the event loop), answered InternalError.
            refused = await ocpp_call(ws, status_frame("s1", "Charging"), timeout=2)
            assert refused[:3] == [4, "s1", "InternalError"]
            # What needs no write is still served promptly.
            assert (await ocpp_call(ws, [2, "h", "Heartbeat", {}], timeout=2))[:2] == [3, "h"]
            health = await api.get("/healthz")
            assert health.status == 503 and "database" in health.body["error"]
            created = await api.post("/api/id-tags/", {"id_tag": "LOCKED-1"}, token=token)
            assert created.status == 503 and created.headers.get("Retry-After")
            # Reads go on.
            assert await connector_status(api, token, "CP-LOCK") == "Available"
        # Released: the next messages are stored and acknowledged, the server is healthy.
        assert (await ocpp_call(ws, status_frame("s2", "Charging"), timeout=2))[0] == 3
        assert await connector_status(api, token, "CP-LOCK") == "Charging"
        assert (await api.get("/healthz")).status == 200
        assert (await api.post("/api/id-tags/", {"id_tag": "LOCKED-1"}, token=token)).status \
            == 201
    tags = (await api.get("/api/id-tags/?q=LOCKED", token=token)).body
    assert [tag["id_tag"] for tag in tags["items"]] == ["LOCKED-1"]


def poison_the_batch(services) -> None:
    """Make the open group transaction fail at COMMIT: a foreign-key violation whose check
    is deferred to the commit (the way a full disk or an I/O error fails a real one)."""
    def violate() -> None:
        database.execute_sql("PRAGMA defer_foreign_keys = ON")
        Connector.insert(charger="NO-SUCH-CHARGER", connector_id=1).execute()
    services.committer.run(violate)


async def test_a_failed_commit_acknowledges_nothing_on_either_side(start_server):
    running = await start_server(commit_window=0.5)
    api = running.api
    token = (await api.register())["access"]
    async with charger(running, "CP-FAIL") as ws:
        assert (await ocpp_call(ws, status_frame("s0")))[0] == 3
        poison_the_batch(running.services)  # opens the batch; it commits in 0.5 s
        rest, ocpp = await asyncio.gather(
            api.post("/api/id-tags/", {"id_tag": "LOST-1"}, token=token),
            ocpp_call(ws, status_frame("s1", "Faulted"), timeout=3))
        assert rest.status == 503, rest.body
        assert "try again" in rest.body["error"]
        assert ocpp[:3] == [4, "s1", "InternalError"]
        # Neither write was kept, and the committer works again.
        assert await connector_status(api, token, "CP-FAIL") == "Available"
        tags = (await api.get("/api/id-tags/?q=LOST", token=token)).body
        assert tags["items"] == []
        assert (await ocpp_call(ws, status_frame("s2", "Faulted"), timeout=3))[0] == 3
        assert await connector_status(api, token, "CP-FAIL") == "Faulted"
        again = await api.post("/api/id-tags/", {"id_tag": "LOST-1"}, token=token)
        assert again.status == 201, again.body
    assert again.body["id_tag"] == "LOST-1"
