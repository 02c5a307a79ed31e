"""A StopTransaction without a reason is stored and shown as Local (OCPP 1.6 §6.49: it may
be omitted only when it is Local; docs/decisions.md D26), over a real socket and the REST
API."""

from __future__ import annotations

from ocpp.v16 import call

from evedge.storage.models import Transaction

from obliging import BOOT


async def test_a_stop_without_a_reason_is_local(server, api, library_charger):
    admin = (await api.register())["access"]
    async with library_charger("CP-STOP") as cp:
        await cp.call(BOOT)
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="T", meter_start=0,
                                                      timestamp="2026-11-20T10:00:00Z"))
        await cp.call(call.StopTransaction(meter_stop=100, timestamp="2026-11-20T11:00:00Z",
                                           transaction_id=started.transaction_id))
        other = await cp.call(call.StartTransaction(connector_id=1, id_tag="T", meter_start=100,
                                                    timestamp="2026-11-20T12:00:00Z"))
        await cp.call(call.StopTransaction(meter_stop=200, timestamp="2026-11-20T13:00:00Z",
                                           transaction_id=other.transaction_id,
                                           reason="EVDisconnected"))
    shown = (await api.get(f"/api/transactions/{started.transaction_id}/", token=admin)).body
    assert shown["stop_reason"] == "Local" and not shown["stop_inferred"]
    assert Transaction.get_by_id(other.transaction_id).stop_reason == "EVDisconnected"
