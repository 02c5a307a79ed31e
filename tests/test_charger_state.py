"""A refused connection registers no charger (docs/decisions.md D25): over real sockets and
real HTTP."""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
import websockets
from evedge.storage.models import Charger

from conftest import fetch, ocpp_call

BOOT_FRAME = [2, "b", "BootNotification", {"chargePointVendor": "Acme",
                                           "chargePointModel": "X1"}]


async def closed_with(url: str, **kwargs) -> int:
    """Connect, and return the close code the server ends the connection with."""
    async with websockets.connect(url, open_timeout=5, **kwargs) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    return closed.value.rcvd.code


@pytest.mark.parametrize("admission", ["accept", "pending"])
async def test_a_charger_refused_for_its_subprotocol_is_not_registered(start_server, admission):
    running = await start_server(admission=admission)
    url = f"{running.ocpp_url}/CP-NEW"
    assert await closed_with(url, subprotocols=["ocpp2.0.1"]) == 1002
    assert not Charger.select().where(Charger.id == "CP-NEW").exists()
    assert running.services.chargers.get("CP-NEW") is None


async def test_a_charger_without_subprotocol_refused_by_setting_is_not_registered(start_server):
    running = await start_server(allow_missing_subprotocol=False)
    assert await closed_with(f"{running.ocpp_url}/CP-BARE") == 1002
    assert Charger.select().count() == 0


async def test_an_upgrade_that_fails_after_admission_registers_nothing(server):
    """Admission passed (a new id, policy accept), then the handshake itself is refused:
    an unsupported WebSocket version gets 426 from the upgrade, and no charger is left."""
    response = await fetch(f"{server.http_url}/ocpp/CP-OLDWS", headers={
        "Host": "box", "Connection": "Upgrade", "Upgrade": "websocket",
        "Sec-WebSocket-Version": "8", "Sec-WebSocket-Protocol": "ocpp1.6",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()})
    assert response.code == 426
    assert Charger.select().count() == 0


async def test_a_refused_connection_and_a_real_one_racing_for_a_new_id(start_server):
    """The real charger is registered once, as the admission policy says, whatever the
    refused one did at the same moment."""
    running = await start_server(admission="pending")
    url = f"{running.ocpp_url}/CP-RACE"

    async def real() -> list:
        async with websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=5) as ws:
            return await ocpp_call(ws, BOOT_FRAME)

    refused, booted = await asyncio.gather(closed_with(url, subprotocols=["ocpp2.0.1"]), real())
    assert refused == 1002 and booted[2]["status"] == "Pending"
    assert [(c.id, c.registration_status) for c in Charger.select()] == [("CP-RACE", "Pending")]


async def test_two_real_connections_of_a_new_id_register_it_once(start_server):
    running = await start_server(admission="accept", takeover_probe_timeout=0.2)
    url = f"{running.ocpp_url}/CP-TWIN"
    async with websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=5) as first:
        assert (await ocpp_call(first, BOOT_FRAME))[2]["status"] == "Accepted"
    async with websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=5) as again:
        assert (await ocpp_call(again, BOOT_FRAME))[2]["status"] == "Accepted"
    assert Charger.select().count() == 1
