"""Every route of the OpenAPI document, called with no token, a bad, an expired and a
revoked one, and each role's, answers as the README's REST table ("who") says: 401
without a working token, 403 below the role, neither 401 nor 403 with enough role
(any other status is fine there: the path parameters are made up). Public routes
(anyone, chargers) are never 401/403. And the table names no route that does not exist.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import websockets

from evedge.domain import credentials
from evedge.timeutil import utcnow

from conftest import ROLE_USERS, TEST_SECRET
from test_openapi import operations, sample_url
from test_pages import socket_url

pytestmark = pytest.mark.timeout(60)

README = Path(__file__).resolve().parent.parent / "README.md"
RANK = {"viewer": 0, "operator": 1, "admin": 2}
PUBLIC = "public"


@dataclass
class Row:
    methods: set[str]
    pattern: re.Pattern
    placeholders: int
    path: str
    who: dict[str, str]   # method -> role or PUBLIC


def _who(cell: str, method: str) -> str:
    """'admin', 'viewer / operator' (reads / writes), 'bearer', 'anyone', 'chargers'."""
    first = cell.split("(")[0].strip()
    if first.split()[0] in ("anyone", "chargers"):
        return PUBLIC
    roles = [part.strip() for part in first.split("/")]
    role = roles[0] if method in ("GET", "HEAD") or len(roles) == 1 else roles[1]
    return "viewer" if role == "bearer" else role


def readme_rows() -> list[Row]:
    text = README.read_text()
    table = text[text.index("| method, path | who |"):]
    table = table[:table.index("\n\n")]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        for group in cells[0].split(";"):
            methods = {m.strip() for m in group.split("`")[0].split(",") if m.strip()}
            for path in re.findall(r"`([^`]+)`", group):
                regex = re.sub(r"<[^>]+>", "[^/]+", re.escape(path))
                rows.append(Row(methods, re.compile(regex), path.count("<"), path,
                                {m: _who(cells[1], m) for m in methods}))
    return rows


def who_for(rows: list[Row], method: str, url: str) -> tuple[str, Row]:
    method = "GET" if method == "HEAD" else method  # HEAD is GET without the body
    found = [r for r in rows if method in r.methods and r.pattern.fullmatch(url)]
    assert found, f"README's REST table has no row for {method} {url}"
    fewest = min(r.placeholders for r in found)
    best = [r for r in found if r.placeholders == fewest]
    assert len({r.who[method] for r in best}) == 1, f"{method} {url}: rows disagree"
    return best[0].who[method], best[0]


@pytest.fixture
async def server(start_server):
    """With registration open, so that POST /api/auth/register/ is public as the table says
    (closed, its 403 is a policy answer, not a missing role)."""
    return await start_server(registration="open")


@pytest.fixture
async def credentials_by_kind(api, tokens, server) -> dict:
    """Fresh tokens per role, and the bad ones: garbage, expired, revoked."""
    async def fresh() -> dict[str, str]:
        return {role: await api.login(*ROLE_USERS[role]) for role in RANK}

    viewer = await fresh()
    claims = credentials.decode_token(TEST_SECRET, viewer["viewer"], "access")
    expired = credentials.issue_token(TEST_SECRET, user_id=int(claims["sub"]),
                                      sid=claims["sid"], kind="access", ttl=60,
                                      now=utcnow() - dt.timedelta(hours=1)).value
    revoked = await api.login(*ROLE_USERS["admin"])
    assert (await api.post("/api/auth/logout/", {}, token=revoked)).status == 200
    return {"fresh": fresh, "bad": {"none": None, "garbage": "not.a.token",
                                    "expired": expired, "revoked": revoked}}


async def ws_outcome(server, token: str | None) -> str:
    """Over the dashboard socket: 'refused' (closed 4401) or 'served' (a snapshot)."""
    async with websockets.connect(socket_url(server), open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        try:
            first = json.loads(await ws.recv())
        except websockets.ConnectionClosed:
            return "refused"
        assert first["type"] == "snapshot"
        return "served"


async def test_every_route_answers_as_the_readme_table_says(server, api, credentials_by_kind):
    document = (await api.get("/api/openapi.json")).body
    rows = readme_rows()
    used: set[str] = set()
    checked = 0
    for path, verb, op in operations(document):
        method, url = verb.upper(), sample_url(path, op)
        who, row = who_for(rows, method, url)
        used.add(row.path)
        assert (who == PUBLIC) == ("x-evedge-role" not in op and op.get("security") in
                                   ([], [{}, {"chargerBasic": []}])), \
            f"{method} {path}: README says {who}, the handler {op.get('x-evedge-role')}"
        if "101" in op["responses"] and who != PUBLIC:
            await check_socket(server, who, credentials_by_kind)
            checked += 1
            continue
        tokens = await credentials_by_kind["fresh"]()  # a route may end a login (logout)
        for kind, token in credentials_by_kind["bad"].items():
            status = (await api.request(method, url, token=token)).status
            if who == PUBLIC:
                assert status not in (401, 403), f"{method} {url} {kind}: {status}"
            else:
                assert status == 401, f"{method} {url} with a {kind} token: {status}"
        for role, token in tokens.items():
            status = (await api.request(method, url, token=token)).status
            where = f"{method} {url} as {role}: {status}"
            if who != PUBLIC and RANK[role] < RANK[who]:
                assert status == 403, where
            else:
                assert status not in (401, 403), where
        checked += 1
    assert checked > 80
    unused = sorted({row.path for row in rows} - used)
    assert not unused, f"README's REST table lists routes that do not exist: {unused}"


async def check_socket(server, who: str, credentials_by_kind: dict) -> None:
    for kind, token in credentials_by_kind["bad"].items():
        assert await ws_outcome(server, token) == "refused", kind
    tokens = await credentials_by_kind["fresh"]()
    for role, token in tokens.items():
        expected = "served" if RANK[role] >= RANK[who] else "refused"
        assert await ws_outcome(server, token) == expected, role


async def test_the_socket_check_can_fail(server, credentials_by_kind):
    """ws_outcome tells the two apart (a check that cannot fail proves nothing)."""
    assert await ws_outcome(server, "forged") == "refused"
    assert await ws_outcome(server, (await credentials_by_kind["fresh"]())["viewer"]) == "served"


def test_the_table_parser_reads_what_the_walk_relies_on():
    rows = readme_rows()
    assert who_for(rows, "GET", "/api/id-tags/x/")[0] == "viewer"
    assert who_for(rows, "DELETE", "/api/id-tags/x/")[0] == "operator"
    assert who_for(rows, "POST", "/api/chargers/start/CP-1/")[1].path == \
        "/api/chargers/start/<id>/"  # the literal row wins over <id>/<command>/
    assert who_for(rows, "HEAD", "/firmware/fw.bin")[0] == PUBLIC
    assert who_for(rows, "POST", "/api/auth/logout/")[0] == "viewer"  # bearer: any role
    with pytest.raises(AssertionError, match="no row"):
        who_for(rows, "POST", "/api/nowhere/")
