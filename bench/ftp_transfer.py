"""Files over FTP next to HTTP: time of a 64 MiB transfer, and the worst event-loop stall meanwhile.

    python bench/ftp_transfer.py [--mib 64]

One evedge (build_services, the real HTTP server, ftp_port on) in this process, on
loopback; ftplib runs in a thread as a charger would. A probe task on the event loop
sleeps 5 ms at a time and records how late it wakes: the FTP server's file writes run in
its own thread and should not show up there. See docs/library-notes.md §7 for results.
"""
from __future__ import annotations

import argparse
import asyncio
import ftplib
import io
import pathlib
import random
import sys
import tempfile
import time
from urllib.parse import urlsplit

import tornado.httpclient
import tornado.testing

sys.path[:0] = [str(pathlib.Path(__file__).resolve().parent.parent / "tests"),
                str(pathlib.Path(__file__).resolve().parent.parent)]

from conftest import Api, free_port, make_config  # noqa: E402
from evedge.server import http_server  # noqa: E402
from evedge.services import build_services  # noqa: E402
from evedge.storage.models import Charger  # noqa: E402


async def lag_probe(stop: asyncio.Event) -> float:
    worst = 0.0
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.005)
        worst = max(worst, time.perf_counter() - started - 0.005)
    return worst


async def timed(label: str, size: int, work) -> None:
    stop = asyncio.Event()
    probe = asyncio.create_task(lag_probe(stop))
    started = time.perf_counter()
    await work()
    elapsed = time.perf_counter() - started
    stop.set()
    print(f"{label}: {elapsed:.2f} s, {size / elapsed / 1e6:.0f} MB/s, "
          f"worst event-loop lag {await probe * 1000:.1f} ms")


def ftp_session(location: str) -> ftplib.FTP:
    parts = urlsplit(location)
    ftp = ftplib.FTP(timeout=60)
    ftp.connect("127.0.0.1", parts.port)
    ftp.login(parts.username, parts.password)
    return ftp


async def main(size: int) -> None:
    config = make_config(pathlib.Path(tempfile.mkdtemp()), ftp_port=free_port(),
                         diagnostics_max_bytes=size, firmware_max_bytes=size,
                         min_free_bytes=0, log_level="warning")
    services = await build_services(config)
    sock, port = tornado.testing.bind_unused_port()
    http = http_server(config, services)
    http.add_sockets([sock])
    api = Api(f"http://127.0.0.1:{port}", lambda: services.accounts.setup_code)
    token = (await api.register())["access"]
    Charger.create(id="CP-M")
    body = random.Random(1).randbytes(size)
    raw = {"Content-Type": "application/octet-stream"}

    async def location(path: str) -> str:
        return (await api.get(path, token=token)).body["location"]

    def stor(where: str) -> None:
        with ftp_session(where) as ftp:
            ftp.storbinary("STOR big.log", io.BytesIO(body), blocksize=256 * 1024)

    def retr(where: str) -> None:
        with ftp_session(where) as ftp:
            ftp.retrbinary("RETR fw.bin", lambda chunk: None, blocksize=256 * 1024)

    async def put(where: str) -> None:
        answer = await api.request("PUT", where.removeprefix(api.base) + "big.log", raw=body,
                                   headers=raw)
        assert answer.status == 201, answer.status

    async def get() -> None:
        await tornado.httpclient.AsyncHTTPClient().fetch(
            f"{api.base}/firmware/fw.bin", request_timeout=60, streaming_callback=lambda chunk: None)

    try:
        diag = "/api/diagnostics/location/CP-M/?protocol="
        ftp_diag, http_diag = await location(diag + "ftp"), await location(diag + "http")
        await timed("FTP STOR (diagnostics)", size, lambda: asyncio.to_thread(stor, ftp_diag))
        await timed("HTTP PUT (diagnostics)", size, lambda: put(http_diag))
        assert (await api.request("PUT", "/api/firmware/fw.bin", raw=body, token=token,
                                  headers=raw)).status == 201
        ftp_fw = await location("/api/firmware/fw.bin/location/CP-M/?protocol=ftp")
        await timed("FTP RETR (firmware)", size, lambda: asyncio.to_thread(retr, ftp_fw))
        await timed("HTTP GET (firmware; client on the same loop)", size, get)
    finally:
        http.stop()
        await services.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    asyncio.run(main(parser.parse_args().mib * 1024 * 1024))
