"""Helpers of the fuzzers (test_frame_fuzz.py, test_rest_fuzz.py) and their findings' tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets


def strict_json(text: str | bytes) -> Any:
    """json.loads that refuses NaN and Infinity, which browsers' JSON.parse refuses."""
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


async def open_dashboard(server, token: str):
    ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/ws/dashboard", open_timeout=5)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    snapshot = strict_json(await asyncio.wait_for(ws.recv(), 5))
    assert snapshot["type"] == "snapshot", snapshot
    return ws
