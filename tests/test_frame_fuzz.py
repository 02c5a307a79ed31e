"""The OCPP frame fuzzer: garbage of every kind over a real socket to the real server.

Frames come from tests/frame_strategies.py: random JSON, wrong envelopes, numbers no
double holds, nesting 3,000 deep, invalid UTF-8, binary frames, valid CALLs of all ten
actions with mutated payloads, and answers to calls never made. For every frame:

* every answer is a CALLRESULT valid against the action's response schema or a
  CALLERROR with a code of OCPP-J 1.6 §4.2.3 (spelled as 1.6 spells them), carries the
  frame's unique id, and comes once; a CALL and a malformed frame with a recoverable id
  are always answered, a CALLRESULT or CALLERROR never;
* the connection is usable afterwards (a Heartbeat is answered), unless the frame must
  close it: invalid UTF-8 in a text frame closes with 1007 (RFC 6455 §8.1);
* nothing was logged at ERROR or with a traceback (caplog);
* every so often, and at the end: what was stored reads back through the API
  (GET /api/chargers/<id>/, /api/chargers/ and /api/transactions/ answer 200 with valid
  JSON: no NaN or Infinity), a dashboard socket gets its snapshot, and the live dashboard
  socket open all along only ever received valid JSON.

The server is in this process, so "the process is alive" is that it keeps answering.
One server and one socket carry all examples of a test (hypothesis' function-scoped
fixture health check is suppressed on purpose, as in test_tolerance_fuzz.py).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
from typing import Any

import jsonschema
import pytest
import websockets
from hypothesis import HealthCheck, given, settings

from conftest import fetch
from fuzz_kit import open_dashboard, strict_json
from evedge.chargers import protocol
from frame_strategies import (ANY_ID, ERROR_CODES, KNOWN_TRANSACTION, Frame, frames,
                              mutated_calls)

CHARGER = "CP-FRAMES"
READ_BACK_EVERY = 50   # examples between two read-back checks
# The normal round draws the same cases every run (conftest's hypothesis profile);
# the long fuzz (-m slow) explores new ones every run.
FUZZ = settings(max_examples=700, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
    HealthCheck.filter_too_much])
LONG_FUZZ = settings(FUZZ, max_examples=20_000, derandomize=False)


_response_validators: dict[str, jsonschema.Draft4Validator] = {}


def response_validator(action: str) -> jsonschema.Draft4Validator:
    if action not in _response_validators:
        with open(os.path.join(protocol.SCHEMA_DIR, action + "Response.json"),
                  encoding="utf-8-sig") as fh:
            _response_validators[action] = jsonschema.Draft4Validator(json.load(fh))
    return _response_validators[action]


class Dashboard:
    """A dashboard socket kept open through the fuzz: everything it gets must be JSON."""

    def __init__(self, ws):
        self.ws, self.frames, self.bad = ws, 0, []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                try:
                    strict_json(message)
                except ValueError as exc:
                    self.bad.append(f"{exc}: {message[:200]}")
                self.frames += 1
        except websockets.ConnectionClosed:
            pass

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.wait_for(self.reader, 5)


class FrameFuzzer:
    def __init__(self, server, token: str, caplog):
        self.server, self.token, self.caplog = server, token, caplog
        self.ws = None
        self.heartbeats = itertools.count(1)
        self.examples = 0
        self.kinds: dict[str, int] = {}
        self.transaction = 1   # the last transactionId a StartTransaction got

    async def connect(self) -> None:
        self.ws = await websockets.connect(f"{self.server.ocpp_url}/{CHARGER}",
                                           subprotocols=["ocpp1.6"], open_timeout=5,
                                           max_size=None)

    async def run(self, frame: Frame) -> None:
        self.caplog.clear()   # what is logged from here on is this frame's
        self.examples += 1
        self.kinds[frame.kind] = self.kinds.get(frame.kind, 0) + 1
        if isinstance(frame.data, str):
            frame.data = frame.data.replace(KNOWN_TRANSACTION, str(self.transaction))
        if frame.binary or frame.closes:
            await self.ws.send(frame.data, text=not frame.binary)
        else:
            await self.ws.send(frame.data)
        if frame.closes:
            await self.closed_with_1007(frame)
        else:
            await self.answered_then_usable(frame)
        self.no_errors_logged(frame)
        if self.examples % READ_BACK_EVERY == 0:
            await self.read_back()

    async def answered_then_usable(self, frame: Frame) -> None:
        """Read up to the answer of a Heartbeat sent after the frame; check what came."""
        beat = f"\u2603hb-{next(self.heartbeats)}"   # no generated id looks like it
        await self.ws.send(json.dumps([2, beat, "Heartbeat", {}]))
        answers = []
        while True:
            message = strict_json(await asyncio.wait_for(self.ws.recv(), 10))
            if isinstance(message, list) and len(message) > 1 and message[1] == beat:
                assert message[0] == 3, (frame.kind, message)
                break
            answers.append(message)
        assert len(answers) <= 1, (frame, answers)
        if frame.must_answer:
            assert answers, f"no answer to {frame.kind}: {frame.data[:300]!r}"
        for answer in answers:
            check_answer(frame, answer)
            if frame.action == "StartTransaction" and answer[0] == 3:
                self.transaction = answer[2]["transactionId"]

    async def closed_with_1007(self, frame: Frame) -> None:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(self.ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007, \
            (frame.data[:100], closed.value)
        await self.connect()

    def no_errors_logged(self, frame: Frame) -> None:
        errors = [r for r in self.caplog.records if r.exc_info or r.levelno >= logging.ERROR]
        assert not errors, (frame.kind, frame.data[:300], [r.getMessage() for r in errors])

    async def read_back(self) -> None:
        """What was stored is readable: the API answers valid JSON, a dashboard its snapshot."""
        for path in (f"/api/chargers/{CHARGER}/", "/api/chargers/",
                     "/api/transactions/?limit=1000", "/api/transactions/?active=true",
                     f"/api/chargers/{CHARGER}/anomalies/?limit=1000",
                     f"/api/chargers/{CHARGER}/status-log/?limit=1000",
                     "/api/reports/energy/?group=charger"):
            response = await fetch(self.server.http_url + path,
                                   headers={"Authorization": f"Bearer {self.token}"})
            assert response.code == 200, (path, response.code, response.body[:300])
            strict_json(response.body)
        await (await open_dashboard(self.server, self.token)).close()


def check_answer(frame: Frame, answer: Any) -> None:
    assert isinstance(answer, list) and answer and answer[0] in (3, 4), (frame.kind, answer)
    if frame.answer_id is not ANY_ID:
        assert frame.answer_id is not None, ("answered a frame without an id", frame, answer)
        assert answer[1] == frame.answer_id, (frame.kind, answer)
    if answer[0] == 3:
        assert len(answer) == 3 and frame.action is not None, (frame.kind, answer)
        response_validator(frame.action).validate(answer[2])
        return
    assert len(answer) == 5, answer
    code, description, details = answer[2:]
    assert code in ERROR_CODES, (frame.kind, answer)
    assert isinstance(description, str) and isinstance(details, dict), answer


@pytest.fixture
async def fuzzer(start_server, caplog):
    # Fuzzing is not a flood: the per-charger read rate would slow the examples down.
    server = await start_server(charger_message_rate=100_000, charger_message_burst=100_000)
    token = (await server.api.register())["access"]
    dashboard = Dashboard(await open_dashboard(server, token))
    fuzz = FrameFuzzer(server, token, caplog)
    await fuzz.connect()
    yield fuzz
    await fuzz.read_back()
    await fuzz.ws.close()
    assert not dashboard.reader.done(), "the dashboard socket was closed"
    await dashboard.close()
    assert not dashboard.bad, dashboard.bad[:5]
    print(f"\n{fuzz.examples} frames: {dict(sorted(fuzz.kinds.items()))}")


@FUZZ
@given(frame=frames())
async def test_no_frame_wedges_crashes_or_poisons(fuzzer, frame):
    await fuzzer.run(frame)


@settings(FUZZ, max_examples=300)
@given(frame=mutated_calls("MeterValues"))
async def test_mutated_meter_values_with_a_dashboard_open(fuzzer, frame):
    """The most frequent message, and the one with a live event per message."""
    await fuzzer.run(frame)


# The long run, only when asked for: ``pytest -m slow tests/test_frame_fuzz.py``.
@pytest.mark.slow
@pytest.mark.skipif("'slow' not in config.getoption('markexpr')",
                    reason="long fuzz: select it with -m slow")
@pytest.mark.timeout(1800)
@LONG_FUZZ
@given(frame=frames())
async def test_long_frame_fuzz(fuzzer, frame):
    await fuzzer.run(frame)
