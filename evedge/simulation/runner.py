"""Running simulated chargers: one for a test (`connect`), or many like real ones (`run_charger`,
`run_chargers`, `run_many`) for the shell and the dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_module

from .charger import SimulatedCharger, _sleep_unless


@contextlib.asynccontextmanager
async def connect(
    url: str,
    charge_point_id: str,
    *,
    password: str | None = None,
    ssl: ssl_module.SSLContext | None = None,
    subprotocols: tuple[str, ...] | None = ("ocpp1.6",),
    boot: bool = True,
    **charger_options,
):
    """Connect one SimulatedCharger and yield it. On exit, close it cleanly.

    With ``boot`` the charger registers first: BootNotification, then StatusNotification for
    every connector and heartbeats once Accepted. A Pending or Rejected answer is retried in the
    background (see ``charger.registration_status``). A connection failure raises ConnectFailed,
    with ``status_code`` set for HTTP answers such as 401 or 404. The charger does not reconnect
    by itself, except after a Reset.
    """
    charger = SimulatedCharger(
        charge_point_id,
        url=url,
        password=password,
        ssl=ssl,
        subprotocols=subprotocols,
        **charger_options,
    )
    await charger.open()
    try:
        charger._spawn(charger._maintain(None, reconnect=False, connected=True), "connection")
        if boot:
            await charger.register()
        yield charger
    finally:
        await charger.close()


async def run_charger(
    url: str, charge_point_id: str, *, stop: asyncio.Event | None = None, **options
) -> SimulatedCharger:
    """Run one charger like a real one until ``stop`` is set or the task is cancelled. On the
    way out it stops running transactions (reason Local) and closes cleanly.

    To reach the charger while it runs, build ``SimulatedCharger(id, url=url, ...)`` yourself
    and ``await charger.run(stop)``.
    """
    charger = SimulatedCharger(charge_point_id, url=url, **options)
    await charger.run(stop)
    return charger


async def run_chargers(
    url: str,
    charge_point_ids: list[str],
    *,
    stop: asyncio.Event | None = None,
    stagger: float = 0.05,
    **options,
) -> None:
    """Run several chargers concurrently. Start-ups are spread by ``stagger`` seconds."""

    async def start_later(delay: float, charge_point_id: str) -> None:
        await _sleep_unless(stop, delay)
        if stop is None or not stop.is_set():
            await run_charger(url, charge_point_id, stop=stop, **options)

    async with asyncio.TaskGroup() as group:
        for index, charge_point_id in enumerate(charge_point_ids):
            group.create_task(start_later(index * stagger, charge_point_id))


async def run_many(
    url: str, count: int, prefix: str = "SIM-", *, stop: asyncio.Event | None = None, **options
) -> None:
    """Run ``count`` chargers named ``<prefix>001``, ``<prefix>002``, and so on."""
    await run_chargers(url, _numbered_ids(prefix, count), stop=stop, **options)


def _numbered_ids(prefix: str, count: int) -> list[str]:
    width = max(3, len(str(count)))
    return [f"{prefix}{n:0{width}d}" for n in range(1, count + 1)]
