"""Load management live, over real sockets: ``ocpp`` library chargers that answer
SetChargingProfile Accepted, Rejected, NotSupported (a CALLERROR) or not at all, the
REST API of the site model, what-if and grid meters (REST and a real pymodbus server),
and a restart of evedge in the middle of sessions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from conftest import Servers, free_port, library_chargers, make_config
from evedge.config import ConfigError
from evedge.services import build_services
from evedge.storage.models import CommandLog, IdTag
from test_openapi import Answers

T0 = "2026-12-01T10:00:00Z"
FAST = dict(load_reaction_time=0.3, load_increase_interval=0.0, command_timeout=1.0)


def site(*chargers: dict, limit: float = 40, **extra) -> dict:
    return {"circuits": [{"id": "main", "max_current_a": limit}],
            "chargers": [{"circuit": "main", **c} for c in chargers], **extra}


class Profiled(ChargePoint):
    """Answers SetChargingProfile as ``answers[purpose]`` says: a status, "callerror" or
    "silent" (never answers); records every profile it got, and ClearChargingProfile."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answers: dict[str, str] = {}
        self.got: list[tuple[int, dict]] = []
        self.cleared: list[dict] = []
        self.changed = asyncio.Event()

    @on(Action.set_charging_profile)
    async def on_profile(self, connector_id, cs_charging_profiles, **kwargs):
        purpose = cs_charging_profiles["charging_profile_purpose"]
        answer = self.answers.get(purpose, "Accepted")
        if answer == "silent":
            await asyncio.Event().wait()
        self.got.append((connector_id, cs_charging_profiles))
        self.changed.set()
        if answer == "callerror":
            raise NotSupportedError("no smart charging here")
        return call_result.SetChargingProfile(status=answer)

    @on(Action.clear_charging_profile)
    def on_clear(self, **kwargs):
        self.cleared.append(kwargs)
        self.changed.set()
        return call_result.ClearChargingProfile(status="Accepted")

    def limits(self, purpose: str = "TxProfile") -> list[float]:
        return [float(p["charging_schedule"]["charging_schedule_period"][0]["limit"])
                for _, p in self.got if p["charging_profile_purpose"] == purpose]

    async def wait_for(self, predicate, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.id}: still {self.got} {self.cleared}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    async def boot(self) -> None:
        await self.call(call.BootNotification(charge_point_vendor="Acme",
                                              charge_point_model="X"))

    async def start_transaction(self, connector: int = 1, tag: str = "T1") -> int:
        answer = await self.call(call.StartTransaction(
            connector_id=connector, id_tag=tag, meter_start=0, timestamp=T0))
        return answer.transaction_id


async def admin_token(api) -> str:
    IdTag.create(id_tag="T1")
    return (await api.register("root", "correct-horse"))["access"]


async def put_site(api, token, body) -> dict:
    answer = await api.request("PUT", "/api/site/", body, token=token)
    assert answer.status == 200, answer.body
    return answer.body


async def allocation(api, token) -> dict:
    return (await api.get("/api/site/allocation/", token=token)).body


async def until(check, timeout: float = 5.0):
    """Poll an API view until ``check()`` returns something true (the allocation is
    computed asynchronously after the debounce)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


def session_of(body: dict, charger: str) -> dict:
    return next(s for s in body["sessions"] if s["charger_id"] == charger)


# --- Accepted: shares, the queue, the charger maximum -------------------------------------------

async def test_sessions_get_their_share_as_tx_profiles_and_the_latest_is_queued(start_server):
    server = await start_server(**FAST)
    token = await admin_token(server.api)
    await put_site(server.api, token, site(*({"charger_id": f"P{n}", "min_current_a": 16}
                                             for n in (1, 2, 3))))
    connect = library_chargers(server)
    async with connect("P1", cls=Profiled) as p1, connect("P2", cls=Profiled) as p2, \
            connect("P3", cls=Profiled) as p3:
        for cp in (p1, p2, p3):
            await cp.boot()
        for cp in (p1, p2, p3):  # at boot: the charger maximum of an idle charger is 0 A
            await cp.wait_for(lambda cp=cp: cp.limits("ChargePointMaxProfile") == [0.0])
        tx1 = await p1.start_transaction()
        await p1.wait_for(lambda: p1.limits() == [32.0])
        await p1.wait_for(lambda: p1.limits("ChargePointMaxProfile")[-1] == 32.0)
        tx2 = await p2.start_transaction()
        await p2.wait_for(lambda: p2.limits() == [20.0])
        assert p1.limits() == [32.0, 20.0]
        tx3 = await p3.start_transaction()
        await p3.wait_for(lambda: p3.limits() == [0.0])  # queued: 16 + 16 + 16 > 40
        connector, profile = next((c, p) for c, p in p2.got
                                  if p["charging_profile_purpose"] == "TxProfile")
        assert connector == 1 and profile["transaction_id"] == tx2
        assert profile["charging_profile_kind"] == "Relative" and profile["stack_level"] == 1
        schedule = profile["charging_schedule"]
        assert schedule["charging_rate_unit"] == "A"
        assert schedule["charging_schedule_period"][0]["start_period"] == 0
        assert schedule["charging_schedule_period"][0]["number_phases"] == 3
        body = await until(lambda: _all_accepted(server.api, token, 3))
        assert [(s["transaction_id"], s["state"], s["allocated_a"][0]) for s in body["sessions"]] \
            == [(tx1, "charging", 20.0), (tx2, "charging", 20.0), (tx3, "queued", 0.0)]
        await p1.call(call.StopTransaction(meter_stop=10, timestamp=T0, transaction_id=tx1))
        await p3.wait_for(lambda: p3.limits()[-1] == 20.0)  # the queued one is served
    audited = CommandLog.select().where(CommandLog.username == "load-management").count()
    assert audited >= 9


def current_import(transaction_id: int, amps: float) -> call.MeterValues:
    return call.MeterValues(connector_id=1, transaction_id=transaction_id, meter_value=[{
        "timestamp": T0, "sampled_value": [
            {"value": str(amps), "measurand": "Current.Import", "unit": "A"}]}])


async def test_a_car_drawing_less_than_its_share_leaves_the_rest_to_the_others(start_server):
    """P1's car takes 8 A of its 20: it keeps 8 + load_demand_headroom (2) and P2 gets
    the rest; once P1's car draws up to that limit, it gets its fair share back."""
    server = await start_server(**dict(FAST, load_reaction_time=0.0))
    token = await admin_token(server.api)
    await put_site(server.api, token, site({"charger_id": "P1"}, {"charger_id": "P2"}))
    connect = library_chargers(server)
    async with connect("P1", cls=Profiled) as p1, connect("P2", cls=Profiled) as p2:
        for cp in (p1, p2):
            await cp.boot()
        tx1 = await p1.start_transaction()
        tx2 = await p2.start_transaction()
        await p2.wait_for(lambda: p2.limits() == [20.0])
        await p1.wait_for(lambda: p1.limits()[-1:] == [20.0])
        assert await until(lambda: _all_accepted(server.api, token, 2))

        await p1.call(current_import(tx1, 8))
        await p1.wait_for(lambda: p1.limits()[-1] == 10.0)
        await p2.wait_for(lambda: p2.limits()[-1] == 30.0)
        body = await until(lambda: _all_accepted(server.api, token, 2))
        assert session_of(body, "P1")["demand_a"] == 10.0
        assert session_of(body, "P2")["demand_a"] is None
        assert session_of(body, "P2")["allocated_a"] == [30.0, 30.0, 30.0]

        await p1.call(current_import(tx1, 9.5))    # what it did, near enough: stays capped
        await p1.call(current_import(tx1, 10))     # up to its limit: it wants more
        await p1.wait_for(lambda: p1.limits()[-1] == 20.0)
        await p2.wait_for(lambda: p2.limits()[-1] == 20.0)
        assert p1.limits().count(10.0) == 1
        body = await allocation(server.api, token)
        assert session_of(body, "P1")["demand_a"] is None
        assert session_of(body, "P2")["transaction_id"] == tx2


async def _all_accepted(api, token, count):
    body = await allocation(api, token)
    sessions = body["sessions"]
    return body if len(sessions) == count and all(
        s["profile_status"] == "Accepted" for s in sessions) else None


async def test_a_decrease_reaches_the_charger_before_the_increase_it_makes_room_for(
        start_server):
    server = await start_server(**FAST)
    token = await admin_token(server.api)
    await put_site(server.api, token, site({"charger_id": "A"}, {"charger_id": "B"}))
    connect = library_chargers(server)
    order: list[tuple[str, float]] = []
    async with connect("A", cls=Profiled) as a, connect("B", cls=Profiled) as b:
        await a.boot()
        await b.boot()
        await a.start_transaction()
        await a.wait_for(lambda: a.limits() == [32.0])
        started = time.monotonic()
        await b.start_transaction()
        # What B's car may draw is the lower of its TxProfile and B's maximum. If the session
        # began before evedge saw B accept its maximum (0 A at boot), its first TxProfile is
        # a decrease (from B's hardware) and goes at once; the maximum then holds the car
        # until A's car has followed (pacing._rows_within). Either way B gets 20 A late.
        await b.wait_for(lambda: b.limits() == [20.0]
                         and b.limits("ChargePointMaxProfile")[-1:] == [20.0])
        order = [("A", a.limits()[-1]), ("B", b.limits()[-1])]
        waited = time.monotonic() - started
    assert order == [("A", 20.0), ("B", 20.0)]
    assert waited >= FAST["load_reaction_time"]  # B's car waited for A's car to follow


# --- refusals, silence ----------------------------------------------------------------------

async def test_a_charger_that_rejects_tx_profiles_is_steered_with_its_tx_default(start_server):
    server = await start_server(**FAST)
    token = await admin_token(server.api)
    await put_site(server.api, token, site({"charger_id": "OLD"}, limit=20))
    async with library_chargers(server)("OLD", cls=Profiled) as cp:
        cp.answers["TxProfile"] = "Rejected"
        await cp.boot()
        await cp.start_transaction()
        await cp.wait_for(lambda: cp.limits("TxDefaultProfile") == [20.0])
        assert cp.limits() == [20.0]  # the TxProfile was tried first
        connector, profile = next((c, p) for c, p in cp.got
                                  if p["charging_profile_purpose"] == "TxDefaultProfile")
        assert connector == 1 and "transaction_id" not in profile
        body = await until(lambda: _all_accepted(server.api, token, 1))
        assert body["chargers"][0]["profile_purpose"] == "TxDefaultProfile"


async def test_a_charger_that_refuses_every_profile_counts_at_full_power(start_server):
    server = await start_server(**FAST)
    token = await admin_token(server.api)
    await put_site(server.api, token, site({"charger_id": "NO"}, {"charger_id": "YES"}))
    connect = library_chargers(server)
    async with connect("NO", cls=Profiled) as no, connect("YES", cls=Profiled) as yes:
        no.answers.update(TxProfile="callerror", TxDefaultProfile="NotSupported")
        await no.boot()
        await yes.boot()
        await no.start_transaction()
        await no.wait_for(lambda: no.limits("TxDefaultProfile"))
        await yes.start_transaction()
        await yes.wait_for(lambda: yes.limits() and yes.limits()[-1] == 8.0)  # 40 - 32

        async def reported():
            body = await allocation(server.api, token)
            fixed = [s for s in body["sessions"] if s["fixed"]]
            return fixed and fixed[0]["fixed_reason"] == "rejects profiles" and body
        body = await until(reported)
        assert session_of(body, "NO")["allocated_a"] == [32.0, 32.0, 32.0]
        assert next(c for c in body["chargers"] if c["charger_id"] == "NO")["state"] == \
            "rejects profiles"


async def test_a_charger_that_does_not_answer_counts_at_its_last_limit_until_seen_again(
        start_server):
    server = await start_server(**FAST)
    token = await admin_token(server.api)
    await put_site(server.api, token, site({"charger_id": "MUTE"}, {"charger_id": "B"}))
    connect = library_chargers(server)
    async with connect("B", cls=Profiled) as b:
        await b.boot()
        async with connect("MUTE", cls=Profiled) as mute:
            await mute.boot()
            await mute.start_transaction()
            await mute.wait_for(lambda: mute.limits() == [32.0])
            mute.answers["TxProfile"] = "silent"
            await b.start_transaction()

            async def counted():
                body = await allocation(server.api, token)
                entry = next((s for s in body["sessions"] if s["charger_id"] == "MUTE"), None)
                return entry and entry.get("fixed_reason") == "not answering" and body
            body = await until(counted, timeout=6)
            assert body, "MUTE was never counted as not answering"
            # it was sent 20 A and never answered: the 32 A it had may still be drawn
            assert session_of(body, "MUTE")["allocated_a"][0] == 32.0
            await b.wait_for(lambda: b.limits() and b.limits()[-1] == 8.0)
        async with connect("MUTE", cls=Profiled) as back:  # seen again: steered again
            await back.wait_for(lambda: back.limits() and back.limits()[-1] == 20.0)
            await b.wait_for(lambda: b.limits()[-1] == 20.0)


# --- restarts, reconnects, the empty model ---------------------------------------------------

async def test_after_a_restart_the_open_session_gets_its_profile_again(start_server, tmp_path):
    servers = Servers(tmp_path)  # the first run, stopped in the middle of the session
    first = await servers.start(**FAST)
    token = await admin_token(first.api)
    await put_site(first.api, token, site({"charger_id": "R1"}, limit=16))
    async with library_chargers(first)("R1", cls=Profiled) as cp:
        await cp.boot()
        tx = await cp.start_transaction()
        await cp.wait_for(lambda: cp.limits() == [16.0])
    await servers.close()
    second = await start_server(**FAST)  # the same data directory
    async with library_chargers(second)("R1", cls=Profiled) as cp:  # reconnects, no boot
        await cp.wait_for(lambda: cp.limits() == [16.0])
        assert next(p for _, p in cp.got
                    if p["charging_profile_purpose"] == "TxProfile")["transaction_id"] == tx


async def test_emptying_the_model_clears_our_profiles_and_sends_nothing_more(start_server):
    server = await start_server(**FAST)
    token = await admin_token(server.api)
    await put_site(server.api, token, site({"charger_id": "E1"}))
    async with library_chargers(server)("E1", cls=Profiled) as cp:
        await cp.boot()
        await cp.start_transaction()
        await cp.wait_for(lambda: cp.limits() == [32.0])
        await put_site(server.api, token, {"circuits": [], "chargers": []})
        await cp.wait_for(lambda: cp.cleared == [{"stack_level": 1}])
        sent = len(cp.got)
        await cp.start_transaction(connector=2)
        body = await allocation(server.api, token)
        assert body["enabled"] is False and body["sessions"] == []
        assert len(cp.got) == sent


# --- the REST API ----------------------------------------------------------------------------

async def test_the_model_round_trips_and_errors_name_the_field(server, api, tokens):
    answers = Answers((await api.get("/api/openapi.json")).body)
    body = site({"charger_id": "X", "connector_id": 2, "priority": 3},
                tag_priorities={"FLEET": 5},
                grid_meters=[{"circuit": "main", "source": "rest"}])
    stored = answers.check("PUT", "/api/site/", await api.request(
        "PUT", "/api/site/", body, token=tokens["admin"]))
    assert stored["chargers"][0]["min_current_a"] == 6  # defaults filled in
    assert answers.check("GET", "/api/site/", await api.get("/api/site/",
                                                            token=tokens["viewer"])) == stored
    bad = await api.request("PUT", "/api/site/", site({"charger_id": "X", "max_curent_a": 3}),
                            token=tokens["admin"])
    answers.check("PUT", "/api/site/", bad)
    assert bad.status == 400 and bad.body["field"] == "chargers[0].max_curent_a"
    assert (await api.request("PUT", "/api/site/", body, token=tokens["operator"])).status == 403
    answers.check("GET", "/api/site/allocation/", await api.get("/api/site/allocation/",
                                                                token=tokens["viewer"]))
    reading = answers.check("PUT", "/api/site/grid-meters/{circuit_id}/", await api.request(
        "PUT", "/api/site/grid-meters/main/", {"current_a": [10, 20, 30]},
        token=tokens["operator"]))
    assert reading["current_a"] == [10.0, 20.0, 30.0]
    missing = await api.request("PUT", "/api/site/grid-meters/other/", {"current_a": [0, 0, 0]},
                                token=tokens["operator"])
    assert answers.check("PUT", "/api/site/grid-meters/{circuit_id}/", missing) and \
        missing.status == 404
    await put_site(api, tokens["admin"], site())  # an empty site: 3 x 13.3 A of 40 A
    what = answers.check("POST", "/api/site/what-if/", await api.post(
        "/api/site/what-if/", {"circuit": "main", "extra_sessions": 3}, token=tokens["viewer"]))
    assert [s["allocated_a"][0] for s in what["sessions"] if s.get("hypothetical")] == \
        [13.3, 13.3, 13.3]
    for wrong, field in (({"circuit": "nope", "extra_sessions": 1}, "circuit"),
                         ({"circuit": "main"}, "extra_sessions"),
                         ({"circuit": "main", "extra_sessions": 1, "what": 1}, "what"),
                         ({"circuit": "main", "extra_sessions": 1,
                           "template": {"phases": 2}}, "template.phases"),
                         ({"circuit": "main", "extra_sessions": 1,
                           "template": {"colour": 1}}, "template.colour")):
        refused = await api.post("/api/site/what-if/", wrong, token=tokens["viewer"])
        answers.check("POST", "/api/site/what-if/", refused)
        assert refused.status == 400 and refused.body["field"] == field, (wrong, refused.body)


def big_site(chargers: int) -> dict:
    return {"circuits": [{"id": "main", "max_current_a": 400}],
            "chargers": [{"charger_id": f"DEPOT-{n:05}", "circuit": "main"}
                         for n in range(chargers)]}


async def headers_only_put(port: int, token: str | None, length: int) -> bytes:
    """A PUT /api/site/ that announces ``length`` bytes and sends none of them: the answer
    can only come from the headers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    writer.write(f"PUT /api/site/ HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
                 f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
                 .encode())
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()


async def test_a_site_model_beyond_the_json_limit_is_read_for_an_admin_only(
        server, api, tokens):
    body = big_site(1_600)
    size = len(json.dumps(body))
    assert 64 * 1024 < size < 1024 * 1024  # over max_json_body_bytes, within the site's
    stored = await put_site(api, tokens["admin"], body)
    assert len(stored["chargers"]) == 1_600
    assert len((await api.get("/api/site/", token=tokens["viewer"])).body["chargers"]) == 1_600
    # Strangers and lesser roles are answered from the headers, before the body is read.
    assert (await headers_only_put(server.port, None, size)).startswith(b"HTTP/1.1 401")
    assert (await headers_only_put(server.port, tokens["operator"], size)).startswith(
        b"HTTP/1.1 403")
    # Other JSON routes keep max_json_body_bytes.
    oversized = {"circuit": "main", "extra_sessions": 1, "x": body}
    other = await api.request("POST", "/api/site/what-if/", oversized, token=tokens["viewer"])
    assert other.status == 413 and "max_json_body_bytes" in other.body["error"]


async def test_a_site_model_over_its_own_limit_is_refused_naming_the_setting(start_server):
    server = await start_server(max_site_model_bytes=4096)
    token = await admin_token(server.api)
    body = big_site(100)
    announced = await server.api.request("PUT", "/api/site/", body, token=token)
    assert announced.status == 413 and announced.body["limit_bytes"] == 4096
    assert "max_site_model_bytes" in announced.body["error"]
    # Chunked, so no Content-Length tells the size in advance.
    raw = json.dumps(body).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"PUT /api/site/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                 f"{token}\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())
    for piece in (raw[start:start + 1000] for start in range(0, len(raw), 1000)):
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
    writer.write(b"0\r\n\r\n")
    try:
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 413") and b"max_site_model_bytes" in answer
    assert (await server.api.get("/api/site/", token=token)).body["chargers"] == []


async def test_a_model_file_is_loaded_and_makes_the_api_read_only(start_server, tmp_path):
    path = tmp_path / "site.json"
    path.write_text(json.dumps(site({"charger_id": "F1"}, limit=50)))
    server = await start_server(site_model_file=str(path))
    token = await admin_token(server.api)
    assert (await server.api.get("/api/site/", token=token)).body["circuits"][0][
        "max_current_a"] == 50
    refused = await server.api.request("PUT", "/api/site/", site(), token=token)
    assert refused.status == 409 and refused.body["field"] == "site_model_file"
    assert str(path) in refused.body["error"]
    path.write_text(json.dumps({"circuits": [{"id": "m"}], "chargers": []}))
    with pytest.raises(ConfigError, match=r"site_model_file .*circuits\[0\].max_current_a"):
        await build_services(make_config(tmp_path / "other", site_model_file=str(path)))


async def test_a_rest_grid_meter_reading_leaves_room_and_a_silent_one_queues_the_circuit(
        start_server):
    server = await start_server(grid_meter_max_age=1.0, **FAST)
    token = await admin_token(server.api)
    await put_site(server.api, token, site({"charger_id": "G1"}, grid_meters=[
        {"circuit": "main", "source": "rest"}]))
    async with library_chargers(server)("G1", cls=Profiled) as cp:
        await cp.boot()
        await cp.start_transaction()
        await cp.wait_for(lambda: cp.limits() == [0.0])  # no reading yet: fully loaded
        reading = {"current_a": [25, 10, 10]}
        answer = await server.api.request("PUT", "/api/site/grid-meters/main/", reading,
                                          token=token)
        assert answer.status == 200, answer.body
        await cp.wait_for(lambda: cp.limits()[-1] == 15.0)  # 40 - 25 on L1
        body = await allocation(server.api, token)
        assert body["circuits"][0]["grid_meter"]["status"] == "ok"
        await cp.wait_for(lambda: cp.limits()[-1] == 0.0, timeout=4)  # the meter fell silent
        body = await allocation(server.api, token)
        assert body["circuits"][0]["grid_meter"]["status"] == "stale"


async def test_a_modbus_grid_meter_is_polled_and_a_dead_one_counts_as_full(start_server):
    from pymodbus.datastore import (ModbusDeviceContext, ModbusSequentialDataBlock,
                                    ModbusServerContext)
    from pymodbus.server import ModbusTcpServer
    port = free_port()
    values = [0] * 110
    values[100:103] = [1200, 500, 0xFFFF]  # 12.0, 5.0 and -0.01 A (cA, signed)
    registers = ModbusSequentialDataBlock(1, values)  # values[n] is holding register n
    meter = ModbusTcpServer(ModbusServerContext(ModbusDeviceContext(hr=registers)),
                            address=("127.0.0.1", port))
    await meter.serve_forever(background=True)
    server = await start_server(grid_meter_max_age=1.0, modbus_poll_interval=0.2, **FAST)
    token = await admin_token(server.api)
    try:
        await put_site(server.api, token, site(grid_meters=[
            {"circuit": "main", "source": "modbus", "host": "127.0.0.1", "port": port,
             "register": 100, "scale": 0.01}]))

        async def read():
            circuit = (await allocation(server.api, token))["circuits"][0]
            return circuit["grid_meter"]["status"] == "ok" and circuit["other_a"][0] < 40 \
                and circuit
        circuit = await until(read)
        assert circuit and circuit["other_a"] == [12.0, 5.0, 0.0]
        assert circuit["grid_meter"]["reading_a"] == [12.0, 5.0, -0.01]
    finally:
        await meter.shutdown()

    async def dead():
        circuit = (await allocation(server.api, token))["circuits"][0]
        return circuit["grid_meter"]["status"] == "stale" and \
            circuit["headroom_a"] == [0.0, 0.0, 0.0] and circuit
    circuit = await until(dead, timeout=5)
    assert circuit and circuit["headroom_a"] == [0.0, 0.0, 0.0]
    assert server.services.load.pollers[0].failures > 0
