"""The first start of a real `python -m evedge` process: the setup-code banner and the
insecure-choice warnings in its log, the code making the first admin, and
`evedge createuser` reading the password from a prompt (twice) or from stdin."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import sqlite3
import subprocess
import sys
import time

import pytest
import tornado.httpclient

from test_process import evedge_process

pytestmark = pytest.mark.timeout(90)
FAST = ("--bcrypt-rounds", "10")  # the lowest a real start accepts

BANNER = re.compile(r"No admin yet\. Create one with `evedge createuser` or open "
                    r"http://\S+:(\d+)/ui/ and use setup code ([A-Z2-9]{4}(?:-[A-Z2-9]{4}){3})")


async def post(port: int, path: str, body: dict) -> tuple[int, dict]:
    response = await tornado.httpclient.AsyncHTTPClient().fetch(
        f"http://127.0.0.1:{port}{path}", method="POST", body=json.dumps(body),
        headers={"Content-Type": "application/json"}, raise_error=False, request_timeout=20)
    return response.code, json.loads(response.body)


def createuser(data_dir, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evedge", "createuser", "--data-dir",
                           str(data_dir), *args], input=stdin, capture_output=True, text=True,
                          timeout=30, env={**os.environ, "EVEDGE_BCRYPT_ROUNDS": "10"})


def users(data_dir) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "evedge.db") as db:
        return db.execute('SELECT username, role FROM "user" ORDER BY id').fetchall()


async def test_the_setup_code_is_in_the_log_at_every_start_until_an_admin_exists(tmp_path):
    async with evedge_process(tmp_path, *FAST) as (proc, port):
        await asyncio.wait_for(proc.until("setup code"), 10)
        log = "".join(proc.lines)
        found = BANNER.search(log)
        assert found and int(found.group(1)) == port, log
        code = found.group(2)
        for setting in ("tls_cert", "admission = accept"):
            assert re.search(rf"WARNING evedge\.server: insecure: .*{re.escape(setting)}", log)
        assert "registration = open" not in log  # closed by default
    async with evedge_process(tmp_path, *FAST) as (proc, port):  # a new start, a new code
        await asyncio.wait_for(proc.until("setup code"), 10)
        again = BANNER.search("".join(proc.lines)).group(2)
        assert again != code
        status, _ = await post(port, "/api/auth/register/", {
            "username": "admin", "password": "correct-horse", "setup_code": code})
        assert status == 403  # the old start's code is gone with it
        status, body = await post(port, "/api/auth/register/", {
            "username": "admin", "password": "correct-horse", "setup_code": again})
        assert status == 201 and body["role"] == "admin"
    async with evedge_process(tmp_path, *FAST) as (proc, port):
        await asyncio.wait_for(proc.until("insecure: "), 10)
        status, _ = await post(port, "/api/auth/login/",
                               {"username": "admin", "password": "correct-horse"})
        assert status == 200
        assert "setup code" not in "".join(proc.lines)


def test_createuser_reads_the_password_from_stdin(tmp_path):
    made = createuser(tmp_path, "--username", "admin", stdin="piped-password\n")
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[-1] == "created admin admin"
    assert users(tmp_path) == [("admin", "admin")]
    short = createuser(tmp_path, "--username", "op", "--role", "operator", stdin="short\n")
    assert short.returncode == 1 and "at least 8" in short.stderr
    with_option = createuser(tmp_path, "--username", "op", "--role", "operator",
                             "--password", "option-password")
    assert with_option.returncode == 0 and users(tmp_path)[-1] == ("op", "operator")


def run_on_a_terminal(args: list[str], answers: list[str], timeout: float = 30) -> tuple[int, str]:
    """Run ``python -m evedge createuser ...`` with a pseudo-terminal as its controlling
    terminal (getpass reads /dev/tty); answer each prompt with the next of ``answers``."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.environ["EVEDGE_BCRYPT_ROUNDS"] = "10"
        os.execv(sys.executable, [sys.executable, "-m", "evedge", "createuser", *args])
    output, answered, deadline = b"", 0, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 0.2)[0]:
                continue
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                break
            output += chunk
            prompts = output.count(b"Password")
            if answered < min(prompts, len(answers)) and output.endswith(b": "):
                os.write(fd, answers[answered].encode() + b"\n")
                answered += 1
        else:
            os.kill(pid, 9)
            raise AssertionError(f"createuser did not finish: {output!r}")
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_createuser_asks_twice_on_a_terminal(tmp_path):
    code, output = run_on_a_terminal(["--data-dir", str(tmp_path), "--username", "admin"],
                                     ["first-password", "other-password"])
    assert code == 1 and "the passwords differ" in output
    assert not (tmp_path / "evedge.db").exists()  # refused before the database is opened
    assert output.count("Password") == 2 and "first-password" not in output  # not echoed
    code, output = run_on_a_terminal(["--data-dir", str(tmp_path), "--username", "admin"],
                                     ["typed-password", "typed-password"])
    assert code == 0 and "created admin admin" in output, output
    assert users(tmp_path) == [("admin", "admin")]
