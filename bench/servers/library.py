"""Library server: the `ocpp` package's own central-system pattern, as a Python developer would build it first.

Modelled on mobilityhouse/ocpp examples/v16/central_system.py: the `websockets` server with its default
settings (permessage-deflate offered, ping every 20 s, backlog 100), one `ocpp.v16.ChargePoint` per connection,
ocpp defaults (schema validation on, ASYNC_VALIDATION = True, i.e. validation in the default thread pool),
in-memory state, no database. Logging at WARNING (the example's INFO would log every frame).

    python bench/servers/library.py --port 9001 [--host 127.0.0.1]
"""
import argparse
import asyncio
import itertools
import logging
import resource
from datetime import datetime, timezone

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as cp
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus

logging.basicConfig(level=logging.WARNING)

CHARGERS = {}        # cp_id -> {"vendor", "model", "status": {connector: status}, "last_seen"}
TRANSACTIONS = {}    # transaction id -> {"cp", "connector", "id_tag", "meter_start", "meter_last"}
_tx_ids = itertools.count(1)


def now():
    return datetime.now(timezone.utc).isoformat()


class ChargePoint(cp):
    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor, charge_point_model, **kwargs):
        CHARGERS[self.id] = {"vendor": charge_point_vendor, "model": charge_point_model, "status": {},
                             "last_seen": now()}
        return call_result.BootNotification(current_time=now(), interval=300, status=RegistrationStatus.accepted)

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs):
        t = now()
        if self.id in CHARGERS:
            CHARGERS[self.id]["last_seen"] = t
        return call_result.Heartbeat(current_time=t)

    @on(Action.status_notification)
    def on_status_notification(self, connector_id, error_code, status, **kwargs):
        CHARGERS.setdefault(self.id, {"status": {}})["status"][connector_id] = status
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag, **kwargs):
        return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, **kwargs):
        tx = next(_tx_ids)
        TRANSACTIONS[tx] = {"cp": self.id, "connector": connector_id, "id_tag": id_tag,
                            "meter_start": meter_start, "meter_last": meter_start}
        return call_result.StartTransaction(transaction_id=tx,
                                            id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop, timestamp, transaction_id, **kwargs):
        TRANSACTIONS.pop(transaction_id, None)
        return call_result.StopTransaction(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.meter_values)
    def on_meter_values(self, connector_id, meter_value, transaction_id=None, **kwargs):
        t = TRANSACTIONS.get(transaction_id)
        if t is not None:
            for mv in meter_value:
                for sv in mv.get("sampled_value", []):
                    if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register":
                        t["meter_last"] = sv["value"]
        return call_result.MeterValues()


async def on_connect(websocket):
    if websocket.subprotocol != "ocpp1.6":
        logging.warning("no ocpp1.6 subprotocol, closing")
        await websocket.close()
        return
    charge_point_id = websocket.request.path.strip("/").split("/")[-1]
    charge_point = ChargePoint(charge_point_id, websocket)
    try:
        await charge_point.start()
    except websockets.exceptions.ConnectionClosed:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def run():
        async with websockets.serve(on_connect, a.host, a.port, subprotocols=["ocpp1.6"]) as server:
            await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
