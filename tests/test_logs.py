"""Logs for journald (evedge/logs.py): one line per event, syslog priorities under
systemd, ``charger=<id>`` on every line about a charger; in-process and as a real process
whose stdout is the stream JOURNAL_STREAM names."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
import sys
import tempfile

import pytest
import websockets

from evedge.logs import OneLineFormatter, journal_stream, priority

from conftest import free_port

LINE = re.compile(r"<([0-7])>(DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")
LEVEL_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


def record(message: str, level: int = logging.INFO, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("evedge.test", level, __file__, 1, message, args, exc_info)


def test_a_message_stays_on_one_line_whatever_it_carries():
    formatter = OneLineFormatter("%(levelname)s %(name)s: %(message)s", prefix=True)
    forged = "frame [2,\n\"x\"]\r\n<3>ERROR evedge: forged"
    text = formatter.format(record("charger=%s malformed frame: %s", logging.INFO, "CP-1",
                                   forged))
    assert "\n" not in text and "\r" not in text
    assert text.startswith("<6>INFO evedge.test: charger=CP-1 malformed frame: frame [2,\\n")


def test_every_line_of_a_bugs_traceback_carries_its_priority():
    formatter = OneLineFormatter("%(levelname)s %(name)s: %(message)s", prefix=True)
    try:
        raise ValueError("a real bug")
    except ValueError:
        text = formatter.format(record("handler failed", logging.ERROR,
                                       exc_info=sys.exc_info()))
    lines = text.split("\n")
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>ValueError: a real bug"


def test_without_journald_lines_keep_no_prefix():
    formatter = OneLineFormatter("%(levelname)s %(message)s", prefix=False)
    assert formatter.format(record("two\nlines", logging.WARNING)) == "WARNING two\\nlines"


@pytest.mark.parametrize("level, expected", [(logging.DEBUG, 7), (logging.INFO, 6), (25, 6),
                                             (logging.WARNING, 4), (logging.ERROR, 3),
                                             (logging.CRITICAL, 2), (60, 2), (1, 7)])
def test_levels_map_to_sd_daemon_priorities(level, expected):
    assert priority(level) == expected


def test_the_journal_stream_is_recognised_by_its_device_and_inode(monkeypatch):
    with tempfile.TemporaryFile() as journal, tempfile.TemporaryFile() as other:
        info = os.fstat(journal.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        assert journal_stream(journal)
        assert not journal_stream(other)  # the variable inherited, the stream elsewhere
        assert not journal_stream(io.StringIO())
        monkeypatch.delenv("JOURNAL_STREAM")
        assert not journal_stream(journal)


# --- the real process --------------------------------------------------------------------------

async def run_evedge(data_dir, journal_matches: bool) -> list[str]:
    """Start `python -m evedge serve` with stdout on a pipe and JOURNAL_STREAM naming that
    pipe (or not), let a charger misbehave, stop it with SIGTERM; its output lines."""
    read_fd, write_fd = os.pipe()
    info = os.fstat(write_fd)
    stream = f"{info.st_dev}:{info.st_ino}" if journal_matches else f"{info.st_dev}:1"
    port = free_port()
    env = {**os.environ, "JOURNAL_STREAM": stream, "PYTHONUNBUFFERED": "1",
           "EVEDGE_LOG_LEVEL": "info"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evedge", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data_dir), env=env, stdout=write_fd, stderr=write_fd)
    os.close(write_fd)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb"))
    lines: list[str] = []

    async def until(fragment: str) -> None:
        while fragment not in (lines[-1] if lines else ""):
            line = await reader.readline()
            assert line, "evedge exited:\n" + "".join(lines)
            lines.append(line.decode())

    try:
        await asyncio.wait_for(until("listening on"), 30)
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-J",
                                      subprotocols=["ocpp1.6"], open_timeout=5) as ws:
            await ws.send('[2, "m1", \n"Heartbeat", {}')  # malformed, with a newline
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))[0] == 4
        await asyncio.wait_for(until("charger=CP-J disconnected"), 10)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        while line := await asyncio.wait_for(reader.readline(), 5):
            lines.append(line.decode())
    finally:
        transport.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return [line.rstrip("\n") for line in lines]


@pytest.mark.timeout(60)
async def test_under_journald_every_line_has_a_priority_and_no_timestamp(tmp_path):
    lines = await run_evedge(tmp_path, journal_matches=True)
    for line in lines:
        match = LINE.match(line)
        assert match, f"not a journald line: {line!r}"
        assert int(match.group(1)) == LEVEL_PRIORITY[match.group(2)], line
    about = [line for line in lines if "CP-J" in line]
    assert len(about) >= 3  # connected, malformed frame, disconnected
    assert all("charger=CP-J " in line for line in about), about
    assert any(line.startswith("<4>WARNING evedge.server: insecure: ") for line in lines)
    assert "Traceback" not in "\n".join(lines)


@pytest.mark.timeout(60)
async def test_an_inherited_journal_stream_keeps_the_timestamps(tmp_path):
    lines = await run_evedge(tmp_path, journal_matches=False)
    assert lines and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ", line)
                         for line in lines), lines[:3]
