"""Accounts over real HTTP: register, login, logout, refresh rotation, roles, bad input."""

from __future__ import annotations

import pytest

from evedge.storage.models import User


async def test_the_first_admin_comes_with_the_setup_code(api):
    first = await api.register("alice", "correct-horse")  # with the server's setup code
    assert first["role"] == "admin" and first["username"] == "alice"
    assert set(first) == {"message", "username", "role", "access", "refresh"}


@pytest.mark.parametrize("settings, role", [
    ({"registration": "open"}, "viewer"),
    ({"registration": "open", "registration_role": "operator"}, "operator"),
])
async def test_open_registration_gives_the_registration_role(start_server, settings, role):
    running = await start_server(**settings)
    await running.api.register("alice", "correct-horse")
    second = await running.api.register("bob", "battery-staple")
    assert second["role"] == role


async def test_login_returns_the_same_shape_and_wrong_password_is_401(api):
    await api.register("alice", "correct-horse")
    ok = await api.post("/api/auth/login/", {"username": "alice", "password": "correct-horse"})
    assert ok.status == 200
    assert set(ok.body) == {"message", "username", "role", "access", "refresh"}
    bad = await api.post("/api/auth/login/", {"username": "alice", "password": "wrong-horse"})
    assert bad.status == 401 and "error" in bad.body
    unknown = await api.post("/api/auth/login/", {"username": "nobody", "password": "whatever1"})
    assert unknown.status == 401


async def test_access_token_works_until_logout_then_both_tokens_stop(api):
    tokens = await api.register()
    assert (await api.get("/api/chargers/", token=tokens["access"])).status == 200
    out = await api.post("/api/auth/logout/", {}, token=tokens["access"])
    assert out.status == 200
    assert (await api.get("/api/chargers/", token=tokens["access"])).status == 401
    refreshed = await api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]})
    assert refreshed.status == 401


async def test_refresh_rotates_and_the_old_refresh_token_is_revoked(api):
    tokens = await api.register()
    rotated = await api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]})
    assert rotated.status == 200 and set(rotated.body) == {"access", "refresh"}
    assert rotated.body["refresh"] != tokens["refresh"]
    assert (await api.get("/api/chargers/", token=rotated.body["access"])).status == 200
    replay = await api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]})
    assert replay.status == 401
    # Reusing a rotated-out refresh token ends the whole login session (theft detection).
    assert (await api.get("/api/chargers/", token=rotated.body["access"])).status == 401


async def test_refresh_token_is_not_an_access_token(api):
    tokens = await api.register()
    assert (await api.get("/api/chargers/", token=tokens["refresh"])).status == 401
    assert (await api.post("/api/auth/refresh/", {"refresh": tokens["access"]})).status == 401


@pytest.mark.parametrize("body, field", [
    ({"password": "correct-horse"}, "username"),
    ({"username": "alice"}, "password"),
    ({"username": "alice", "password": "short"}, "password"),
    ({"username": "has space", "password": "correct-horse"}, "username"),
    ({"username": "alice", "password": "x" * 73}, "password"),
    ({"username": "alice", "password": "€" * 25}, "password"),  # 75 bytes in UTF-8
])
async def test_bad_registration_is_400_naming_the_field(api, body, field):
    response = await api.post("/api/auth/register/", {**body, "setup_code": api.setup_code()})
    assert response.status == 400
    assert response.body["field"] == field and response.body["error"]


async def test_duplicate_username_is_409(start_server):
    api = (await start_server(registration="open")).api
    await api.register("alice", "correct-horse")
    response = await api.post("/api/auth/register/",
                              {"username": "alice", "password": "another-pass"})
    assert response.status == 409 and response.body["field"] == "username"


async def test_body_that_is_not_json_is_400(api):
    response = await api.request("POST", "/api/auth/login/", raw=b"{not json")
    assert response.status == 400 and "JSON" in response.body["error"]
    response = await api.request("POST", "/api/auth/login/", raw=b"[1, 2]")
    assert response.status == 400


async def test_long_password_at_login_is_401_not_500(api):
    await api.register("alice", "correct-horse")
    response = await api.post("/api/auth/login/", {"username": "alice", "password": "y" * 100})
    assert response.status == 401


async def test_registration_is_closed_by_default(api):
    await api.register("admin", "correct-horse")
    response = await api.post("/api/auth/register/",
                              {"username": "eve", "password": "correct-horse"})
    assert response.status == 403 and "closed" in response.body["error"]


async def test_missing_or_garbage_bearer_is_401_with_json(api):
    response = await api.get("/api/chargers/")
    assert response.status == 401 and "error" in response.body
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert (await api.get("/api/chargers/", token="garbage")).status == 401


async def test_disabled_user_is_locked_out_at_once(api):
    tokens = await api.register()
    User.update(is_active=False).where(User.username == "alice").execute()
    assert (await api.get("/api/chargers/", token=tokens["access"])).status == 401


async def test_viewer_cannot_send_commands(api, server):
    await api.register("admin", "correct-horse")
    await server.services.accounts.create_user("vera", "viewer-pass", "viewer")
    login = await api.post("/api/auth/login/", {"username": "vera", "password": "viewer-pass"})
    assert login.body["role"] == "viewer"
    token = login.body["access"]
    assert (await api.get("/api/chargers/", token=token)).status == 200
    response = await api.post("/api/chargers/start/CP-1/", {"id_tag": "T1"}, token=token)
    assert response.status == 403


async def test_unknown_api_path_is_json_404(api):
    response = await api.get("/api/nothing-here/")
    assert response.status == 404 and "error" in response.body


async def test_healthz_commits_a_write(api):
    response = await api.get("/healthz")
    assert response.status == 200 and response.body["status"] == "ok"
