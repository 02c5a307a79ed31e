"""Charger admission: policies for unknown ids, approval, Basic auth (profile 1), TLS
(profile 2)."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl

import pytest
import trustme
import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from evedge.config import ConfigError
from evedge.storage.models import Charger

from conftest import library_chargers, ocpp_call

BOOT = [2, "boot", "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X"}]


def basic(user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_reject_policy_refuses_unknown_ids_before_upgrade(start_server):
    running = await start_server(admission="reject")
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{running.ocpp_url}/CP-NEW", subprotocols=["ocpp1.6"]):
            pass
    assert refused.value.response.status_code == 404
    assert Charger.select().count() == 0
    Charger.create(id="CP-KNOWN")
    async with websockets.connect(f"{running.ocpp_url}/CP-KNOWN",
                                  subprotocols=["ocpp1.6"]) as ws:
        assert (await ocpp_call(ws, BOOT))[2]["status"] == "Accepted"


async def test_pending_charger_is_approved_by_an_admin(start_server):
    running = await start_server(admission="pending", boot_retry_interval=7)
    admin = (await running.api.register())["access"]
    async with websockets.connect(f"{running.ocpp_url}/CP-P", subprotocols=["ocpp1.6"]) as ws:
        first = await ocpp_call(ws, BOOT)
        assert first[2]["status"] == "Pending" and first[2]["interval"] == 7
        # No command reaches a Pending charger.
        refused = await running.api.post("/api/chargers/CP-P/reset/", {"type": "Soft"},
                                         token=admin)
        assert refused.status == 409 and refused.body["registration_status"] == "Pending"
        approved = await running.api.request("PATCH", "/api/chargers/CP-P/",
                                             {"registration_status": "Accepted"}, token=admin)
        assert approved.status == 200 and approved.body["registration_status"] == "Accepted"
        # Asked to boot at once instead of after the Pending interval (§4.2.1, §5.17).
        asked = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert asked[0] == 2 and asked[2:] == ["TriggerMessage",
                                               {"requestedMessage": "BootNotification"}]
        await ws.send(json.dumps([3, asked[1], {"status": "Accepted"}]))
        second = await ocpp_call(ws, BOOT)
        assert second[2]["status"] == "Accepted" and second[2]["interval"] == 300


async def test_rejecting_a_connected_charger_stops_commands_at_once(start_server):
    running = await start_server()
    admin = (await running.api.register())["access"]
    async with websockets.connect(f"{running.ocpp_url}/CP-R", subprotocols=["ocpp1.6"]) as ws:
        assert (await ocpp_call(ws, BOOT))[2]["status"] == "Accepted"
        await running.api.request("PATCH", "/api/chargers/CP-R/",
                                  {"registration_status": "Rejected"}, token=admin)
        refused = await running.api.post("/api/chargers/CP-R/clear-cache/", {}, token=admin)
        assert refused.status == 409
        assert (await ocpp_call(ws, BOOT))[2]["status"] == "Rejected"


async def test_pre_registered_charger_with_password_needs_basic_auth(start_server):
    running = await start_server(admission="reject")
    admin = (await running.api.register())["access"]
    created = await running.api.post("/api/chargers/", {
        "id": "CP-SEC", "label": "Bay 4", "location": "North yard",
        "password": "s3cret-charger-key"}, token=admin)
    assert created.status == 201 and created.body["has_password"] is True
    assert created.body["label"] == "Bay 4"
    url = f"{running.ocpp_url}/CP-SEC"
    for headers in ({}, basic("CP-SEC", "wrong-password-1"), basic("OTHER", "s3cret-charger-key")):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, subprotocols=["ocpp1.6"],
                                          additional_headers=headers):
                pass
        assert refused.value.response.status_code == 401
    async with websockets.connect(url, subprotocols=["ocpp1.6"],
                                  additional_headers=basic("CP-SEC", "s3cret-charger-key")) as ws:
        assert (await ocpp_call(ws, BOOT))[2]["status"] == "Accepted"
    # Removing the password opens the charger again.
    await running.api.request("PATCH", "/api/chargers/CP-SEC/", {"password": None}, token=admin)
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:
        assert (await ocpp_call(ws, BOOT))[0] == 3


@pytest.mark.parametrize("body, field", [
    ({"id": ""}, "id"),
    ({"id": "a/b"}, "id"),
    ({"id": "CP-1", "registration_status": "Maybe"}, "registration_status"),
    ({"id": "CP-1", "password": "short"}, "password"),
    ({"id": "CP-1", "label": "x" * 101}, "label"),
])
async def test_bad_charger_registration_is_400(api, body, field):
    admin = (await api.register())["access"]
    response = await api.post("/api/chargers/", body, token=admin)
    assert response.status == 400 and response.body["field"] == field


async def test_only_admins_manage_chargers(api, tokens):
    response = await api.post("/api/chargers/", {"id": "CP-1"}, token=tokens["operator"])
    assert response.status == 403


async def test_tls_wss_with_basic_auth(tmp_path, start_server):
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    running = await start_server(tls_cert=str(tmp_path / "cert.pem"),
                                 tls_key=str(tmp_path / "key.pem"))
    client_ssl = ssl.create_default_context()
    authority.configure_trust(client_ssl)
    async with websockets.connect(f"wss://127.0.0.1:{running.port}/ocpp/CP-TLS",
                                  subprotocols=["ocpp1.6"], ssl=client_ssl) as ws:
        assert (await ocpp_call(ws, BOOT))[2]["status"] == "Accepted"
        assert ws.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("key_type, cipher", [
    (trustme.KeyType.ECDSA, "ECDHE-ECDSA-AES128-GCM-SHA256"),
    (trustme.KeyType.ECDSA, "ECDHE-ECDSA-AES256-GCM-SHA384"),
    (trustme.KeyType.RSA, "AES128-GCM-SHA256"),  # TLS_RSA_WITH_AES_128_GCM_SHA256
    (trustme.KeyType.RSA, "AES256-GCM-SHA384"),  # TLS_RSA_WITH_AES_256_GCM_SHA384
    (trustme.KeyType.RSA, "ECDHE-RSA-AES128-GCM-SHA256"),
])
async def test_tls_offers_the_whitepapers_cipher_suites(tmp_path, start_server, key_type,
                                                        cipher):
    """A charger limited to one of the suites the 1.6 security whitepaper requires of the
    central system (TLS 1.2) connects."""
    authority = trustme.CA(key_type=key_type)
    cert = authority.issue_cert("127.0.0.1", key_type=key_type)
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    running = await start_server(tls_cert=str(tmp_path / "cert.pem"),
                                 tls_key=str(tmp_path / "key.pem"))
    client_ssl = ssl.create_default_context()
    authority.configure_trust(client_ssl)
    client_ssl.maximum_version = ssl.TLSVersion.TLSv1_2
    client_ssl.set_ciphers(cipher + ":@SECLEVEL=0")
    async with websockets.connect(f"wss://127.0.0.1:{running.port}/ocpp/CP-{cipher}",
                                  subprotocols=["ocpp1.6"], ssl=client_ssl) as ws:
        assert (await ocpp_call(ws, BOOT))[2]["status"] == "Accepted"
        tls = ws.transport.get_extra_info("ssl_object")
        assert tls.version() == "TLSv1.2" and tls.cipher()[0] == cipher


async def test_tls_below_1_2_is_refused(tmp_path, start_server):
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    running = await start_server(tls_cert=str(tmp_path / "cert.pem"),
                                 tls_key=str(tmp_path / "key.pem"))
    client_ssl = ssl.create_default_context()
    authority.configure_trust(client_ssl)
    try:
        client_ssl.minimum_version = ssl.TLSVersion.TLSv1
        client_ssl.maximum_version = ssl.TLSVersion.TLSv1_1
        client_ssl.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", running.port,
                                                       ssl=client_ssl), 5)


def test_a_cipher_list_that_names_nothing_is_a_config_error(tmp_path):
    from conftest import make_config
    with pytest.raises(ConfigError, match="tls_ciphers"):
        make_config(tmp_path, tls_ciphers="NO-SUCH-CIPHER")


class BootsWhenAsked(ChargePoint):
    """A Pending charger that boots again when the central system asks (§5.17)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.booted: asyncio.Queue = asyncio.Queue()

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message, **kwargs):
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message, **kwargs):
        if requested_message == "BootNotification":
            await self.booted.put(await self.call(call.BootNotification(
                charge_point_vendor="Acme", charge_point_model="X")))


async def test_an_approved_charger_is_asked_to_boot_at_once(start_server):
    running = await start_server(admission="pending")
    token = (await running.api.register())["access"]
    connect = library_chargers(running)
    async with connect("CP-APPROVE", cls=BootsWhenAsked) as cp:
        first = await cp.call(call.BootNotification(charge_point_vendor="Acme",
                                                    charge_point_model="X"))
        assert first.status == "Pending"
        approved = await running.api.request("PATCH", "/api/chargers/CP-APPROVE/",
                                             {"registration_status": "Accepted"}, token=token)
        assert approved.status == 200
        again = await asyncio.wait_for(cp.booted.get(), 10)
        assert again.status == "Accepted"
        assert running.services.chargers.get("CP-APPROVE").registration_status == "Accepted"
