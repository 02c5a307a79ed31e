"""Retiring chargers (DELETE /api/chargers/<id>/) and forgetting Pending ones never approved
(issue 9): gone from every list, history kept, the id back only as an unknown charger."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt

import pytest
import websockets

from conftest import ocpp_call
from evedge.timeutil import utcnow

BOOT = [2, "b", "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X"}]
START = [2, "s", "StartTransaction", {"connectorId": 1, "idTag": "TAG-1", "meterStart": 1000,
                                      "timestamp": "2026-12-01T10:00:00Z"}]


@contextlib.asynccontextmanager
async def charger(running, charger_id: str, **kwargs):
    async with websockets.connect(f"{running.ocpp_url}/{charger_id}", subprotocols=["ocpp1.6"],
                                  open_timeout=5, **kwargs) as ws:
        yield ws


async def closed(running, charger_id: str) -> None:
    """Wait until the server saw the charger's socket close (an event, not a sleep)."""
    session = running.services.chargers.get(charger_id)
    if session is not None:
        await session.closed


async def test_a_retired_charger_is_gone_but_its_transactions_stay(server, api, token):
    assert (await api.post("/api/chargers/", {"id": "CP-OLD", "label": "Bay 4",
                                              "password": "old-password"},
                           token=token)).status == 201
    basic = "Basic " + base64.b64encode(b"CP-OLD:old-password").decode()
    async with charger(server, "CP-OLD", additional_headers={"Authorization": basic}) as ws:
        await ocpp_call(ws, BOOT)
        started = await ocpp_call(ws, START)
        transaction_id = started[2]["transactionId"]
        refused = await api.request("DELETE", "/api/chargers/CP-OLD/", token=token)
        assert refused.status == 409 and "still connected" in refused.body["error"]
    await closed(server, "CP-OLD")
    retired = await api.request("DELETE", "/api/chargers/CP-OLD/", token=token)
    assert retired.status == 200 and retired.body == {"deleted": "CP-OLD"}
    assert (await api.get("/api/chargers/CP-OLD/", token=token)).status == 404
    assert "CP-OLD" not in [c["id"] for c in (await api.get("/api/chargers/", token=token)).body]
    assert (await api.request("DELETE", "/api/chargers/CP-OLD/", token=token)).status == 404
    assert (await api.request("PATCH", "/api/chargers/CP-OLD/", {"label": "x"},
                              token=token)).status == 404
    # Its session is kept, and closed as inferred: nobody will ever stop it now.
    kept = await api.get(f"/api/transactions/{transaction_id}/", token=token)
    assert kept.status == 200 and kept.body["charger_id"] == "CP-OLD"
    assert kept.body["stop_inferred"] is True and "retired" in kept.body["note"]


async def test_a_retired_id_comes_back_only_as_an_unknown_charger(start_server):
    running = await start_server(admission="pending")
    api = running.api
    token = (await running.api.register())["access"]
    assert (await api.post("/api/chargers/", {"id": "CP-BACK", "label": "Bay 1",
                                              "password": "old-password"},
                           token=token)).status == 201
    assert (await api.request("DELETE", "/api/chargers/CP-BACK/", token=token)).status == 200
    # No password any more, and not Accepted: the admission policy decides (pending here).
    async with charger(running, "CP-BACK") as ws:
        assert (await ocpp_call(ws, BOOT))[2]["status"] == "Pending"
    detail = (await api.get("/api/chargers/CP-BACK/", token=token)).body
    assert detail["registration_status"] == "Pending" and detail["label"] == ""
    assert detail["has_password"] is False


async def test_a_retired_id_can_be_registered_again_by_an_admin(server, api, token):
    assert (await api.post("/api/chargers/", {"id": "CP-NEW"}, token=token)).status == 201
    assert (await api.request("DELETE", "/api/chargers/CP-NEW/", token=token)).status == 200
    again = await api.post("/api/chargers/", {"id": "CP-NEW", "label": "Bay 9"}, token=token)
    assert again.status == 201 and again.body["label"] == "Bay 9"
    assert (await api.post("/api/chargers/", {"id": "CP-NEW"}, token=token)).status == 409


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_only_admins_retire_chargers(api, tokens, token, role):
    assert (await api.post("/api/chargers/", {"id": "CP-KEEP"}, token=token)).status == 201
    assert (await api.request("DELETE", "/api/chargers/CP-KEEP/",
                              token=tokens[role])).status == 403
    assert (await api.get("/api/chargers/CP-KEEP/", token=token)).status == 200


async def test_pending_chargers_never_approved_are_forgotten(start_server):
    running = await start_server(admission="pending", forget_pending_after_days=14)
    api = running.api
    token = (await api.register())["access"]
    for charger_id in ("CP-KNOCKED", "CP-STILL-HERE"):
        async with charger(running, charger_id) as ws:
            await ocpp_call(ws, BOOT)
        await closed(running, charger_id)
    async with charger(running, "CP-USED") as ws:  # was approved once, then set back
        await ocpp_call(ws, BOOT)
        await api.request("PATCH", "/api/chargers/CP-USED/",
                          {"registration_status": "Accepted"}, token=token)
    async with charger(running, "CP-USED") as ws:
        await ocpp_call(ws, BOOT)
        assert (await ocpp_call(ws, START))[0] == 3
        await api.request("PATCH", "/api/chargers/CP-USED/",
                          {"registration_status": "Pending"}, token=token)
    await closed(running, "CP-USED")
    housekeeping = running.services.housekeeping
    housekeeping.run(utcnow() + dt.timedelta(days=13))
    assert len((await api.get("/api/chargers/", token=token)).body) == 3
    async with charger(running, "CP-STILL-HERE") as ws:  # connected: kept however old
        await ocpp_call(ws, BOOT)
        housekeeping.run(utcnow() + dt.timedelta(days=15))
        left = sorted(c["id"] for c in (await api.get("/api/chargers/", token=token)).body)
    assert left == ["CP-STILL-HERE", "CP-USED"]
