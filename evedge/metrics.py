"""Prometheus metrics of one evedge instance; ``GET /metrics`` (web/metrics.py) renders them.

Every series lives in the private ``CollectorRegistry`` of one :class:`Metrics` (the
tests run many servers in one process; the library's global REGISTRY would mix them).
There are two kinds of series:

* counters and histograms that the code paths bump through the hook methods below
  (``ocpp_message``, ``commit``, ``command``, ...). Label children are bound once per
  label set and kept in a dict, so a charger message costs one dict lookup, one counter
  increment and one histogram observation (measured in the README's Monitoring section);
* state read when Prometheus scrapes, by the collectors of ``metric_collectors.py``
  (connected chargers, the connection gate, dashboards, the database): nothing is kept in
  sync by hand.

Labels are low-cardinality by construction: actions and commands are OCPP 1.6 names
(anything else a charger sends is counted as ``other``), outcomes are ``answered`` or a
CALLERROR code, reasons come from fixed vocabularies. No charger id is ever a label: a
thousand chargers would make a thousand series of every metric.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Awaitable, Callable, Iterable

from prometheus_client import (CollectorRegistry, Counter, Histogram, Info, ProcessCollector,
                               disable_created_metrics)
from prometheus_client.exposition import choose_encoder

from . import __version__, errors

# The `_created` series double every counter and histogram for a timestamp Prometheus
# itself does not use; a library-wide switch (it holds no per-server state).
disable_created_metrics()

# OCPP 1.6 §4: the operations a charge point starts; §5: those the central system starts.
CHARGER_ACTIONS = (
    "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
    "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
    "StatusNotification", "StopTransaction")
SYSTEM_ACTIONS = (
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
    "ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration",
    "GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction",
    "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile",
    "TriggerMessage", "UnlockConnector", "UpdateFirmware")
# The 1.6 security whitepaper's extension (the library knows it; evedge answers NotSupported).
SECURITY_ACTIONS = (
    "CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage",
    "GetInstalledCertificateIds", "GetLog", "InstallCertificate", "LogStatusNotification",
    "SecurityEventNotification", "SignCertificate", "SignedFirmwareStatusNotification",
    "SignedUpdateFirmware")
ACTIONS = frozenset(CHARGER_ACTIONS + SYSTEM_ACTIONS + SECURITY_ACTIONS)
OTHER = "other"  # an action, code or reason outside the vocabulary
ANSWERED = "answered"
# OCPP-J 1.6 §4.2.3 error codes (evedge writes the 1.6 spellings, decisions.md D12), and the
# 2.0 spellings the library may still hand over.
ERROR_CODES = frozenset({
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
    "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
    "TypeConstraintViolation", "GenericError", "FormatViolation",
    "OccurrenceConstraintViolation", "MessageTypeNotSupported", "RpcFrameworkError"})
UNANSWERED = "unanswered"  # a malformed frame whose unique id could not be recovered
MALFORMED = "malformed"    # the action label of a frame that did not parse
COMMAND_OUTCOMES = ("answered", "callerror", "timeout", "offline", "not_accepted")
ANSWERS = frozenset({"answered", "callerror"})  # outcomes of a command the charger answered
# Why a charger's connection was refused before or right after the WebSocket upgrade.
REFUSAL_REASONS = ("not_websocket", "invalid_id", "unknown", "auth", "takeover", "throttled",
                   "busy", "subprotocol")
_REFUSALS = ((errors.NotFound, "unknown"), (errors.Unauthorized, "auth"),
             (errors.Conflict, "takeover"), (errors.TooManyRequests, "throttled"),
             (errors.Busy, "busy"))
DASHBOARD_DROPS = ("too_slow", "unauthorized")

# Seconds. An OCPP answer waits for the group commit (2 ms window plus an fsync); a slow
# flash card or a storm shows in the upper buckets.
MESSAGE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)
COMMIT_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
COMMAND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def refusal_reason(exc: Exception) -> str:
    """The ``reason`` label of a refusal ``ConnectedChargers.admit`` raised."""
    return next((reason for kind, reason in _REFUSALS if isinstance(exc, kind)), OTHER)


class Metrics:
    """Owner of one instance's registry and of the series the code paths count."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._declare_ocpp()
        self._declare_storage()
        self._declare_commands()
        self._declare_connections()
        self._ocpp: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._malformed: dict[str, Any] = {}
        self._repairs: dict[tuple[str, str], Any] = {}
        self._commands: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._refreshers: list[Callable[[], Awaitable[None]]] = []
        for action in CHARGER_ACTIONS:  # present from the first scrape, for rate()
            self._ocpp_children(action, ANSWERED)

    def _counter(self, name: str, text: str, labels: Iterable[str] = ()) -> Counter:
        return Counter(name, text, tuple(labels), registry=self.registry)

    def _histogram(self, name: str, text: str, buckets: tuple, labels: Iterable[str] = ()
                   ) -> Histogram:
        return Histogram(name, text, tuple(labels), buckets=buckets, registry=self.registry)

    def _declare_ocpp(self) -> None:
        self.messages = self._counter(
            "evedge_ocpp_messages_total", "Charger CALLs by OCPP action and outcome "
            "(answered, or the CALLERROR code sent).", ("action", "outcome"))
        self.message_seconds = self._histogram(
            "evedge_ocpp_message_seconds", "From a charger's CALL being read to its answer "
            "being written, the group commit included.", MESSAGE_BUCKETS, ("action",))
        self.repairs_total = self._counter(
            "evedge_tolerance_repairs_total", "Deviations from the OCPP 1.6 schemas repaired "
            "by the tolerant pass (decisions.md D10), by action and kind.", ("action", "kind"))

    def _declare_storage(self) -> None:
        self.commit_batch = self._histogram(
            "evedge_group_commit_batch_size", "Answers and events released by one group "
            "commit.", BATCH_BUCKETS)
        self.commit_seconds = self._histogram(
            "evedge_group_commit_seconds", "Time of one group commit: bulk inserts and "
            "COMMIT (with its fsync).", COMMIT_BUCKETS)
        self.commit_failures = self._counter(
            "evedge_group_commit_failures_total", "Group commits that failed (their "
            "answers became InternalError).")

    def _declare_commands(self) -> None:
        self.commands_total = self._counter(
            "evedge_commands_total", "Remote commands (CS->CP calls) by command and outcome, "
            "as the command log records them.", ("command", "outcome"))
        self.command_seconds = self._histogram(
            "evedge_command_seconds", "From sending a remote command to the charger's answer "
            "(CALLRESULT or CALLERROR).", COMMAND_BUCKETS, ("command",))

    def _declare_connections(self) -> None:
        self.connections_opened = self._counter(
            "evedge_ocpp_connections_opened_total", "Charger WebSocket connections opened.")
        self.connections_refused = self._counter(
            "evedge_ocpp_connections_refused_total", "Charger connections refused, by "
            "reason.", ("reason",))
        for reason in REFUSAL_REASONS:
            self.connections_refused.labels(reason)
        self.dashboard_drops = self._counter(
            "evedge_dashboard_sockets_closed_total", "Dashboard sockets evedge closed, by "
            "reason.", ("reason",))
        for reason in DASHBOARD_DROPS:
            self.dashboard_drops.labels(reason)

    # --- hooks on the hot paths ---------------------------------------------------------

    def ocpp_message(self, action: str, outcome: str, started: float) -> None:
        """A charger's CALL was answered with ``outcome`` (``answered`` or a CALLERROR
        code); ``started`` is the ``time.perf_counter()`` of its arrival."""
        children = self._ocpp.get((action, outcome))
        if children is None:
            children = self._ocpp_children(action, outcome)
        children[0].inc()
        children[1].observe(time.perf_counter() - started)

    def _ocpp_children(self, action: str, outcome: str) -> tuple[Any, Any]:
        label = action if action in ACTIONS else OTHER
        code = outcome if outcome == ANSWERED or outcome in ERROR_CODES else OTHER
        children = (self.messages.labels(label, code), self.message_seconds.labels(label))
        if (label, code) == (action, outcome):  # whatever a charger invents is not kept
            self._ocpp[(action, outcome)] = children
        return children

    def ocpp_malformed(self, code: str | None) -> None:
        """A frame that did not parse; ``code`` is the CALLERROR sent, None if none could
        be (no recoverable unique id)."""
        outcome = UNANSWERED if code is None else code if code in ERROR_CODES else OTHER
        child = self._malformed.get(outcome)
        if child is None:
            child = self._malformed[outcome] = self.messages.labels(MALFORMED, outcome)
        child.inc()

    def repairs(self, action: str, kinds: Iterable[str]) -> None:
        """Repairs the tolerant pass made in one message (every one, not only new ones)."""
        for kind in kinds:
            child = self._repairs.get((action, kind))
            if child is None:
                child = self._repairs[(action, kind)] = self.repairs_total.labels(
                    action if action in ACTIONS else OTHER, kind)
            child.inc()

    def commit(self, batch: int, seconds: float, ok: bool) -> None:
        """One group commit released ``batch`` waiters after ``seconds``."""
        self.commit_batch.observe(batch)
        self.commit_seconds.observe(seconds)
        if not ok:
            self.commit_failures.inc()

    def command(self, command: str, outcome: str, sent_at: dt.datetime | None = None,
                finished_at: dt.datetime | None = None) -> None:
        """A remote command ended with ``outcome``, the command log's word. Its latency is
        the one the command log records (sent_at to answered_at), observed only when the
        charger answered (a CALLRESULT or a CALLERROR): a timeout is no latency."""
        children = self._commands.get((command, outcome))
        if children is None:
            label = command if command in ACTIONS else OTHER
            word = outcome if outcome in COMMAND_OUTCOMES else OTHER
            children = self._commands[(label, word)] = (
                self.commands_total.labels(label, word), self.command_seconds.labels(label))
        children[0].inc()
        if outcome in ANSWERS and sent_at is not None and finished_at is not None:
            children[1].observe(max(0.0, (finished_at - sent_at).total_seconds()))

    def connection_opened(self) -> None:
        self.connections_opened.inc()

    def connection_refused(self, reason: str) -> None:
        self.connections_refused.labels(reason if reason in REFUSAL_REASONS else OTHER).inc()

    def dashboard_closed(self, reason: str) -> None:
        self.dashboard_drops.labels(reason if reason in DASHBOARD_DROPS else OTHER).inc()

    # --- scraping -----------------------------------------------------------------------

    def watch(self, collector: Any) -> None:
        """Add a scrape-time collector: anything with ``collect()``, and optionally an async
        ``refresh()`` that each scrape awaits first (to read the database off the loop)."""
        self.registry.register(collector)
        refresh = getattr(collector, "refresh", None)
        if refresh is not None:
            self._refreshers.append(refresh)

    def watch_process(self) -> None:
        """The process's CPU, memory and open files (``evedge_process_*``; Linux /proc), and
        the version: what a box running out of memory or file descriptors shows first."""
        ProcessCollector(namespace="evedge", registry=self.registry)
        Info("evedge_build", "The evedge version running.", registry=self.registry).info(
            {"version": __version__})

    async def scrape(self, accept: str = "") -> tuple[bytes, str]:
        """Refresh the collectors that read slow state, then render."""
        for refresh in self._refreshers:
            await refresh()
        return self.render(accept)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition, in the format the scraper's ``Accept`` asks for (Prometheus
        text, or OpenMetrics): (body, content type)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
