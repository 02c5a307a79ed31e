"""Series computed when Prometheus scrapes, from state other objects already own.

Nothing here is kept in sync by hand: the registry of connected chargers knows how many
are connected, the Broadcaster how many dashboards listen and how many events it
dropped, the connection gate how many connections wait, and the database (read off the
loop, ``storage/stats.py``) how many chargers and transactions it holds. Each collector
reads its owner through a small protocol, so this module imports none of them.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable, Iterator, Protocol, Sized

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .storage.stats import StorageStats

log = logging.getLogger(__name__)

WH_TO_JOULES = 3600  # Prometheus base units: energy in joules (1 Wh = 3,600 J)


def gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)


def counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, value=value)


class Listeners(Protocol):
    subscriber_count: int
    dropped: int


class LiveCollector:
    """Connected chargers and dashboards, straight from their owners."""

    def __init__(self, chargers: Sized, events: Listeners):
        self._chargers = chargers
        self._events = events

    def collect(self) -> Iterator[Metric]:
        yield gauge("evedge_chargers_connected", "Chargers with an open OCPP connection.",
                    len(self._chargers))
        yield gauge("evedge_dashboard_sockets", "Dashboard sockets authenticated and "
                    "receiving live events.", self._events.subscriber_count)
        yield counter("evedge_dashboard_events_dropped", "Dashboard events not delivered: "
                      "the batch was full, or a socket failed.", self._events.dropped)


class Gate(Protocol):
    opening_connections: int
    waiting_connections: int
    expired_openings: int


class GateCollector:
    """The connection gate (web/connection_gate.py): slots in use, connections waiting."""

    def __init__(self, gate: Gate):
        self._gate = gate

    def collect(self) -> Iterator[Metric]:
        gate = self._gate
        yield gauge("evedge_gate_opening_connections", "Connections in their opening phase "
                    "(handshake or request headers), at most max_opening_connections.",
                    gate.opening_connections)
        yield gauge("evedge_gate_waiting_connections", "Accepted connections waiting for an "
                    "opening slot.", gate.waiting_connections)
        yield counter("evedge_gate_openings_expired", "Connections closed for not finishing "
                      "their opening phase within opening_deadline.", gate.expired_openings)


class Sweeper(Protocol):
    deleted_total: int


class RetentionCollector:
    def __init__(self, sweeper: Sweeper):
        self._sweeper = sweeper

    def collect(self) -> Iterator[Metric]:
        yield counter("evedge_meter_samples_deleted", "Meter samples deleted by the "
                      "retention (meter_retention_days).", self._sweeper.deleted_total)


class StorageCollector:
    """Database counts and sizes, read in the read pool by ``refresh()`` before each scrape.

    A failing read leaves these series out of that scrape (logged once per episode);
    the rest of the scrape still answers.
    """

    def __init__(self, read: Callable[[], Awaitable[StorageStats]]):
        self._read = read
        self._latest: StorageStats | None = None
        self._failing = False

    async def refresh(self) -> None:
        try:
            self._latest = await self._read()
        except Exception as exc:  # any failure of the database: report without these series
            self._latest = None
            if not self._failing:
                log.warning("metrics: the database could not be read (%s: %s)",
                            type(exc).__name__, exc)
            self._failing = True
            return
        self._failing = False

    def collect(self) -> Iterator[Metric]:
        stats = self._latest
        if stats is None:
            return
        yield gauge("evedge_chargers_known", "Chargers registered (retired ones left out).",
                    sum(stats.chargers.values()))
        yield gauge("evedge_chargers_pending", "Chargers waiting for an admin's approval.",
                    stats.chargers.get("Pending", 0))
        yield gauge("evedge_chargers_rejected", "Chargers an admin rejected.",
                    stats.chargers.get("Rejected", 0))
        yield gauge("evedge_transactions_active", "Transactions begun and not stopped.",
                    stats.active_transactions)
        yield counter("evedge_energy_delivered_joules", "Energy of every finished "
                      "transaction (energy_wh x 3600); grows when a session stops.",
                      stats.energy_wh * WH_TO_JOULES)
        yield from _sizes(stats)


def _sizes(stats: StorageStats) -> Iterator[Metric]:
    if stats.database_bytes is not None:
        yield gauge("evedge_database_size_bytes", "Bytes of the database files (SQLite: the "
                    "file and its WAL).", stats.database_bytes)
    if stats.volume_free_bytes is not None:
        yield gauge("evedge_data_volume_free_bytes", "Free bytes on the data_dir volume "
                    "(uploads keep min_free_bytes of it).", stats.volume_free_bytes)
        yield gauge("evedge_data_volume_size_bytes", "Size of the data_dir volume in bytes.",
                    stats.volume_total_bytes)
