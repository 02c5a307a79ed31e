"""The charger side on an untrusted site network: no takeover of a live charger id, ids and
connector ids bounded. Real server, real sockets."""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from conftest import library_chargers, ocpp_call
from evedge.logs import hide_write_only_values

BOOT = [2, "b", "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X"}]


def basic(charger_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{charger_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_a_second_connection_cannot_take_over_a_live_charger(server, raw_charger, caplog):
    caplog.set_level(logging.WARNING, logger="evedge.chargers.registry")
    async with raw_charger("CP-LIVE") as charger:
        assert (await charger.call(BOOT))[2]["status"] == "Accepted"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{server.ocpp_url}/CP-LIVE",
                                          subprotocols=["ocpp1.6"], open_timeout=5):
                pass
        assert refused.value.response.status_code == 409
        # The charger keeps its session and still receives what is meant for it.
        assert (await charger.call([2, "h", "Heartbeat", {}]))[:2] == [3, "h"]
        assert server.services.chargers.get("CP-LIVE").closed.done() is False
    assert server.services.chargers.refused_takeovers == 1
    assert any("charger=CP-LIVE refused a second connection" in r.getMessage()
               for r in caplog.records)


async def test_the_charger_password_always_takes_over(server, api, token, raw_charger):
    patched = await api.request("PATCH", "/api/chargers/CP-PW/", {"password": "s3cret-pass"},
                                token=token)
    assert patched.status == 404  # not registered yet: register it first
    created = await api.post("/api/chargers/", {"id": "CP-PW", "password": "s3cret-pass"},
                             token=token)
    assert created.status == 201
    headers = basic("CP-PW", "s3cret-pass")
    async with raw_charger("CP-PW", additional_headers=headers) as first:
        assert (await first.call(BOOT))[2]["status"] == "Accepted"
        with pytest.raises(websockets.InvalidStatus) as refused:  # no password: 401
            async with websockets.connect(f"{server.ocpp_url}/CP-PW", subprotocols=["ocpp1.6"],
                                          open_timeout=5):
                pass
        assert refused.value.response.status_code == 401
        async with raw_charger("CP-PW", additional_headers=headers) as second:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(first.ws.recv(), 5)
            assert (await second.call([2, "h", "Heartbeat", {}]))[0] == 3
    assert server.services.chargers.refused_takeovers == 0


@pytest.mark.parametrize("charger_id", [" CP-1", "CP-1 ", "CP-1%20"])
async def test_ids_with_blanks_at_either_end_are_refused(server, api, token, charger_id):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{server.ocpp_url}/{charger_id.replace(' ', '%20')}",
                                      subprotocols=["ocpp1.6"], open_timeout=5):
            pass
    assert refused.value.response.status_code == 400
    created = await api.post("/api/chargers/", {"id": charger_id.replace("%20", " ")},
                             token=token)
    assert created.status == 400 and created.body["field"] == "id"


async def test_connector_ids_beyond_the_limit_are_refused(start_server):
    server = await start_server(max_connector_id=4)
    async with websockets.connect(f"{server.ocpp_url}/CP-C", subprotocols=["ocpp1.6"],
                                  open_timeout=5) as ws:
        status = {"connectorId": 5, "errorCode": "NoError", "status": "Available"}
        answer = await ocpp_call(ws, [2, "s5", "StatusNotification", status])
        assert answer[:3] == [4, "s5", "PropertyConstraintViolation"]
        assert "connectorId 5" in answer[4]["cause"]
        assert (await ocpp_call(ws, [2, "s4", "StatusNotification",
                                     {**status, "connectorId": 4}]))[0] == 3
        meter = {"connectorId": 10**12, "meterValue": [
            {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}]}
        answer = await ocpp_call(ws, [2, "m", "MeterValues", meter])
        assert answer[2] == "PropertyConstraintViolation"


async def test_a_flooding_charger_is_read_more_slowly_and_loses_nothing(start_server):
    server = await start_server(charger_message_rate=100, charger_message_burst=200)
    url = f"{server.ocpp_url}"
    async with websockets.connect(f"{url}/CP-FLOOD", subprotocols=["ocpp1.6"]) as flood, \
            websockets.connect(f"{url}/CP-QUIET", subprotocols=["ocpp1.6"]) as quiet:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(500):  # pipelined, as fast as the socket takes them
            await flood.send(f'[2,"f{n}","Heartbeat",{{}}]')
        # Meanwhile another charger is answered at once.
        quiet_started = loop.time()
        assert (await ocpp_call(quiet, [2, "q", "Heartbeat", {}]))[:2] == [3, "q"]
        assert loop.time() - quiet_started < 2
        answers = [json.loads(await asyncio.wait_for(flood.recv(), 10)) for _ in range(500)]
        elapsed = loop.time() - started
    assert [a[1] for a in answers] == [f"f{n}" for n in range(500)]  # all, in order
    assert all(a[0] == 3 for a in answers)
    # 200 at full speed, the other 300 at 100 per second: paced, not refused.
    assert elapsed >= 2.5


async def test_an_offline_queue_replay_goes_through_at_full_speed(start_server):
    server = await start_server()  # the defaults: burst 600
    async with websockets.connect(f"{server.ocpp_url}/CP-REPLAY",
                                  subprotocols=["ocpp1.6"]) as ws:
        started = asyncio.get_running_loop().time()
        for n in range(400):
            meter = {"connectorId": 1, "meterValue": [
                {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": str(n)}]}]}
            await ws.send(json.dumps([2, f"m{n}", "MeterValues", meter]))
        answers = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(400)]
        assert all(a[0] == 3 for a in answers)
        assert asyncio.get_running_loop().time() - started < 8  # not paced at 10 per second


async def test_healthz_is_503_when_the_data_volume_is_below_the_floor(start_server, caplog):
    caplog.set_level(logging.ERROR, logger="evedge.health")
    server = await start_server(min_free_bytes=2**62)  # more than any disk has free
    for _ in range(3):
        answer = await server.api.get("/healthz")
        assert answer.status == 503 and "min_free_bytes" in answer.body["error"]
    # Said once, not per request.
    assert sum("unhealthy" in r.getMessage() for r in caplog.records) == 1


async def test_bodies_in_flight_are_capped_and_slow_ones_time_out(start_server):
    server = await start_server(max_buffered_bodies=2 * 1024 * 1024, request_body_timeout=1)
    port = server.port

    async def slow_body(size: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # The CSV import reads its own body (no small JSON limit): a big buffered body.
        writer.write(b"POST /api/id-tags/import/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: text/csv\r\n"
                     + f"Content-Length: {size}\r\n\r\n".encode() + b"x" * (size - 10))
        await writer.drain()
        return reader, writer

    first = await slow_body(1_500_000)   # held, 10 bytes short
    second = await slow_body(1_500_000)  # would take the total over 2 MiB
    assert (await asyncio.wait_for(second[0].readline(), 5)).startswith(b"HTTP/1.1 400")
    assert server.http.buffered_bodies <= 2 * 1024 * 1024
    # The held one times out after request_body_timeout, and its bytes are freed.
    assert await asyncio.wait_for(first[0].read(), 10) == b""
    assert server.http.buffered_bodies == 0
    assert (await server.api.get("/healthz")).status == 200
    for _, writer in (first, second):
        writer.close()


class KeyTakingCharger(ChargePoint):
    """A charger of security profile 1 that takes a new AuthorizationKey (whitepaper §1.3)
    and, against the rule that it is write-only, gives it back in GetConfiguration."""

    key = ""

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value, **kwargs):
        self.key = value
        return call_result.ChangeConfiguration(status="Accepted")

    @on(Action.get_configuration)
    def on_get_configuration(self, **kwargs):
        return call_result.GetConfiguration(configuration_key=[
            {"key": "AuthorizationKey", "readonly": False, "value": self.key}])


async def test_an_accepted_authorization_key_becomes_the_chargers_password_and_is_never_shown(
        server, api, token, caplog):
    caplog.set_level(logging.INFO)  # the ocpp library logs every frame at INFO
    caplog.handler.addFilter(hide_write_only_values)  # as setup_logging does on the box
    assert (await api.post("/api/chargers/", {"id": "CP-KEY", "password": "first-password"},
                           token=token)).status == 201
    new_key = b"0123456789abcdef0123"  # 20 bytes; sent hex-encoded (whitepaper)
    connect = library_chargers(server)
    async with connect("CP-KEY", cls=KeyTakingCharger,
                       additional_headers=basic("CP-KEY", "first-password")) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="X"))
        changed = await api.post("/api/chargers/CP-KEY/change-configuration/",
                                 {"key": "AuthorizationKey", "value": new_key.hex()},
                                 token=token)
        assert changed.status == 200 and changed.body == {"status": "Accepted"}
        assert cp.key == new_key.hex()
        read = await api.post("/api/chargers/CP-KEY/get-configuration/", {}, token=token)
        assert read.status == 200
    # The old password no longer opens the door, the new key does (decoded, or as hex text).
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{server.ocpp_url}/CP-KEY", subprotocols=["ocpp1.6"],
                                      additional_headers=basic("CP-KEY", "first-password"),
                                      open_timeout=5):
            pass
    assert refused.value.response.status_code == 401
    for password in (new_key.decode(), new_key.hex()):
        async with websockets.connect(f"{server.ocpp_url}/CP-KEY", subprotocols=["ocpp1.6"],
                                      additional_headers=basic("CP-KEY", password),
                                      open_timeout=5) as ws:
            assert (await ocpp_call(ws, [2, "h", "Heartbeat", {}]))[0] == 3
    # The key is nowhere to be read: command log, charger detail, the log lines.
    shown = json.dumps([(await api.get("/api/command-log/?charger=CP-KEY", token=token)).body,
                        (await api.get("/api/chargers/CP-KEY/", token=token)).body])
    assert "AuthorizationKey" in shown and new_key.hex() not in shown
    assert new_key.hex() not in caplog.text


@pytest.mark.parametrize("message, kept", [
    ('CP: send [2,"1","ChangeConfiguration",{"value":"a}b\\"c","key":"AuthorizationKey"}]',
     'CP: send [2,"1","ChangeConfiguration",{"value":"(hidden)","key":"AuthorizationKey"}]'),
    ('CP: receive [3,"1",{"configurationKey":[{"key":"AuthorizationKey","value":"s3"}',
     "CP: receive (hidden: it names AuthorizationKey)"),
])
def test_log_lines_never_carry_a_write_only_value(message, kept):
    record = logging.LogRecord("ocpp", logging.INFO, __file__, 1, "%s", (message,), None)
    assert hide_write_only_values(record) is True
    assert record.getMessage() == kept
