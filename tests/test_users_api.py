"""Users API for admins: create with a role, change role, disable, last-admin guard."""

from __future__ import annotations

import pytest


async def test_admin_creates_lists_and_changes_users(api, token):
    created = await api.post("/api/users/", {"username": "vic", "password": "viewer-pass",
                                             "role": "viewer"}, token=token)
    assert created.status == 201 and created.body["role"] == "viewer"
    listed = await api.get("/api/users/", token=token)
    assert [u["username"] for u in listed.body["items"]] == ["alice", "vic"]
    user_id = created.body["id"]
    login = await api.post("/api/auth/login/", {"username": "vic", "password": "viewer-pass"})
    promoted = await api.request("PATCH", f"/api/users/{user_id}/", {"role": "operator"},
                                 token=token)
    assert promoted.status == 200 and promoted.body["role"] == "operator"
    # A role change ends the user's current logins: the new role needs a new login.
    assert (await api.get("/api/chargers/", token=login.body["access"])).status == 401
    again = await api.post("/api/auth/login/", {"username": "vic", "password": "viewer-pass"})
    assert again.body["role"] == "operator"
    disabled = await api.request("PATCH", f"/api/users/{user_id}/", {"is_active": False},
                                 token=token)
    assert disabled.body["is_active"] is False
    assert (await api.get("/api/chargers/", token=again.body["access"])).status == 401
    refused = await api.post("/api/auth/login/", {"username": "vic", "password": "viewer-pass"})
    assert refused.status == 401


async def test_last_admin_cannot_be_demoted_or_disabled(api, token):
    me = (await api.get("/api/auth/me/", token=token)).body
    for change in ({"role": "viewer"}, {"is_active": False}):
        response = await api.request("PATCH", f"/api/users/{me['id']}/", change, token=token)
        assert response.status == 409
    second = await api.post("/api/users/", {"username": "ada", "password": "second-admin",
                                            "role": "admin"}, token=token)
    demoted = await api.request("PATCH", f"/api/users/{me['id']}/", {"role": "operator"},
                                token=token)
    assert demoted.status == 200 and second.status == 201


@pytest.mark.parametrize("body, field", [
    ({"username": "x", "password": "long-enough", "role": "boss"}, "role"),
    ({"username": "x y", "password": "long-enough", "role": "viewer"}, "username"),
    ({"username": "xy", "password": "short", "role": "viewer"}, "password"),
])
async def test_bad_user_input_is_400(api, token, body, field):
    response = await api.post("/api/users/", body, token=token)
    assert response.status == 400 and response.body["field"] == field


async def test_non_admins_cannot_manage_users(api, token, tokens):
    operator = tokens["operator"]
    assert (await api.get("/api/users/", token=operator)).status == 403
    assert (await api.post("/api/users/", {"username": "z", "password": "zzzzzzzz"},
                           token=operator)).status == 403
    assert (await api.request("PATCH", "/api/users/1/", {"role": "viewer"},
                              token=operator)).status == 403
    assert (await api.request("PATCH", "/api/users/999/", {"role": "viewer"},
                              token=token)).status == 404
