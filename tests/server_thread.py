"""The real evedge server on its own event loop in a thread, for synchronous clients.

schemathesis sends its requests with ``requests``, which blocks: with the server on
the test's own loop nothing would answer. Here the server conftest's ``Servers``
starts (the services production builds, the real HTTP server, a SQLite file) runs
in a thread; ``run(coroutine)`` executes something on that loop and waits for it
(seeding data, handing out tokens), from the test's thread.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable

from conftest import Running, Servers


class ServerThread:
    def __init__(self, tmp_path, **config: Any):
        self._tmp_path, self._config = tmp_path, config
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.running: Running | None = None

    def start(self) -> ServerThread:
        self._thread = threading.Thread(target=self._main, name="evedge-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self._failed is not None:
            raise RuntimeError("the server did not start") from self._failed
        return self

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        servers = Servers(self._tmp_path)
        try:
            self.running = await servers.start(**self._config)
        except BaseException as exc:
            self._failed = exc
            self._ready.set()
            raise
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await servers.close()

    def run(self, make: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
        """Run ``make()`` on the server's loop; its result, from the calling thread."""
        async def call() -> Any:
            return await make()
        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
