"""Accounts on an untrusted site network, over real HTTP: the one-time setup code for the
first admin, throttled logins and setup codes (per user name, per client address), the
bounded bcrypt queue, and unknown user names that cost as much as known ones.

Several client addresses on one machine: the loopback network is 127.0.0.0/8, so a
client socket bound to 127.0.0.2 is another address to the server (request.remote_ip).
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
from typing import Any

import pytest

from evedge import errors
from evedge.domain.accounts import Accounts
from evedge.domain.password_pool import PasswordPool

from conftest import TEST_SECRET, Response


async def post_from(source: str, port: int, path: str, body: Any) -> Response:
    """POST a JSON body from the client address ``source``; one request per connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    data = json.dumps(body).encode()
    writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                 .encode() + data)
    raw = await asyncio.wait_for(reader.read(), 15)
    writer.close()
    head, _, text = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return Response(int(lines[0].split()[1]), json.loads(text) if text else None, headers)


def login(username: str, password: str) -> dict:
    return {"username": username, "password": password}


# --- the first admin ----------------------------------------------------------------------

async def test_the_setup_code_makes_the_first_admin_once(server, api):
    code = server.services.accounts.setup_code
    assert code is not None
    assert (await api.get("/api/auth/setup/")).body == {"setup_required": True}
    creds = login("alice", "correct-horse")
    plain = await api.post("/api/auth/register/", creds)
    assert plain.status == 403 and plain.body["field"] == "setup_code"
    assert "setup code" in plain.body["error"] and "createuser" in plain.body["error"]
    wrong = await api.post("/api/auth/register/", {**creds, "setup_code": "AAAA-BBBB-CCCC-DDDD"})
    assert wrong.status == 403 and wrong.body == {"error": "wrong setup code",
                                                  "field": "setup_code"}
    typed = code.lower().replace("-", "")  # as a technician may type it
    made = await api.post("/api/auth/register/", {**creds, "setup_code": typed})
    assert made.status == 201 and made.body["role"] == "admin"
    assert (await api.get("/api/auth/me/", token=made.body["access"])).body["role"] == "admin"
    assert (await api.get("/api/auth/setup/")).body == {"setup_required": False}
    assert server.services.accounts.setup_code is None
    again = await api.post("/api/auth/register/", {**login("mallory", "correct-horse"),
                                                   "setup_code": code})
    assert again.status == 403 and "no longer" in again.body["error"]


async def test_two_registrations_with_the_code_make_one_admin(server):
    code = server.services.accounts.setup_code
    answers = await asyncio.gather(*(
        post_from(f"127.0.0.{n}", server.port, "/api/auth/register/",
                  {**login(f"admin{n}", "correct-horse"), "setup_code": code})
        for n in (2, 3)))
    assert sorted(a.status for a in answers) == [201, 403]


async def test_setup_code_must_be_a_string(api):
    response = await api.post("/api/auth/register/",
                              {**login("alice", "correct-horse"), "setup_code": 1234})
    assert response.status == 400 and response.body["field"] == "setup_code"


async def test_wrong_setup_codes_are_throttled_per_address(server):
    """Ten wrong codes are free, the eleventh blocks the address for a second: then even
    the right code gets 429 from there, and works from elsewhere."""
    code = server.services.accounts.setup_code
    body = {**login("alice", "correct-horse"), "setup_code": "WRONG"}
    statuses = [(await post_from("127.0.0.5", server.port, "/api/auth/register/", body)).status
                for _ in range(11)]
    assert statuses == [403] * 11
    blocked = await post_from("127.0.0.5", server.port, "/api/auth/register/",
                              {**body, "setup_code": code})
    assert blocked.status == 429 and blocked.headers["Retry-After"] == "1"
    assert blocked.body["retry_after"] == 1 and "try again in 1 s" in blocked.body["error"]
    elsewhere = await post_from("127.0.0.6", server.port, "/api/auth/register/",
                                {**body, "setup_code": code})
    assert elsewhere.status == 201


# --- throttled logins ---------------------------------------------------------------------

async def test_failed_logins_are_throttled_per_user_name(server, tokens):
    port = server.port
    for _ in range(6):  # five free failures; the sixth blocks "oscar" for a second
        bad = await post_from("127.0.0.2", port, "/api/auth/login/", login("oscar", "wrong!!!"))
        assert bad.status == 401
    # From another address, even with the right password: the user name waits.
    right = await post_from("127.0.0.3", port, "/api/auth/login/",
                            login("oscar", "operator-pass"))
    assert right.status == 429 and int(right.headers["Retry-After"]) >= 1
    other = await post_from("127.0.0.3", port, "/api/auth/login/", login("vera", "viewer-pass"))
    assert other.status == 200


async def test_failed_logins_are_throttled_per_address(server, tokens):
    """Many user names from one address: the address waits, not the accounts."""
    port = server.port
    for n in range(11):
        bad = await post_from("127.0.0.4", port, "/api/auth/login/", login(f"guess{n}", "x"))
        assert bad.status == 401
    refused = await post_from("127.0.0.4", port, "/api/auth/login/",
                              login("vera", "viewer-pass"))
    assert refused.status == 429 and refused.headers["Retry-After"] == "1"
    assert (await post_from("127.0.0.7", port, "/api/auth/login/",
                            login("vera", "viewer-pass"))).status == 200


async def test_a_successful_login_clears_the_user_names_count(server, tokens):
    port = server.port

    async def attempt(password: str) -> int:
        return (await post_from("127.0.0.8", port, "/api/auth/login/",
                                login("oscar", password))).status

    assert [await attempt("wrong!!!") for _ in range(5)] == [401] * 5
    assert await attempt("operator-pass") == 200
    # Five more free failures, not the sixth and seventh of a series.
    assert [await attempt("wrong!!!") for _ in range(5)] == [401] * 5


async def test_an_unknown_user_name_costs_as_much_as_a_known_one(start_server):
    running = await start_server(bcrypt_rounds=10)  # ~50-150 ms per check
    await running.api.register("alice", "correct-horse")

    async def seconds(username: str) -> float:
        start = time.perf_counter()
        response = await running.api.post("/api/auth/login/", login(username, "wrong-horse"))
        assert response.status == 401
        return time.perf_counter() - start

    known = statistics.median([await seconds("alice") for _ in range(3)])
    unknown = statistics.median([await seconds("nobody") for _ in range(3)])
    assert known > 0.02  # bcrypt at cost 10 did run
    assert unknown > 0.6 * known, (known, unknown)


async def test_a_full_bcrypt_queue_answers_503_at_once(start_server):
    """Twelve logins from twelve addresses at once: as many as the pool holds wait for a
    thread, the rest get 503 with Retry-After without waiting for any bcrypt."""
    running = await start_server(bcrypt_rounds=10)

    async def timed(n: int) -> tuple[float, Response]:
        start = time.perf_counter()
        response = await post_from(f"127.0.1.{n}", running.port, "/api/auth/login/",
                                   login(f"user{n}", "wrong-horse"))
        return time.perf_counter() - start, response

    answers = await asyncio.gather(*(timed(n) for n in range(12)))
    refused = [t for t, r in answers if r.status == 503]
    checked = [t for t, r in answers if r.status == 401]
    assert len(refused) + len(checked) == 12 and refused and checked
    assert all(r.headers.get("Retry-After") == "1" for _, r in answers if r.status == 503)
    assert max(refused) < min(checked)


async def test_charger_passwords_are_checked_on_the_same_bounded_pool(server):
    """Accounts.check_password (the charger Basic-auth path) runs on the Accounts' pool,
    and is refused at once (errors.Busy) when that pool is full."""
    from evedge.domain import credentials

    pool = PasswordPool(workers=1, max_waiting=0)
    accounts = Accounts(server.config, TEST_SECRET, pool=pool)
    slow = credentials.hash_password("charger-pass", 10)
    try:
        first = asyncio.ensure_future(accounts.check_password("charger-pass", slow))
        await asyncio.sleep(0)
        with pytest.raises(errors.Busy):
            await accounts.check_password("charger-pass", slow)
        assert await asyncio.wait_for(first, 10) is True
    finally:
        accounts.close()


async def test_a_block_is_logged_once_and_its_refusals_not_at_all(server, tokens, caplog):
    """A client ignoring Retry-After gets thousands of 429s a second; none reaches the log
    (the access log writes every 4xx otherwise), only the block itself does."""
    caplog.set_level(logging.INFO)
    for _ in range(6):
        await post_from("127.0.0.9", server.port, "/api/auth/login/", login("oscar", "wrong!!!"))
    refused = [await post_from("127.0.0.9", server.port, "/api/auth/login/",
                               login("oscar", "wrong!!!")) for _ in range(20)]
    assert {r.status for r in refused} == {429}
    blocks = [r.getMessage() for r in caplog.records if r.name == "evedge.domain.login_guard"]
    assert blocks == ["failed logins for user name 'oscar': refused for 1 s"]
    access = [r.getMessage() for r in caplog.records if r.name == "tornado.access"]
    assert sum(m.startswith("401 POST /api/auth/login/") for m in access) == 6
    assert not [m for m in access if m.startswith("429")]
