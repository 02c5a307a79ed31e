"""Simulated OCPP 1.6J charge points: evedge's commissioning tool, demo driver and test client.

A `SimulatedCharger` behaves like a real charge point on a real websocket. It keeps its own
connectors, transactions, configuration keys, reservations, charging profiles and local
authorization list. It answers all 19 Central-System-initiated OCPP 1.6 actions in line with that
state, and sends the follow-up messages a real charger would: StartTransaction after a
RemoteStartTransaction, a reboot after Reset, firmware download, diagnostics upload, and so on.

There are three ways to use it:

* from the shell: ``python simulator.py --url ws://127.0.0.1:8000/ocpp --count 5``, or
  ``evedge simulate ...`` through `main`;
* from tests: ``async with simulator.connect(url, "CP-1") as charger: ...``. Drive the charger
  with its charger-initiated API (``await charger.heartbeat()``), observe it with
  ``await charger.wait_for("RemoteStartTransaction")``, and assert
  ``charger.protocol_errors == []``;
* in-process (the dashboard): ``asyncio.create_task(simulator.run_charger(url, cp_id, stop=ev))``,
  stopped by setting the event or by cancelling the task.

Importing this module has no side effects. The transport is tornado's websocket client. The
protocol is the mobilityhouse ``ocpp`` library 2.1.0, with its schema validation left on in both
directions. "§" refers to the OCPP 1.6 specification (edition 2); "OCPP-J §" to its JSON
transport document.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import dataclasses
import datetime as dt
import decimal
import hashlib
import json
import logging
import random
import re
import signal
import ssl as ssl_module
import sys
import time
import urllib.parse
from typing import Any, Awaitable, Callable

import ocpp.messages
from ocpp.charge_point import camel_to_snake_case, remove_nones
from ocpp.exceptions import OCPPError
from ocpp.messages import MessageType
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    AvailabilityStatus,
    AvailabilityType,
    CancelReservationStatus,
    ChargePointErrorCode,
    ChargePointStatus,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ClearCacheStatus,
    ClearChargingProfileStatus,
    ConfigurationStatus,
    DataTransferStatus,
    DiagnosticsStatus,
    FirmwareStatus,
    GetCompositeScheduleStatus,
    Measurand,
    MessageTrigger,
    ReadingContext,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    ReservationStatus,
    ResetStatus,
    ResetType,
    TriggerMessageStatus,
    UnlockStatus,
    UpdateStatus,
    UpdateType,
)
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClosedError, WebSocketError, websocket_connect

__all__ = [
    "ConnectFailed",
    "ConnectionClosed",
    "NotConnected",
    "SimulatedCharger",
    "connect",
    "main",
    "parse_rfc3339",
    "rfc3339",
    "run_charger",
    "run_chargers",
    "run_many",
]

log = logging.getLogger("evedge.simulator")

DEFAULT_URL = "ws://127.0.0.1:8000/ocpp"
VENDOR_ID = "evedge"  # the DataTransfer vendorId this charger understands
VOLTAGE = 230.0
PHASES = 3
BOOT_RETRY_DEFAULT = 10.0  # §4.2: an interval of 0 leaves the retry delay to the charge point
SAMPLED_MEASURANDS = (
    Measurand.energy_active_import_register,
    Measurand.power_active_import,
    Measurand.current_import,
    Measurand.voltage,
    Measurand.power_offered,
    Measurand.current_offered,
)
DEFAULT_MEASURANDS = ",".join(SAMPLED_MEASURANDS[:4])
# OCPP-J 1.6 §4.2.3, spelled as in the spec (sic: "Occurence").
OCPP16_ERROR_CODES = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
)
_RECURRENCE = {"Daily": dt.timedelta(days=1), "Weekly": dt.timedelta(days=7)}
_IDLE_STATUSES = (ChargePointStatus.available, ChargePointStatus.preparing)


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def rfc3339(moment: dt.datetime) -> str:
    """UTC with millisecond precision and a trailing Z, e.g. ``2025-05-01T12:00:00.000Z``."""
    text = moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_rfc3339(text: Any) -> dt.datetime:
    """Parse an RFC 3339 date-time. Raise ValueError for anything else.

    The library never checks the schemas' ``format: date-time``, so the simulator checks it here.
    """
    if not isinstance(text, str) or not _RFC3339.fullmatch(text):
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    return dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))


def _whole_seconds(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0)


def _ceil_seconds(moment: dt.datetime) -> dt.datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + dt.timedelta(seconds=1)


# --------------------------------------------------------------------------------------------
# Errors and transport
# --------------------------------------------------------------------------------------------


class ConnectionClosed(Exception):
    """The websocket closed. ``code`` and ``reason`` come from the close frame; both are None
    when the link simply dropped."""

    def __init__(self, code: int | None = None, reason: str | None = None):
        super().__init__(f"connection closed (code={code}, reason={reason!r})")
        self.code = code
        self.reason = reason


class NotConnected(ConnectionClosed):
    """No connection is open to send on."""

    def __init__(self) -> None:
        super().__init__(None, "not connected")


class ConnectFailed(ConnectionError):
    """The websocket could not be opened. ``status_code`` is the HTTP status when the server
    answered the upgrade with one (401, 404, ...), and None otherwise."""

    def __init__(self, url: str, reason: str, status_code: int | None = None):
        super().__init__(f"cannot connect to {url}: {reason}")
        self.url = url
        self.status_code = status_code


class TornadoTransport:
    """The ``async recv()`` / ``async send(str)`` pair that ``ocpp.ChargePoint`` needs, on top of
    tornado's websocket client.

    ``inbound(text, binary)`` sees every received frame before the library does. If it returns
    True the frame is swallowed; the charger uses this to keep replies to raw frames away from the
    library's response queue. ``outbound(text)`` sees every frame that is sent.
    """

    def __init__(self, ws, inbound=None, outbound=None):
        self._ws = ws
        self.inbound: Callable[[str, bool], Awaitable[bool]] | None = inbound
        self.outbound: Callable[[str], None] | None = outbound
        self.subprotocol: str | None = ws.selected_subprotocol

    async def recv(self) -> str:
        while True:
            message = await self._ws.read_message()
            if message is None:
                raise ConnectionClosed(self._ws.close_code, self._ws.close_reason)
            binary = isinstance(message, bytes)
            if binary:
                message = message.decode("utf-8", "replace")
            if self.inbound is None or not await self.inbound(message, binary):
                return message

    async def send(self, message: str) -> None:
        if self.outbound is not None:
            self.outbound(message)
        try:
            await self._ws.write_message(message)
        except (WebSocketClosedError, OSError) as exc:
            raise ConnectionClosed(self._ws.close_code, self._ws.close_reason) from exc

    def close(self, code: int | None = 1000, reason: str | None = None) -> None:
        """Start the closing handshake. Idempotent."""
        self._ws.close(code, reason)


class _Offline:
    """Stands in for the transport while the charger has no connection."""

    async def recv(self) -> str:
        raise NotConnected()

    async def send(self, message: str) -> None:
        raise NotConnected()


def charger_url(base_url: str, charge_point_id: str) -> str:
    """``ws://host/ocpp`` + ``CP 1`` -> ``ws://host/ocpp/CP%201``."""
    return f"{base_url.rstrip('/')}/{urllib.parse.quote(charge_point_id, safe='')}"


def basic_auth_header(charge_point_id: str, password: str) -> str:
    """Security profile 1: HTTP Basic auth, user name = charge point id."""
    token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


async def open_websocket(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    subprotocols: tuple[str, ...] = ("ocpp1.6",),
    connect_timeout: float = 10.0,
    ping_interval: float | None = None,
):
    """Open a tornado websocket client connection. Raise ConnectFailed on any failure.

    An empty ``subprotocols`` offers none: no Sec-WebSocket-Protocol header is sent.
    """
    request = HTTPRequest(
        url,
        headers=headers or {},
        connect_timeout=connect_timeout,
        request_timeout=connect_timeout,
        ssl_options=ssl,
    )
    try:
        return await websocket_connect(
            request, subprotocols=list(subprotocols) or None, ping_interval=ping_interval or None
        )
    except HTTPClientError as exc:  # the server answered the upgrade with an HTTP error
        status = None if exc.code == 599 else exc.code  # 599: tornado's "no response" (timeout)
        raise ConnectFailed(url, str(exc), status) from exc
    except (OSError, WebSocketError, asyncio.TimeoutError) as exc:
        raise ConnectFailed(url, str(exc) or type(exc).__name__) from exc


class _WireLogger(logging.LoggerAdapter):
    """ocpp logs every frame at INFO. For a simulator those are DEBUG messages."""

    def info(self, msg, *args, **kwargs):
        self.debug(msg, *args, **kwargs)


# --------------------------------------------------------------------------------------------
# Charger state
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Transaction:
    transaction_id: int
    id_tag: str
    meter_start: int
    started_at: dt.datetime
    reservation_id: int | None = None


@dataclasses.dataclass
class Reservation:
    reservation_id: int
    connector_id: int
    id_tag: str
    expiry: dt.datetime
    parent_id_tag: str | None = None
    timer: asyncio.Task | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass
class Connector:
    """One connector. Connector 0 stands for the charge point as a whole."""

    connector_id: int
    status: str = ChargePointStatus.available
    error_code: str = ChargePointErrorCode.no_error
    availability: str = AvailabilityType.operative
    scheduled_availability: str | None = None  # §5.2: applied once the transaction has ended
    transaction: Transaction | None = None
    claimed_by: str | None = None  # id tag of a start in progress
    meter_wh: float = 0.0  # the energy register
    metered_at: float | None = None  # time.monotonic() of the last register update
    meter_task: asyncio.Task | None = dataclasses.field(default=None, repr=False)

    @property
    def busy(self) -> bool:
        return self.transaction is not None or self.claimed_by is not None


_INT_KEYS = {
    "HeartbeatInterval",
    "MeterValueSampleInterval",
    "ConnectionTimeOut",
    "ResetRetries",
    "WebSocketPingInterval",
    "ClockAlignedDataInterval",
}
_BOOL_KEYS = {
    "AuthorizeRemoteTxRequests",
    "LocalAuthListEnabled",
    "LocalPreAuthorize",
    "StopTransactionOnEVSideDisconnect",
    "UnlockConnectorOnEVSideDisconnect",
}


def _default_configuration(connectors: int, meter_interval: float) -> dict[str, tuple[str, bool]]:
    """Configuration keys (§9) as key -> (value, readonly)."""
    profiles = (
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
    )
    return {
        "HeartbeatInterval": ("300", False),
        "MeterValueSampleInterval": (f"{meter_interval:g}", False),
        "MeterValuesSampledData": (DEFAULT_MEASURANDS, False),
        "NumberOfConnectors": (str(connectors), True),
        "AuthorizeRemoteTxRequests": ("false", False),
        "LocalAuthListEnabled": ("true", False),
        "LocalAuthListMaxLength": ("1000", True),
        "SendLocalListMaxLength": ("100", True),
        "LocalPreAuthorize": ("false", False),
        "ConnectionTimeOut": ("60", False),
        "ChargeProfileMaxStackLevel": ("10", True),
        "ChargingScheduleAllowedChargingRateUnit": ("Current,Power", True),
        "ChargingScheduleMaxPeriods": ("24", True),
        "MaxChargingProfilesInstalled": ("10", True),
        "SupportedFeatureProfiles": (profiles, True),
        "StopTransactionOnEVSideDisconnect": ("true", False),
        "UnlockConnectorOnEVSideDisconnect": ("true", False),
        "ResetRetries": ("3", False),
        "WebSocketPingInterval": ("60", False),  # read when the next connection opens
        "ClockAlignedDataInterval": ("0", False),
    }


class Configuration:
    """The charge point's configuration keys (§9). ``entries`` maps key -> (value, readonly).

    Lookups ignore case, because keys are CiString50 (§7).
    """

    def __init__(self, connectors: int, meter_interval: float):
        self.entries = _default_configuration(connectors, meter_interval)

    def lookup(self, key: str) -> str | None:
        """The key's canonical spelling, or None when the key is unknown."""
        folded = key.casefold()
        return next((name for name in self.entries if name.casefold() == folded), None)

    def value(self, key: str) -> str | None:
        name = self.lookup(key)
        return None if name is None else self.entries[name][0]

    def number(self, key: str, default: float = 0.0) -> float:
        try:
            return float(self.value(key) or default)
        except ValueError:
            return default

    def flag(self, key: str) -> bool:
        return (self.value(key) or "").lower() == "true"

    def set(self, key: str, value: str) -> None:
        name = self.lookup(key) or key
        readonly = self.entries.get(name, ("", False))[1]
        self.entries[name] = (value, readonly)

    def report(self, keys: list[str] | None) -> tuple[list[dict], list[str]]:
        """GetConfiguration (§5.8): (configurationKey entries, unknownKey names)."""
        names = list(self.entries) if not keys else [self.lookup(k) for k in keys]
        known = [
            {"key": name, "readonly": self.entries[name][1], "value": self.entries[name][0]}
            for name in names
            if name is not None
        ]
        unknown = [key for key in keys or [] if self.lookup(key) is None]
        return known, unknown

    def change(self, key: str, value: str) -> str:
        """ChangeConfiguration (§5.3): store a valid value and return the answer's status."""
        name = self.lookup(key)
        if name is None:
            return ConfigurationStatus.not_supported
        if self.entries[name][1]:
            return ConfigurationStatus.rejected
        normalized = _normalize_setting(name, value)
        if normalized is None:
            return ConfigurationStatus.rejected
        self.entries[name] = (normalized, False)
        return ConfigurationStatus.accepted


def _normalize_setting(name: str, value: str) -> str | None:
    """The value to store for a writable key, or None when the value is invalid."""
    text = value.strip()
    if name in _INT_KEYS:
        return str(int(text)) if text.isdigit() else None
    if name in _BOOL_KEYS:
        return text.lower() if text.lower() in ("true", "false") else None
    if name == "MeterValuesSampledData":
        items = [item.strip() for item in text.split(",") if item.strip()]
        return ",".join(items) if all(item in SAMPLED_MEASURANDS for item in items) else None
    return value


class LocalAuthList:
    """The local authorization list (§3.5, §5.15): a version, plus id_tag -> id_tag_info."""

    def __init__(self) -> None:
        self.version = 0  # §5.10: 0 means "empty"
        self.entries: dict[str, dict] = {}

    def get(self, id_tag: str) -> dict | None:
        folded = id_tag.casefold()  # IdToken is a CiString20
        return next((info for tag, info in self.entries.items() if tag.casefold() == folded), None)

    def apply(self, update_type: str, version: int, entries: list[dict], max_length: int) -> str:
        """SendLocalList. Full replaces the list. Differential updates it, and an entry without
        idTagInfo removes its tag."""
        if update_type == UpdateType.differential and version <= self.version:
            return UpdateStatus.version_mismatch
        updated = {} if update_type == UpdateType.full else dict(self.entries)
        for entry in entries:
            if entry.get("id_tag_info") is None:
                updated.pop(entry["id_tag"], None)
            else:
                updated[entry["id_tag"]] = entry["id_tag_info"]
        if len(updated) > max_length:
            return UpdateStatus.failed
        self.entries = updated
        self.version = version if updated else 0
        return UpdateStatus.accepted


# --------------------------------------------------------------------------------------------
# Smart charging
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class InstalledProfile:
    connector_id: int
    profile: dict  # a ChargingProfile with snake_case keys and float limits

    @property
    def profile_id(self) -> int:
        return self.profile["charging_profile_id"]

    @property
    def purpose(self) -> str:
        return self.profile["charging_profile_purpose"]

    @property
    def stack_level(self) -> int:
        return self.profile["stack_level"]

    @property
    def unit(self) -> str:
        return self.profile["charging_schedule"]["charging_rate_unit"]


def _convert(limit: float, from_unit: str, to_unit: str, phases: int = PHASES) -> float:
    """Convert a limit between A and W at VOLTAGE per phase."""
    if from_unit == to_unit:
        return limit
    factor = VOLTAGE * phases
    return limit * factor if to_unit == "W" else limit / factor


def _optional_time(value: str | None) -> dt.datetime | None:
    return parse_rfc3339(value) if value else None


def _schedule_anchor(profile: dict, moment: dt.datetime, origin: dt.datetime) -> dt.datetime:
    """When the schedule that applies at ``moment`` started (§3.13.1, profile kinds).

    A Relative schedule starts at ``origin`` (the transaction start). A Recurring schedule starts
    at its latest recurrence before ``moment``.
    """
    kind = profile["charging_profile_kind"]
    if kind == "Relative":
        return origin
    start = _optional_time(profile["charging_schedule"].get("start_schedule")) or origin
    if kind == "Recurring" and moment >= start:
        step = _RECURRENCE[profile.get("recurrency_kind") or "Daily"]
        start += ((moment - start) // step) * step
    return start


def _period_in_force(profile: dict, moment: dt.datetime, origin: dt.datetime) -> dict | None:
    """The schedule period of ``profile`` that applies at ``moment``, or None."""
    valid_from = _optional_time(profile.get("valid_from"))
    valid_to = _optional_time(profile.get("valid_to"))
    if (valid_from and moment < valid_from) or (valid_to and moment >= valid_to):
        return None
    schedule = profile["charging_schedule"]
    offset = (moment - _schedule_anchor(profile, moment, origin)).total_seconds()
    duration = schedule.get("duration")
    if offset < 0 or (duration is not None and offset >= duration):
        return None
    in_force = None
    for period in sorted(schedule["charging_schedule_period"], key=lambda p: p["start_period"]):
        if period["start_period"] <= offset:
            in_force = period
    return in_force


def _breakpoints(profile: dict, begin: dt.datetime, end: dt.datetime, origin: dt.datetime):
    """Moments in (begin, end) at which ``profile`` may change its limit."""
    schedule = profile["charging_schedule"]
    anchors = [_schedule_anchor(profile, begin, origin)]
    if profile["charging_profile_kind"] == "Recurring":
        step = _RECURRENCE[profile.get("recurrency_kind") or "Daily"]
        anchors += [anchors[0] + step * k for k in range(1, int((end - begin) / step) + 2)]
    offsets = [period["start_period"] for period in schedule["charging_schedule_period"]]
    if schedule.get("duration") is not None:
        offsets.append(schedule["duration"])
    points = [anchor + dt.timedelta(seconds=offset) for anchor in anchors for offset in offsets]
    points += [
        t
        for t in (
            _optional_time(profile.get("valid_from")),
            _optional_time(profile.get("valid_to")),
        )
        if t
    ]
    return [point for point in points if begin < point < end]


class ChargingProfiles:
    """Installed charging profiles (§3.13, §5.16) and the limits they add up to (§5.7)."""

    def __init__(self) -> None:
        self.installed: dict[int, InstalledProfile] = {}

    def install(self, connector_id: int, profile: dict) -> None:
        """Store a profile. It replaces a profile with the same id, or one with the same
        connector, purpose and stack level (§5.16)."""
        item = InstalledProfile(connector_id, profile)
        same_slot = (connector_id, item.purpose, item.stack_level)
        for other in list(self.installed.values()):
            if (other.connector_id, other.purpose, other.stack_level) == same_slot:
                del self.installed[other.profile_id]
        self.installed[item.profile_id] = item

    def clear(self, profile_id=None, connector_id=None, purpose=None, stack_level=None) -> int:
        """ClearChargingProfile (§5.5): an id selects one profile. Otherwise every given criterion
        must match, and no criteria at all clears everything. Returns the number cleared."""

        def matches(item: InstalledProfile) -> bool:
            if profile_id is not None:
                return item.profile_id == profile_id
            wanted = (
                (connector_id, item.connector_id),
                (purpose, item.purpose),
                (stack_level, item.stack_level),
            )
            return all(want is None or want == have for want, have in wanted)

        doomed = [key for key, item in self.installed.items() if matches(item)]
        for key in doomed:
            del self.installed[key]
        return len(doomed)

    def remove_tx_profiles(self, connector_id: int) -> None:
        """A TxProfile lives only as long as its transaction."""
        self.clear(connector_id=connector_id, purpose=ChargingProfilePurposeType.tx_profile)

    def limit_at(
        self, connector_id: int, moment: dt.datetime, unit: str, origin: dt.datetime
    ) -> float | None:
        """The limit on ``connector_id`` at ``moment``. It is the lower of the charge point maximum
        and the transaction limit: the TxProfile, else the connector's TxDefaultProfile, else
        connector 0's (§3.13.2). Returns None when no profile applies."""
        limits = [
            self._top_limit(
                ChargingProfilePurposeType.charge_point_max_profile, 0, moment, unit, origin
            )
        ]
        if connector_id > 0:
            for purpose, where in (
                (ChargingProfilePurposeType.tx_profile, connector_id),
                (ChargingProfilePurposeType.tx_default_profile, connector_id),
                (ChargingProfilePurposeType.tx_default_profile, 0),
            ):
                limit = self._top_limit(purpose, where, moment, unit, origin)
                if limit is not None:
                    limits.append(limit)
                    break
        found = [limit for limit in limits if limit is not None]
        return min(found) if found else None

    def _top_limit(self, purpose, connector_id, moment, unit, origin) -> float | None:
        """The limit of the highest stack level in force among one purpose's profiles."""
        candidates = [
            i
            for i in self.installed.values()
            if i.purpose == purpose and i.connector_id == connector_id
        ]
        for item in sorted(candidates, key=lambda i: i.stack_level, reverse=True):
            period = _period_in_force(item.profile, moment, origin)
            if period is not None:
                return _convert(
                    float(period["limit"]), item.unit, unit, period.get("number_phases") or PHASES
                )
        return None

    def composite(self, connector_id, duration, unit, now, origin, max_power_w) -> dict | None:
        """GetCompositeSchedule (§5.7): a ChargingSchedule (snake_case) for ``duration`` seconds
        from ``now``. Returns None when no profile concerns the connector. The hardware maximum
        caps every limit and fills the gaps where no profile applies. Limits are rounded to 0.1,
        because the 1.6 schema has ``multipleOf: 0.1``."""
        items = [i for i in self.installed.values() if i.connector_id in {0, connector_id}]
        if not items:
            return None
        unit = unit or items[0].unit
        end = now + dt.timedelta(seconds=duration)
        moments = {now} | {
            _ceil_seconds(p) for i in items for p in _breakpoints(i.profile, now, end, origin)
        }
        hardware = _convert(max_power_w, "W", unit)
        periods: list[dict] = []
        for moment in sorted(moments):
            limit = self.limit_at(connector_id, moment, unit, origin)
            limit = round(hardware if limit is None else min(limit, hardware), 1)
            if not periods or periods[-1]["limit"] != limit:
                periods.append(
                    {"start_period": int((moment - now).total_seconds()), "limit": limit}
                )
        return {
            "charging_rate_unit": unit,
            "charging_schedule_period": periods,
            "duration": duration,
            "start_schedule": rfc3339(now),
        }


def _or_default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _plain(value: Any) -> Any:
    """Turn the Decimals that the library's validation leaves in charging profiles into floats."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return float(value) if isinstance(value, decimal.Decimal) else value


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


class _Entry:
    __slots__ = ("event", "consumed")

    def __init__(self, event: tuple):
        self.event = event
        self.consumed = False


def _matcher(kind: str, action: str | None, predicate: Callable[[tuple], bool] | None):
    def matches(event: tuple) -> bool:
        if event[0] != kind or (action is not None and (len(event) < 2 or event[1] != action)):
            return False
        return predicate is None or predicate(event)

    return matches


@dataclasses.dataclass
class _Link:
    """One websocket connection's lifetime."""

    transport: TornadoTransport
    closed: asyncio.Event
    reader: asyncio.Task | None = None
    close_code: int | None = None


def _raw_frame_id(text: str) -> str | int | None:
    """The message id of a raw frame, when one can be read from it."""
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    if not isinstance(frame, list) or len(frame) < 2 or not isinstance(frame[1], (str, int)):
        return None
    return frame[1]


# --------------------------------------------------------------------------------------------
# The simulated charger
# --------------------------------------------------------------------------------------------


class SimulatedCharger(ChargePoint):
    """A simulated OCPP 1.6J charge point with its own state (see the module docstring).

    State that tests may inspect: ``connectors`` (0 = the whole charge point), ``config``,
    ``local_list``, ``reservations``, ``profiles``, ``registration_status``, ``firmware_state``,
    ``firmware_download``, ``diagnostics_state``, ``diagnostics_uploads``, ``protocol_errors``,
    ``history`` and ``events``.
    """

    def __init__(
        self,
        charge_point_id: str,
        *,
        url: str | None = None,
        password: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        subprotocols: tuple[str, ...] | None = ("ocpp1.6",),
        connect_timeout: float = 10.0,
        connectors: int = 1,
        vendor: str = "evedge",
        model: str = "SimCharger",
        serial: str | None = None,
        firmware_version: str = "evedge-sim-1.0",
        meter_interval: float = 10.0,
        power_w: float = 11000.0,
        response_timeout: float = 30.0,
        auto_start_tag: str | None = None,
        reconnect_base: float = 1.0,
        reconnect_cap: float = 30.0,
        reboot_delay: float = 0.2,
        history_size: int = 1000,
    ):
        wire_log = _WireLogger(logging.getLogger("evedge.simulator.wire"), {})
        super().__init__(
            charge_point_id, _Offline(), response_timeout=response_timeout, logger=wire_log
        )
        self.url = url or DEFAULT_URL
        self.password = password
        self.ssl = ssl
        self.subprotocols = tuple(subprotocols or ())
        self.connect_timeout = connect_timeout
        self.vendor, self.model = vendor, model
        self.serial = serial or f"SN-{charge_point_id}"[:25]
        self.firmware_version = firmware_version
        self.meter_interval = float(meter_interval)
        self.power_w = float(power_w)
        self.auto_start_tag = auto_start_tag
        self.reconnect_base = reconnect_base
        self.reconnect_cap = reconnect_cap
        self.reboot_delay = reboot_delay

        self.connectors = {n: Connector(n) for n in range(connectors + 1)}
        self.config = Configuration(connectors, meter_interval)
        self.local_list = LocalAuthList()
        self.auth_cache: dict[str, dict] = {}  # id tag -> last idTagInfo from the server
        self.reservations: dict[int, Reservation] = {}
        self.profiles = ChargingProfiles()
        self.registration_status: str | None = None
        self.firmware_state: str = FirmwareStatus.idle
        self.firmware_download: dict | None = None  # {"location", "size", "sha256"}
        self.diagnostics_state: str = DiagnosticsStatus.idle
        self.diagnostics_uploads: list[dict] = []

        self.protocol_errors: list[str] = []
        self.events: asyncio.Queue = asyncio.Queue(maxsize=history_size)
        self.history: collections.deque[_Entry] = collections.deque(maxlen=history_size)
        self._waiters: list[tuple[Callable, asyncio.Future]] = []

        self._link: _Link | None = None
        self._tasks: set[asyncio.Task] = set()
        self._heartbeat_task: asyncio.Task | None = None
        self._boot_task: asyncio.Task | None = None
        # StopTransactions to deliver after a reconnect (transaction messages are not lost).
        self._outbox: list[call.StopTransaction] = []
        self._reboot_pending = False
        self._backoff_attempt = 0
        self._closing = False
        # Bookkeeping that tells the frames on the wire apart (see _inspect_inbound).
        self._followups: dict[Any, tuple[Callable, Callable | None]] = {}
        self._outstanding: dict[str, asyncio.Task] = {}  # id of our pending CALL -> caller
        self._reply_kinds: dict[str, int] = {}  # id of our CALL -> 3 or 4 as answered
        self._abandoned: collections.deque = collections.deque(maxlen=256)  # ids given up on
        self._inbound_actions: dict[Any, str] = {}  # id of a server CALL -> its action
        self._answered: dict[Any, int] = {}  # id of a server CALL -> 3 or 4 as we answered
        self._raw_ids: set[Any] = set()
        self._raw_anonymous = 0  # raw frames sent without a usable id
        self._raw_replies: collections.deque = collections.deque(maxlen=256)
        self._raw_waiters: list[tuple[Any, asyncio.Future]] = []

    def __repr__(self) -> str:
        return f"<SimulatedCharger {self.id} {'online' if self.connected else 'offline'}>"

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.closed.is_set()

    @property
    def accepted(self) -> bool:
        """Connected and registered. Only then does the charger act on its own initiative."""
        return self.connected and self.registration_status == RegistrationStatus.accepted

    async def open(self) -> None:
        """Open the websocket and start reading from it. Raise ConnectFailed on failure."""
        if self.connected:
            return
        headers = (
            {"Authorization": basic_auth_header(self.id, self.password)} if self.password else {}
        )
        ws = await open_websocket(
            charger_url(self.url, self.id),
            headers=headers,
            ssl=self.ssl,
            subprotocols=self.subprotocols,
            connect_timeout=self.connect_timeout,
            ping_interval=self.config.number("WebSocketPingInterval"),
        )
        transport = TornadoTransport(ws, self._inspect_inbound, self._inspect_outbound)
        self._check_subprotocol(transport.subprotocol)
        link = _Link(transport, asyncio.Event())
        self._link, self._connection = link, transport
        self._response_queue = asyncio.Queue()  # forget replies from the previous connection
        link.reader = asyncio.get_running_loop().create_task(
            self._read(link), name=f"{self.id}-reader"
        )
        self._reboot_pending = False
        self._record("connected")
        log.info("%s: connected (subprotocol %s)", self.id, transport.subprotocol)

    async def close(self, *, stop_transactions: bool = False) -> None:
        """Stop all activity and close the websocket cleanly. With ``stop_transactions``, running
        transactions are first stopped with reason Local."""
        if stop_transactions:
            await self._stop_all_transactions(Reason.local)
        self._closing = True
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._disconnect(1000, "closing")

    async def run(
        self, stop: asyncio.Event | None = None, *, stop_transactions: bool = True
    ) -> None:
        """Stay online like a real charger until ``stop`` is set or the task is cancelled, then
        close (by default stopping running transactions with reason Local).

        It connects, registers (§4.2), and reconnects with exponential backoff when the link
        drops. Transactions survive a reconnect.
        """
        try:
            await self._maintain(stop, reconnect=True, connected=self.connected)
        finally:
            await self.close(stop_transactions=stop_transactions)

    async def _maintain(
        self, stop: asyncio.Event | None, *, reconnect: bool, connected: bool
    ) -> None:
        """The connection loop. Without ``reconnect``, it reconnects only after a Reset."""
        while not self._stopping(stop):
            if not connected:
                await self._try_online()
            connected = False
            if self.connected:
                await _first_of(self._link.closed.wait(), stop.wait() if stop else None)
            if self._stopping(stop) or not (reconnect or self._reboot_pending):
                return
            await _sleep_unless(stop, self._next_delay())

    def _stopping(self, stop: asyncio.Event | None) -> bool:
        return self._closing or (stop is not None and stop.is_set())

    def _next_delay(self) -> float:
        """Exponential backoff with jitter. The first attempt after a Reset comes quickly."""
        if self._reboot_pending and self._backoff_attempt == 0:
            self._backoff_attempt = 1
            return self.reboot_delay
        ceiling = min(self.reconnect_cap, self.reconnect_base * 2**self._backoff_attempt)
        self._backoff_attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    async def _try_online(self) -> None:
        try:
            await self.open()
            if self.registration_status == RegistrationStatus.accepted:
                await self._on_accepted()  # a reconnect, not a reboot: no new BootNotification
            else:
                await self.register()
        except (ConnectFailed, ConnectionClosed, asyncio.TimeoutError, OCPPError) as exc:
            log.warning("%s: %s", self.id, exc)

    async def _read(self, link: _Link) -> None:
        code = None
        try:
            await self.start()
        except ConnectionClosed as exc:
            code = exc.code
        except Exception as exc:  # a bug on our side: never leave a half-dead charger behind
            log.exception("%s: reader failed", self.id)
            self._violation(f"internal: reader failed: {exc!r}")
            link.transport.close(1011, "simulator error")
        finally:
            self._went_offline(link, code)

    def _went_offline(self, link: _Link, code: int | None) -> None:
        link.transport.close()  # releases tornado's client even when the server closed first
        link.close_code = code
        link.closed.set()
        if self._link is link:
            self._link, self._connection = None, _Offline()
        for task in (self._heartbeat_task, self._boot_task):
            if task is not None:
                task.cancel()
        self._heartbeat_task = self._boot_task = None
        self._record("disconnected", code)
        log.info("%s: disconnected (code %s)", self.id, code)

    async def _disconnect(self, code: int = 1000, reason: str = "") -> None:
        """Close the current websocket and wait until its reader has finished."""
        link = self._link
        if link is None:
            return
        link.transport.close(code, reason)
        done, _ = await asyncio.wait({link.reader}, timeout=10)
        if not done:
            link.reader.cancel()
            await asyncio.gather(link.reader, return_exceptions=True)

    def _spawn(self, coro, name: str | None = None) -> asyncio.Task | None:
        """Run ``coro`` as a task owned by this charger. close() cancels it."""
        if self._closing:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(
            coro, name=f"{self.id}-{name or coro.__qualname__}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if (
            task.cancelled()
            or task.exception() is None
            or isinstance(task.exception(), ConnectionClosed)
        ):
            return
        log.error("%s: task %s failed", self.id, task.get_name(), exc_info=task.exception())
        self._violation(f"internal: {task.get_name()} failed: {task.exception()!r}")

    # ---- protocol plumbing -----------------------------------------------------------------

    async def call(self, payload, suppress=True, unique_id=None, skip_schema_validation=False):
        """ChargePoint.call, plus tracking of the message id. This tells our CALLs' answers apart
        from replies to raw frames, and records a schema-invalid answer as a protocol error."""
        unique_id = unique_id if unique_id is not None else str(self._unique_id_generator())
        self._outstanding[unique_id] = asyncio.current_task()
        try:
            return await super().call(payload, suppress, unique_id, skip_schema_validation)
        except OCPPError as exc:
            if self._reply_kinds.get(unique_id) == MessageType.CallResult:
                exc.recorded = True
                self._violation(f"invalid {type(payload).__name__} answer: {exc}")
            raise
        finally:
            self._outstanding.pop(unique_id, None)
            if self._reply_kinds.pop(unique_id, None) is None:
                self._abandoned.append(unique_id)

    async def _send_call(self, payload):
        """Send a charger-initiated CALL and return the server's answer.

        Raises the library's OCPPError for a CALLERROR, asyncio.TimeoutError when there is no
        answer, and ConnectionClosed as soon as the link drops (not after response_timeout).
        """
        link = self._link
        if link is None or link.closed.is_set():
            raise NotConnected()
        action = type(payload).__name__
        fields = remove_nones(dataclasses.asdict(payload))
        calling = asyncio.ensure_future(self.call(payload, suppress=False))
        closing = asyncio.ensure_future(link.closed.wait())
        try:
            await asyncio.wait({calling, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            if not calling.done():
                calling.cancel()
        if not calling.done() or calling.cancelled():  # the link dropped first
            error = ConnectionClosed(link.close_code)
            self._record("sent", action, fields, error)
            raise error
        try:
            result = calling.result()
        except Exception as exc:
            self._record("sent", action, fields, exc)
            raise
        self._check_answer(action, result)
        self._record("sent", action, fields, result)
        return result

    def _check_answer(self, action: str, result) -> None:
        """Checks that the schemas cannot express: date-times are RFC 3339 (stack-notes §6)."""
        times = {"current_time": getattr(result, "current_time", None)}
        info = getattr(result, "id_tag_info", None)
        if isinstance(info, dict):
            times["id_tag_info.expiry_date"] = info.get("expiry_date")
        for name, value in times.items():
            if value is not None:
                self._server_time(value, f"{action} answer {name}")
        if action == Action.boot_notification and result.interval < 0:
            self._violation(f"BootNotification answer has a negative interval {result.interval}")

    async def _background(self, label: str, awaitable: Awaitable):
        """Await a message the charger sends on its own initiative. A failure is logged. It is
        also recorded as a protocol error when the server is at fault (no answer, CALLERROR)."""
        try:
            return await awaitable
        except ConnectionClosed as exc:
            log.info("%s: %s not delivered: %s", self.id, label, exc)
        except asyncio.TimeoutError:
            self._violation(f"{label}: no answer within {self._response_timeout}s")
        except OCPPError as exc:
            self._note_failure(label, exc)
        return None

    def _note_failure(self, label: str, exc: BaseException) -> None:
        if isinstance(exc, OCPPError) and not getattr(exc, "recorded", False):
            self._violation(
                f"{label}: answered with CALLERROR {exc.code}: {exc.description} {exc.details}"
            )
        elif not isinstance(exc, OCPPError):
            log.info("%s: %s failed: %r", self.id, label, exc)

    def _violation(self, text: str) -> None:
        self.protocol_errors.append(text)
        log.warning("%s: protocol error: %s", self.id, text)

    def _server_time(self, value: Any, what: str) -> dt.datetime | None:
        """Parse a date-time sent by the server. A bad one is recorded and gives None."""
        try:
            return parse_rfc3339(value)
        except ValueError:
            self._violation(f"{what} is not an RFC 3339 date-time: {value!r}")
            return None

    def _check_subprotocol(self, selected: str | None) -> None:
        if self.subprotocols and selected not in self.subprotocols:
            self._violation(
                f"server selected subprotocol {selected!r}, offered {list(self.subprotocols)}"
            )
        elif not self.subprotocols and selected:
            self._violation(f"server selected subprotocol {selected!r} although none was offered")

    async def _inspect_inbound(self, text: str, binary: bool) -> bool:
        """Check each frame from the server before the library sees it. True swallows it."""
        if binary:
            self._violation("server sent a binary frame (OCPP-J uses text frames)")
        try:
            frame = json.loads(text)
        except ValueError:
            self._violation(f"server sent a frame that is not JSON: {text[:200]!r}")
            return True
        if not isinstance(frame, list) or not frame or frame[0] not in (2, 3, 4):
            self._violation(f"server sent a frame that is not an OCPP message: {text[:200]!r}")
            return True
        if frame[0] == MessageType.Call:
            return await self._inspect_call(frame, text)
        return self._inspect_reply(frame, text)

    async def _inspect_call(self, frame: list, text: str) -> bool:
        well_formed = len(frame) == 4 and isinstance(frame[1], str) and isinstance(frame[2], str)
        if not well_formed or not isinstance(frame[3], dict):
            self._violation(f"server sent a malformed CALL: {text[:200]!r}")
            if len(frame) > 1 and isinstance(frame[1], str):  # answerable: OCPP-J §4.2.3
                error = [4, frame[1], "FormationViolation", "Malformed CALL", {}]
                await self._link.transport.send(json.dumps(error))
            return True
        if len(frame[1]) > 36:
            self._violation(f"message id longer than 36 characters: {frame[1]!r}")
        self._inbound_actions[frame[1]] = frame[2]
        return False

    def _inspect_reply(self, frame: list, text: str) -> bool:
        unique_id = frame[1] if len(frame) > 1 and isinstance(frame[1], (str, int)) else None
        if frame[0] == MessageType.CallResult:
            well_formed = len(frame) == 3 and isinstance(frame[2], dict)
        else:
            well_formed = (
                len(frame) == 5 and isinstance(frame[2], str) and isinstance(frame[3], str)
            )
            well_formed = well_formed and isinstance(frame[4], dict)
        if unique_id is None or not well_formed:
            self._violation(f"server sent a malformed reply: {text[:200]!r}")
            return True
        if frame[0] == MessageType.CallError and frame[2] not in OCPP16_ERROR_CODES:
            self._violation(
                f"CALLERROR code {frame[2]!r} is not an OCPP-J 1.6 error code: {text[:200]}"
            )
        caller = self._outstanding.get(unique_id)
        if caller is not None:
            if caller.cancelling():  # the caller gave up and will never read it
                return True
            self._reply_kinds[unique_id] = frame[0]
            return False
        if unique_id in self._raw_ids or self._raw_anonymous:
            self._take_raw_reply(unique_id)
            self._deliver_raw(frame)
        elif unique_id not in self._abandoned:
            self._violation(f"server replied to unknown message id {unique_id!r}: {text[:200]}")
        return True  # never let the library queue a stray reply (it would log it as an error)

    def _take_raw_reply(self, unique_id: Any) -> None:
        if unique_id in self._raw_ids:
            self._raw_ids.discard(unique_id)
        else:
            self._raw_anonymous -= 1

    def _inspect_outbound(self, text: str) -> None:
        """Remember how each server CALL was answered, and record the CALLERRORs."""
        with contextlib.suppress(ValueError, TypeError, IndexError):
            frame = json.loads(text)
            if frame[0] not in (3, 4) or frame[1] not in self._inbound_actions:
                return
            action = self._inbound_actions.pop(frame[1])
            self._answered[frame[1]] = frame[0]
            if frame[0] == MessageType.CallError:
                self._note_own_error(action, frame)

    def _note_own_error(self, action: str, frame: list) -> None:
        code, description, details = frame[2], frame[3], frame[4]
        if code == "NotImplemented":  # a 1.6 action we don't simulate (security extension)
            log.warning("%s: answered %s with NotImplemented", self.id, action)
        elif code == "InternalError":
            self._violation(f"internal: the simulator failed to handle {action}")
        else:
            cause = details.get("cause", description) if isinstance(details, dict) else description
            self._violation(f"server sent an invalid {action}: {code}: {cause}")

    async def route_message(self, raw_msg):
        """The library routes the frame. Then a CALL is recorded, and its follow-up starts
        once our answer is on the wire."""
        frame = json.loads(raw_msg)  # _inspect_inbound lets only well-formed frames through
        if frame[0] != MessageType.Call:
            return await super().route_message(raw_msg)
        unique_id, action, payload = frame[1], frame[2], frame[3]
        try:
            await super().route_message(raw_msg)
        except BaseException:
            self._settle_followup(unique_id, sent=False)
            raise
        self._record("received", action, camel_to_snake_case(payload))
        self._settle_followup(unique_id, sent=True)

    def _after_reply(
        self, call_unique_id, start: Callable[[], Awaitable], drop: Callable | None = None
    ) -> None:
        """Run ``start()`` as a task once the answer to this CALL has been sent.

        ocpp 2.1.0's @after hooks cannot see what the @on handler answered, so handlers leave their
        follow-up here, keyed by message id. Follow-ups never run inside the handler, because a
        call() there would deadlock the reader (stack-notes §1.3). ``drop`` undoes the handler's
        bookkeeping if the answer never went out.
        """
        self._followups[call_unique_id] = (start, drop)

    def _settle_followup(self, unique_id, *, sent: bool) -> None:
        answered = self._answered.pop(unique_id, None) == MessageType.CallResult
        followup = self._followups.pop(unique_id, None)
        if followup is None:
            return
        start, drop = followup
        if sent and answered:
            self._spawn(start())
        elif drop is not None:
            drop()

    # ---- observability ---------------------------------------------------------------------

    def _record(self, kind: str, *details) -> None:
        """Events: ("connected",), ("disconnected", code), ("received", action, payload) for a
        server CALL, and ("sent", action, payload, result or exception) for one of ours."""
        event = (kind, *details)
        entry = _Entry(event)
        self.history.append(entry)
        if self.events.full():
            self.events.get_nowait()
        self.events.put_nowait(event)
        for matches, future in list(self._waiters):
            if not future.done() and matches(event):
                future.set_result(event)
                entry.consumed = True
                break

    async def wait_for_event(
        self, kind: str, action: str | None = None, timeout: float = 5.0, predicate=None
    ) -> tuple:
        """Return the oldest event of this kind (and action) that no wait has returned yet,
        waiting up to ``timeout`` seconds. ``predicate(event)`` narrows the match.

        Events recorded before the call count, so a test never misses one that came early.
        Call clear_events() first to skip older events that would also match.
        """
        matches = _matcher(kind, action, predicate)
        for entry in self.history:
            if not entry.consumed and matches(entry.event):
                entry.consumed = True
                return entry.event
        waiter = (matches, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter[1], timeout)
        except asyncio.TimeoutError:
            recent = [entry.event[:2] for entry in list(self.history)[-10:]]
            raise asyncio.TimeoutError(
                f"{self.id}: no {kind} {action or ''} event within {timeout}s; "
                f"recent events: {recent}"
            ) from None
        finally:
            self._waiters.remove(waiter)

    def clear_events(self) -> None:
        """Mark every event recorded so far as seen. Later waits then match only newer events."""
        for entry in self.history:
            entry.consumed = True

    async def wait_for(self, action: str, timeout: float = 5.0, predicate=None) -> dict:
        """The payload (snake_case) of the next ``action`` CALL the server sent us."""
        check = None if predicate is None else (lambda event: predicate(event[2]))
        return (await self.wait_for_event("received", action, timeout, check))[2]

    async def wait_for_sent(
        self, action: str, timeout: float = 5.0, predicate=None
    ) -> tuple[dict, Any]:
        """(payload, result) of the next ``action`` CALL we sent. ``result`` is the server's
        call_result, or the exception if the call failed."""
        check = None if predicate is None else (lambda event: predicate(event[2]))
        event = await self.wait_for_event("sent", action, timeout, check)
        return event[2], event[3]

    async def send_raw(self, text: str) -> Any:
        """Send ``text`` unchanged, for malformed-frame tests. Returns the message id, if one can
        be read from the text. Collect the server's reply with next_raw_reply()."""
        link = self._link
        if link is None or link.closed.is_set():
            raise NotConnected()
        unique_id = _raw_frame_id(text)
        if unique_id is not None:
            self._raw_ids.add(unique_id)
        else:  # no readable id: the server may answer with an id of its own choosing
            self._raw_anonymous += 1
        await link.transport.send(text)
        return unique_id

    async def next_raw_reply(self, unique_id: Any = None, timeout: float = 5.0) -> list:
        """The server's reply frame (a parsed list) to a raw frame: the one with ``unique_id``,
        or the oldest one not yet returned."""
        for frame in self._raw_replies:
            if unique_id is None or frame[1] == unique_id:
                self._raw_replies.remove(frame)
                return frame
        waiter = (unique_id, asyncio.get_running_loop().create_future())
        self._raw_waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter[1], timeout)
        finally:
            self._raw_waiters.remove(waiter)

    def _deliver_raw(self, frame: list) -> None:
        for unique_id, future in self._raw_waiters:
            if not future.done() and (unique_id is None or unique_id == frame[1]):
                future.set_result(frame)
                return
        self._raw_replies.append(frame)

    # ---- charger-initiated messages --------------------------------------------------------

    async def boot(self):
        """BootNotification (§4.2). Keeps the registration status and, on Accepted, the interval
        as HeartbeatInterval."""
        result = await self._send_call(
            call.BootNotification(
                charge_point_model=self.model,
                charge_point_vendor=self.vendor,
                charge_point_serial_number=self.serial,
                firmware_version=self.firmware_version,
            )
        )
        self.registration_status = result.status
        log.info("%s: BootNotification %s (interval %ss)", self.id, result.status, result.interval)
        if result.status == RegistrationStatus.accepted and result.interval > 0:
            self.config.set("HeartbeatInterval", str(result.interval))
        return result

    async def heartbeat(self):
        """Heartbeat (§4.6)."""
        return await self._send_call(call.Heartbeat())

    async def status(
        self,
        connector_id: int,
        status: str,
        error_code: str = ChargePointErrorCode.no_error,
        **extra,
    ):
        """StatusNotification (§4.9). The status also becomes the connector's local status.
        ``extra``: info, vendor_id, vendor_error_code, timestamp."""
        connector = self.connectors.get(connector_id)
        if connector is not None:
            self._apply_status(connector, status, error_code)
        extra.setdefault("timestamp", rfc3339(utc_now()))
        return await self._send_call(
            call.StatusNotification(
                connector_id=connector_id, error_code=error_code, status=status, **extra
            )
        )

    async def authorize(self, id_tag: str):
        """Authorize (§4.1). The answer goes into the authorization cache."""
        result = await self._send_call(call.Authorize(id_tag=id_tag))
        self.auth_cache[id_tag] = result.id_tag_info
        return result

    async def start_transaction(
        self, connector_id, id_tag, meter_start=None, timestamp=None, reservation_id=None
    ):
        """StartTransaction (§4.8). On an answer the connector holds the transaction, even when
        idTagInfo is not Accepted: the caller decides what to do, as the charger's own flows do."""
        connector = self.connectors.get(connector_id)
        if meter_start is None:
            meter_start = self._read_meter(connector) if connector else 0
        started = _whole_seconds(utc_now())  # whole seconds: Relative schedules start here
        result = await self._send_call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=timestamp or rfc3339(started),
                reservation_id=reservation_id,
            )
        )
        self.auth_cache[id_tag] = result.id_tag_info
        if connector is not None and connector_id > 0:
            connector.transaction = Transaction(
                result.transaction_id, id_tag, meter_start, started, reservation_id
            )
            reservation = self.reservations.get(reservation_id)
            if reservation is not None:  # §5.13: a reservation ends when it is used
                self._drop_reservation(reservation)
        return result

    async def meter_values(
        self,
        connector_id,
        transaction_id=None,
        values=None,
        *,
        context=ReadingContext.sample_periodic,
    ):
        """MeterValues (§4.7). ``values`` are sampledValue dicts (snake_case). By default the
        charger samples MeterValuesSampledData from its own meter. ``transaction_id`` defaults
        to the connector's running transaction."""
        connector = self.connectors.get(connector_id)
        if transaction_id is None and connector is not None and connector.transaction is not None:
            transaction_id = connector.transaction.transaction_id
        if values is None:
            values = self._samples(connector, context) if connector else []
        meter_value = [{"timestamp": rfc3339(utc_now()), "sampled_value": values}]
        return await self._send_call(
            call.MeterValues(
                connector_id=connector_id, meter_value=meter_value, transaction_id=transaction_id
            )
        )

    async def stop_transaction(
        self, transaction_id=None, connector_id=None, reason=None, meter_stop=None, id_tag=None
    ):
        """StopTransaction (§4.10) for a transaction id, or for the one running on a connector.

        The transaction ends locally at once. If the link drops first, the message waits in the
        outbox and goes out after the next reconnect (transaction messages are not lost).
        """
        connector = self._connector_with_transaction(transaction_id) or self.connectors.get(
            connector_id
        )
        transaction = connector.transaction if connector is not None else None
        if transaction_id is None:
            if transaction is None:
                raise ValueError(f"{self.id}: no transaction on connector {connector_id}")
            transaction_id = transaction.transaction_id
        if meter_stop is None:
            meter_stop = self._read_meter(connector) if connector else 0
        payload = call.StopTransaction(
            meter_stop=meter_stop,
            timestamp=rfc3339(utc_now()),
            transaction_id=transaction_id,
            reason=reason,
            id_tag=id_tag,
            transaction_data=[self._end_sample(meter_stop)],
        )
        if transaction is not None and transaction.transaction_id == transaction_id:
            self._stop_meter_loop(connector)
            connector.transaction = None
            log.info("%s: transaction %s stopped (%s)", self.id, transaction_id, reason)
        try:
            return await self._send_call(payload)
        except (ConnectionClosed, asyncio.TimeoutError):
            self._outbox.append(payload)
            raise

    async def data_transfer(
        self, vendor_id: str = VENDOR_ID, message_id: str | None = None, data: str | None = None
    ):
        """DataTransfer (§4.3)."""
        return await self._send_call(
            call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data)
        )

    async def diagnostics_status(self, status: str):
        """DiagnosticsStatusNotification (§4.4)."""
        return await self._send_call(call.DiagnosticsStatusNotification(status=status))

    async def firmware_status(self, status: str):
        """FirmwareStatusNotification (§4.5)."""
        return await self._send_call(call.FirmwareStatusNotification(status=status))

    # ---- registration and heartbeat --------------------------------------------------------

    async def register(self):
        """BootNotification until Accepted (§4.2). Returns the first answer.

        On Accepted the charger announces its connectors and starts heartbeats. On Pending or
        Rejected a background task retries after the server's interval. Until Accepted, the
        charger sends nothing else on its own.
        """
        try:
            return await self._boot_and_follow()
        except (asyncio.TimeoutError, OCPPError):
            self._retry_boot(BOOT_RETRY_DEFAULT)
            raise

    async def _boot_and_follow(self):
        """One BootNotification, and what its answer calls for."""
        was_accepted = self.registration_status == RegistrationStatus.accepted
        result = await self.boot()
        if result.status != RegistrationStatus.accepted:
            self._retry_boot(result.interval)
        elif was_accepted:
            self._arm_heartbeat()  # a triggered BootNotification may bring a new interval
        else:
            await self._on_accepted()
        return result

    def _retry_boot(self, interval: float) -> None:
        """Start the retry loop, unless it is already running (this may be called from it)."""
        if self._boot_task is None or self._boot_task.done():
            self._boot_task = self._spawn(self._boot_retry(interval))

    async def _boot_retry(self, interval: float) -> None:
        while self.registration_status != RegistrationStatus.accepted:
            await asyncio.sleep(interval if interval > 0 else BOOT_RETRY_DEFAULT)
            if self.registration_status == RegistrationStatus.accepted:
                return  # a triggered BootNotification got there first
            result = await self._background("BootNotification", self._boot_and_follow())
            interval = result.interval if result is not None else BOOT_RETRY_DEFAULT

    async def _on_accepted(self) -> None:
        """Registered (again): deliver queued transaction messages, announce every connector,
        start heartbeats and resume metering."""
        self._backoff_attempt = 0
        await self._flush_outbox()
        for connector in self.connectors.values():
            await self._background(
                "StatusNotification",
                self.status(connector.connector_id, connector.status, connector.error_code),
            )
        self._arm_heartbeat()
        for connector in self._outlets():
            if connector.transaction is not None:
                self._start_meter_loop(connector)
        first = self.connectors.get(1)
        if (
            self.auto_start_tag
            and first is not None
            and self._can_start(first, self.auto_start_tag)
        ):
            self._spawn(self.start_charging(1, self.auto_start_tag))

    async def _flush_outbox(self) -> None:
        while self._outbox and self.accepted:
            payload = self._outbox.pop(0)
            try:
                await self._send_call(payload)
            except (ConnectionClosed, asyncio.TimeoutError):
                self._outbox.insert(0, payload)
                return
            except OCPPError as exc:
                self._note_failure("queued StopTransaction", exc)

    def _arm_heartbeat(self) -> None:
        """(Re)start the heartbeat timer at HeartbeatInterval (§4.6). 0 switches it off."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None
        interval = self.config.number("HeartbeatInterval")
        if interval > 0 and self.accepted:
            self._heartbeat_task = self._spawn(self._heartbeat_loop(interval))

    async def _heartbeat_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self.accepted:
                await self._background("Heartbeat", self.heartbeat())

    # ---- connectors, metering and charging sessions ----------------------------------------

    def _outlets(self) -> list[Connector]:
        return [c for n, c in self.connectors.items() if n > 0]

    def _outlet(self, connector_id: int | None) -> Connector | None:
        return self.connectors.get(connector_id) if connector_id and connector_id > 0 else None

    def _connector_with_transaction(self, transaction_id: int | None) -> Connector | None:
        if transaction_id is None:
            return None
        return next(
            (
                c
                for c in self._outlets()
                if c.transaction and c.transaction.transaction_id == transaction_id
            ),
            None,
        )

    def _operative(self, connector: Connector) -> bool:
        return AvailabilityType.inoperative not in (
            connector.availability,
            self.connectors[0].availability,
        )

    def _idle_status(self, connector: Connector) -> str:
        """The status of a connector that has no transaction."""
        if not self._operative(connector):
            return ChargePointStatus.unavailable
        if connector.status == ChargePointStatus.faulted:
            return ChargePointStatus.faulted
        if connector.connector_id > 0 and self._reservation_on(connector.connector_id) is not None:
            return ChargePointStatus.reserved
        return ChargePointStatus.available

    def _apply_status(
        self, connector: Connector, status: str, error_code: str = ChargePointErrorCode.no_error
    ):
        self._read_meter(connector)  # energy accrues only while Charging
        connector.status, connector.error_code = status, error_code

    async def _set_status(
        self, connector: Connector, status: str, error_code=ChargePointErrorCode.no_error
    ):
        """Change a connector's status and report it when registered."""
        if self.accepted:
            await self._background(
                "StatusNotification", self.status(connector.connector_id, status, error_code)
            )
        else:
            self._apply_status(connector, status, error_code)

    async def _announce_idle(self, connectors: list[Connector]) -> None:
        for connector in connectors:
            if not connector.busy:
                await self._set_status(connector, self._idle_status(connector))

    def _power_w(self, connector: Connector) -> float:
        """The power drawn now: the simulated power, capped by the charging profiles."""
        if connector.transaction is None or connector.status != ChargePointStatus.charging:
            return 0.0
        limit = self.profiles.limit_at(
            connector.connector_id, utc_now(), "W", connector.transaction.started_at
        )
        return self.power_w if limit is None else max(0.0, min(self.power_w, limit))

    def _read_meter(self, connector: Connector) -> int:
        """Advance the energy register by power x time since the last reading. Returns Wh."""
        now = time.monotonic()
        if connector.metered_at is not None:
            connector.meter_wh += self._power_w(connector) * (now - connector.metered_at) / 3600.0
        connector.metered_at = now
        return int(connector.meter_wh)

    def _samples(self, connector: Connector, context: str) -> list[dict]:
        """One sampledValue per measurand in MeterValuesSampledData."""
        parts = self._outlets() if connector.connector_id == 0 else [connector]
        energy = sum(self._read_meter(part) for part in parts)
        power = sum(self._power_w(part) for part in parts)
        offered = self.power_w if connector.connector_id == 0 else self._offered_w(connector)
        readings = {
            Measurand.energy_active_import_register: (str(energy), "Wh"),
            Measurand.power_active_import: (f"{power:.1f}", "W"),
            Measurand.current_import: (f"{_convert(power, 'W', 'A'):.1f}", "A"),
            Measurand.voltage: (f"{VOLTAGE:.1f}", "V"),
            Measurand.power_offered: (f"{offered:.1f}", "W"),
            Measurand.current_offered: (f"{_convert(offered, 'W', 'A'):.1f}", "A"),
        }
        wanted = (self.config.value("MeterValuesSampledData") or "").split(",")
        return [
            {
                "value": value,
                "context": context,
                "format": "Raw",
                "measurand": name,
                "location": "Outlet",
                "unit": unit,
            }
            for name, (value, unit) in readings.items()
            if name in wanted
        ]

    def _offered_w(self, connector: Connector) -> float:
        origin = connector.transaction.started_at if connector.transaction else utc_now()
        limit = self.profiles.limit_at(connector.connector_id, utc_now(), "W", origin)
        return self.power_w if limit is None else min(self.power_w, limit)

    def _end_sample(self, meter_stop: int) -> dict:
        """The transactionData of a StopTransaction: the register at Transaction.End."""
        sample = {
            "value": str(meter_stop),
            "context": ReadingContext.transaction_end,
            "measurand": Measurand.energy_active_import_register,
            "location": "Outlet",
            "unit": "Wh",
        }
        return {"timestamp": rfc3339(utc_now()), "sampled_value": [sample]}

    def _start_meter_loop(self, connector: Connector) -> None:
        if connector.meter_task is None or connector.meter_task.done():
            connector.meter_task = self._spawn(
                self._meter_loop(connector), f"meter-{connector.connector_id}"
            )

    def _stop_meter_loop(self, connector: Connector) -> None:
        task, connector.meter_task = connector.meter_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _meter_loop(self, connector: Connector) -> None:
        """MeterValues every meter_interval while the transaction runs (§4.7). While the charger
        is offline, samples are skipped, not queued."""
        while connector.transaction is not None:
            await asyncio.sleep(self.meter_interval if self.meter_interval > 0 else 1.0)
            if self.meter_interval > 0 and self.accepted and connector.transaction is not None:
                await self._background("MeterValues", self.meter_values(connector.connector_id))

    def _can_start(self, connector: Connector, id_tag: str) -> bool:
        if connector.busy or not self._operative(connector):
            return False
        if connector.status in _IDLE_STATUSES:
            return True
        reservation = self._reservation_on(connector.connector_id)
        return (
            connector.status == ChargePointStatus.reserved
            and reservation is not None
            and self._holds(reservation, id_tag)
        )

    async def start_charging(self, connector_id: int = 1, id_tag: str = "SIM-TAG") -> bool:
        """A driver plugs in and presents ``id_tag``. Returns True once the connector is Charging
        and sending MeterValues, and False (connector idle again) when that was not possible."""
        connector = self._outlet(connector_id)
        if connector is None or not self._can_start(connector, id_tag):
            return False
        connector.claimed_by = id_tag
        return await self._start_session(connector, id_tag, remote=False)

    async def stop_charging(self, connector_id: int = 1, reason: str = Reason.local) -> None:
        """The driver ends the session: StopTransaction, then Finishing, then Available."""
        connector = self._outlet(connector_id)
        if connector is not None and connector.transaction is not None:
            await self._end_transaction(connector, reason)

    async def _start_session(
        self, connector: Connector, id_tag: str, *, remote: bool, profile: dict | None = None
    ) -> bool:
        """(Authorize,) Preparing, StartTransaction, then Charging with MeterValues (§4.8).
        The caller has claimed the connector."""
        try:
            if not await self._authorized(id_tag, remote=remote):
                return False
            await self._set_status(connector, ChargePointStatus.preparing)
            reservation = self._reservation_on(connector.connector_id)
            reservation_id = (
                reservation.reservation_id
                if reservation and self._holds(reservation, id_tag)
                else None
            )
            result = await self.start_transaction(
                connector.connector_id, id_tag, reservation_id=reservation_id
            )
        except (ConnectionClosed, asyncio.TimeoutError, OCPPError) as exc:
            self._note_failure("starting a transaction", exc)
            await self._set_status(connector, self._idle_status(connector))
            return False
        finally:
            connector.claimed_by = None
        if result.id_tag_info.get("status") != AuthorizationStatus.accepted:
            # The Central System refused the tag: end the transaction at once.
            await self._end_transaction(connector, Reason.de_authorized, finishing=False)
            return False
        if profile is not None:
            profile["transaction_id"] = result.transaction_id
            self.profiles.install(connector.connector_id, profile)
        await self._set_status(connector, ChargePointStatus.charging)
        self._start_meter_loop(connector)
        log.info(
            "%s: charging on connector %s, transaction %s",
            self.id,
            connector.connector_id,
            result.transaction_id,
        )
        return True

    async def _authorized(self, id_tag: str, *, remote: bool) -> bool:
        """Whether the charger may start for ``id_tag``. A remote start needs no Authorize unless
        AuthorizeRemoteTxRequests is true. With LocalPreAuthorize, the local list or the cache
        answers (§3.5)."""
        if remote and not self.config.flag("AuthorizeRemoteTxRequests"):
            return True
        known = self._local_info(id_tag)
        if known is not None and self.config.flag("LocalPreAuthorize"):
            return known.get("status") == AuthorizationStatus.accepted
        result = await self.authorize(id_tag)
        return result.id_tag_info.get("status") == AuthorizationStatus.accepted

    def _local_info(self, id_tag: str) -> dict | None:
        if self.config.flag("LocalAuthListEnabled"):
            info = self.local_list.get(id_tag)
            if info is not None:
                return info
        return self.auth_cache.get(id_tag)

    async def _end_transaction(
        self, connector: Connector, reason: str, *, announce=True, finishing=True
    ) -> None:
        """StopTransaction, then Finishing and back to idle, applying any availability change
        that was Scheduled (§5.2)."""
        if connector.transaction is None:
            return
        try:
            await self.stop_transaction(connector_id=connector.connector_id, reason=reason)
        except (ConnectionClosed, asyncio.TimeoutError, OCPPError) as exc:
            self._note_failure("StopTransaction", exc)
        self.profiles.remove_tx_profiles(connector.connector_id)
        if connector.scheduled_availability is not None:
            connector.availability, connector.scheduled_availability = (
                connector.scheduled_availability,
                None,
            )
        if not announce:
            self._apply_status(connector, self._idle_status(connector))
            return
        if finishing:
            await self._set_status(connector, ChargePointStatus.finishing)
        await self._set_status(connector, self._idle_status(connector))

    async def _stop_all_transactions(self, reason: str) -> None:
        for connector in self._outlets():
            if connector.transaction is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._end_transaction(connector, reason), 5.0)

    async def _reboot(self, reset_type: str) -> None:
        """Reset (§5.14): stop transactions (SoftReset/HardReset), drop the link, and come back
        with a BootNotification. The connection loop reconnects after reboot_delay."""
        reason = Reason.hard_reset if reset_type == ResetType.hard else Reason.soft_reset
        for connector in self._outlets():
            await self._end_transaction(connector, reason, announce=False)
        for connector in self.connectors.values():
            connector.claimed_by = None
            connector.status = self._idle_status(connector)
        self.registration_status = None
        self._reboot_pending, self._backoff_attempt = True, 0
        await self._disconnect(1000, f"{reset_type} reset")

    # ---- reservations ----------------------------------------------------------------------

    def _reservation_on(self, connector_id: int) -> Reservation | None:
        return next((r for r in self.reservations.values() if r.connector_id == connector_id), None)

    def _holds(self, reservation: Reservation, id_tag: str) -> bool:
        """The tag may use the reservation: it is the reserved tag or shares its parent (§5.13)."""
        if reservation.id_tag.casefold() == id_tag.casefold():
            return True
        parent = (self._local_info(id_tag) or {}).get("parent_id_tag")
        return bool(
            reservation.parent_id_tag
            and parent
            and parent.casefold() == reservation.parent_id_tag.casefold()
        )

    def _drop_reservation(self, reservation: Reservation) -> None:
        self.reservations.pop(reservation.reservation_id, None)
        if reservation.timer is not None and reservation.timer is not asyncio.current_task():
            reservation.timer.cancel()

    async def _expire_reservation(self, reservation: Reservation) -> None:
        await asyncio.sleep(max(0.0, (reservation.expiry - utc_now()).total_seconds()))
        if self.reservations.get(reservation.reservation_id) is reservation:
            self._drop_reservation(reservation)
            await self._announce_idle([self.connectors[reservation.connector_id]])

    def _reservation_status(self, connector: Connector, replacing: Reservation | None) -> str:
        if not self._operative(connector):
            return ReservationStatus.unavailable
        if connector.status == ChargePointStatus.faulted:
            return ReservationStatus.faulted
        other = self._reservation_on(connector.connector_id)
        free = connector.status in (ChargePointStatus.available, ChargePointStatus.reserved)
        if connector.busy or not free or (other is not None and other is not replacing):
            return ReservationStatus.occupied
        return ReservationStatus.accepted

    # ---- Core profile handlers -------------------------------------------------------------

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self, id_tag, connector_id=None, charging_profile=None, call_unique_id=None, **kwargs
    ):
        """§5.11: accept when a connector can start for this tag; the session follows."""
        connector = self._connector_for_remote_start(id_tag, connector_id)
        profile = _plain(charging_profile) if charging_profile else None
        tx_profile = (
            profile is None
            or profile["charging_profile_purpose"] == ChargingProfilePurposeType.tx_profile
        )
        if connector is None or not tx_profile or not self.accepted:
            return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.rejected)
        connector.claimed_by = id_tag

        def release() -> None:
            connector.claimed_by = None

        self._after_reply(
            call_unique_id,
            lambda: self._start_session(connector, id_tag, remote=True, profile=profile),
            release,
        )
        return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.accepted)

    def _connector_for_remote_start(
        self, id_tag: str, connector_id: int | None
    ) -> Connector | None:
        if connector_id is not None:
            connector = self._outlet(connector_id)
            return (
                connector if connector is not None and self._can_start(connector, id_tag) else None
            )
        candidates = [c for c in self._outlets() if self._can_start(c, id_tag)]
        reserved = [c for c in candidates if c.status == ChargePointStatus.reserved]
        return (reserved or candidates or [None])[0]

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id, call_unique_id=None, **kwargs):
        """§5.12: accept for a running transaction, then stop it with reason Remote."""
        connector = self._connector_with_transaction(transaction_id)
        if connector is None:
            return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.rejected)
        self._after_reply(call_unique_id, lambda: self._end_transaction(connector, Reason.remote))
        return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.accepted)

    @on(Action.reset)
    def on_reset(self, type, call_unique_id=None, **kwargs):
        """§5.14: always accepted. The reboot follows the answer."""
        self._after_reply(call_unique_id, lambda: self._reboot(type))
        return call_result.Reset(status=ResetStatus.accepted)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id, call_unique_id=None, **kwargs):
        """§5.18: unlock, first stopping the transaction there (reason UnlockCommand)."""
        connector = self._outlet(connector_id)
        if connector is None:
            return call_result.UnlockConnector(status=UnlockStatus.not_supported)
        if connector.transaction is not None:
            self._after_reply(
                call_unique_id, lambda: self._end_transaction(connector, Reason.unlock_command)
            )
        return call_result.UnlockConnector(status=UnlockStatus.unlocked)

    @on(Action.change_availability)
    def on_change_availability(self, connector_id, type, call_unique_id=None, **kwargs):
        """§5.2: connector 0 is the whole charge point. A connector with a transaction changes
        after the transaction has ended (Scheduled)."""
        if connector_id not in self.connectors:
            return call_result.ChangeAvailability(status=AvailabilityStatus.rejected)
        targets = (
            list(self.connectors.values()) if connector_id == 0 else [self.connectors[connector_id]]
        )
        scheduled, changed = False, []
        for connector in targets:
            if connector.availability == type:
                connector.scheduled_availability = None
            elif connector.busy:
                connector.scheduled_availability, scheduled = type, True
            else:
                connector.availability, connector.scheduled_availability = type, None
                changed.append(connector)
        self._after_reply(call_unique_id, lambda: self._announce_idle(changed))
        status = AvailabilityStatus.scheduled if scheduled else AvailabilityStatus.accepted
        return call_result.ChangeAvailability(status=status)

    @on(Action.get_configuration)
    def on_get_configuration(self, key=None, **kwargs):
        """§5.8: every key when none are asked for. Unknown keys are listed in unknownKey."""
        known, unknown = self.config.report(key)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value, **kwargs):
        """§5.3: readonly keys and invalid values are Rejected, unknown keys NotSupported."""
        status = self.config.change(key, value)
        if status == ConfigurationStatus.accepted:
            name = self.config.lookup(key)
            if name == "HeartbeatInterval":
                self._arm_heartbeat()
            elif name == "MeterValueSampleInterval":
                self.meter_interval = self.config.number(name)
        return call_result.ChangeConfiguration(status=status)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kwargs):
        """§5.4."""
        self.auth_cache.clear()
        return call_result.ClearCache(status=ClearCacheStatus.accepted)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, message_id=None, data=None, **kwargs):
        """§5.6: our own vendor id echoes the data. Any other vendor id is unknown."""
        if vendor_id.casefold() != VENDOR_ID:
            return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)
        return call_result.DataTransfer(status=DataTransferStatus.accepted, data=data)

    # ---- Remote trigger --------------------------------------------------------------------

    @on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message, connector_id=None, call_unique_id=None, **kwargs
    ):
        """§5.17: send the requested message after the answer. Before registration only
        BootNotification may be sent (§4.2)."""
        if connector_id is not None and connector_id not in self.connectors:
            return call_result.TriggerMessage(status=TriggerMessageStatus.rejected)
        unregistered = self.registration_status != RegistrationStatus.accepted
        if unregistered and requested_message != MessageTrigger.boot_notification:
            return call_result.TriggerMessage(status=TriggerMessageStatus.rejected)
        send = self._triggered_message(requested_message, connector_id)
        if send is None:
            return call_result.TriggerMessage(status=TriggerMessageStatus.not_implemented)
        self._after_reply(call_unique_id, lambda: self._background(requested_message, send()))
        return call_result.TriggerMessage(status=TriggerMessageStatus.accepted)

    def _triggered_message(
        self, requested: str, connector_id: int | None
    ) -> Callable[[], Awaitable] | None:
        busy_firmware = (
            FirmwareStatus.downloading,
            FirmwareStatus.downloaded,
            FirmwareStatus.installing,
        )
        firmware = (
            self.firmware_state if self.firmware_state in busy_firmware else FirmwareStatus.idle
        )
        uploading = self.diagnostics_state == DiagnosticsStatus.uploading
        diagnostics = DiagnosticsStatus.uploading if uploading else DiagnosticsStatus.idle
        senders = {
            MessageTrigger.boot_notification: self._boot_and_follow,
            MessageTrigger.heartbeat: self.heartbeat,
            MessageTrigger.status_notification: lambda: self._send_statuses(connector_id),
            MessageTrigger.meter_values: lambda: self._send_triggered_meter_values(connector_id),
            MessageTrigger.firmware_status_notification: lambda: self.firmware_status(firmware),
            MessageTrigger.diagnostics_status_notification: lambda: self.diagnostics_status(
                diagnostics
            ),
        }
        return senders.get(requested)

    async def _send_statuses(self, connector_id: int | None) -> None:
        ids = list(self.connectors) if connector_id is None else [connector_id]
        for n in ids:
            connector = self.connectors[n]
            await self.status(n, connector.status, connector.error_code)

    async def _send_triggered_meter_values(self, connector_id: int | None) -> None:
        ids = [c.connector_id for c in self._outlets()] if connector_id is None else [connector_id]
        for n in ids:
            await self.meter_values(n, context=ReadingContext.trigger)

    # ---- Local auth list management --------------------------------------------------------

    @on(Action.send_local_list)
    def on_send_local_list(
        self, list_version, update_type, local_authorization_list=None, **kwargs
    ):
        """§5.15: NotSupported while LocalAuthListEnabled is false, VersionMismatch for a stale
        Differential update, Failed when the list would be too long."""
        if not self.config.flag("LocalAuthListEnabled"):
            return call_result.SendLocalList(status=UpdateStatus.not_supported)
        entries = local_authorization_list or []
        expiries = [(e.get("id_tag_info") or {}).get("expiry_date") for e in entries]
        bad_time = any(
            v is not None and self._server_time(v, "SendLocalList expiryDate") is None
            for v in expiries
        )
        if bad_time or len(entries) > self.config.number("SendLocalListMaxLength"):
            return call_result.SendLocalList(status=UpdateStatus.failed)
        status = self.local_list.apply(
            update_type, list_version, entries, int(self.config.number("LocalAuthListMaxLength"))
        )
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kwargs):
        """§5.10: -1 when local lists are switched off, and 0 for an empty list."""
        enabled = self.config.flag("LocalAuthListEnabled")
        return call_result.GetLocalListVersion(
            list_version=self.local_list.version if enabled else -1
        )

    # ---- Reservation -----------------------------------------------------------------------

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        connector_id,
        expiry_date,
        id_tag,
        reservation_id,
        parent_id_tag=None,
        call_unique_id=None,
        **kwargs,
    ):
        """§5.13: reserve an Available connector until expiryDate. A reservation with the same
        id replaces the old one. Connector 0 is rejected (no ReserveConnectorZeroSupported)."""
        expiry = self._server_time(expiry_date, "ReserveNow expiryDate")
        connector = self._outlet(connector_id)
        if connector is None or expiry is None or expiry <= utc_now():
            return call_result.ReserveNow(status=ReservationStatus.rejected)
        old = self.reservations.get(reservation_id)
        status = self._reservation_status(connector, old)
        if status != ReservationStatus.accepted:
            return call_result.ReserveNow(status=status)
        touched = [connector]
        if old is not None:
            self._drop_reservation(old)
            if old.connector_id != connector.connector_id:
                touched.append(self.connectors[old.connector_id])  # that one becomes Available
        reservation = Reservation(
            reservation_id, connector.connector_id, id_tag, expiry, parent_id_tag
        )
        self.reservations[reservation_id] = reservation
        reservation.timer = self._spawn(
            self._expire_reservation(reservation), f"reservation-{reservation_id}"
        )
        self._after_reply(call_unique_id, lambda: self._announce_idle(touched))
        return call_result.ReserveNow(status=ReservationStatus.accepted)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id, call_unique_id=None, **kwargs):
        """§5.1: the connector becomes Available again."""
        reservation = self.reservations.get(reservation_id)
        if reservation is None:
            return call_result.CancelReservation(status=CancelReservationStatus.rejected)
        self._drop_reservation(reservation)
        connector = self.connectors[reservation.connector_id]
        self._after_reply(call_unique_id, lambda: self._announce_idle([connector]))
        return call_result.CancelReservation(status=CancelReservationStatus.accepted)

    # ---- Smart charging --------------------------------------------------------------------

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id, cs_charging_profiles, **kwargs):
        """§5.16: store the profile, replacing one with the same id or slot. A TxProfile needs
        a transaction on that connector."""
        profile = _plain(cs_charging_profiles)
        status = self._profile_status(connector_id, profile)
        if status == ChargingProfileStatus.accepted:
            self.profiles.install(connector_id, profile)
        return call_result.SetChargingProfile(status=status)

    def _profile_status(self, connector_id: int, profile: dict) -> str:
        connector = self.connectors.get(connector_id)
        purpose = profile["charging_profile_purpose"]
        periods = profile["charging_schedule"]["charging_schedule_period"]
        replaces = profile["charging_profile_id"] in self.profiles.installed
        fits = (
            connector is not None
            and 0 <= profile["stack_level"] <= self.config.number("ChargeProfileMaxStackLevel")
            and 0 < len(periods) <= self.config.number("ChargingScheduleMaxPeriods")
            and (
                replaces
                or len(self.profiles.installed) < self.config.number("MaxChargingProfilesInstalled")
            )
            and self._profile_times_valid(profile)
        )
        if not fits or (
            purpose == ChargingProfilePurposeType.charge_point_max_profile and connector_id != 0
        ):
            return ChargingProfileStatus.rejected
        if purpose == ChargingProfilePurposeType.tx_profile:
            transaction = connector.transaction if connector_id > 0 else None
            wanted = profile.get("transaction_id")
            if transaction is None or wanted not in (None, transaction.transaction_id):
                return ChargingProfileStatus.rejected
        return ChargingProfileStatus.accepted

    def _profile_times_valid(self, profile: dict) -> bool:
        values = {
            "validFrom": profile.get("valid_from"),
            "validTo": profile.get("valid_to"),
            "startSchedule": profile["charging_schedule"].get("start_schedule"),
        }
        parsed = [
            self._server_time(v, f"SetChargingProfile {k}")
            for k, v in values.items()
            if v is not None
        ]
        return all(moment is not None for moment in parsed)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self, id=None, connector_id=None, charging_profile_purpose=None, stack_level=None, **kwargs
    ):
        """§5.5: Accepted when at least one profile matched, else Unknown."""
        cleared = self.profiles.clear(id, connector_id, charging_profile_purpose, stack_level)
        status = (
            ClearChargingProfileStatus.accepted if cleared else ClearChargingProfileStatus.unknown
        )
        return call_result.ClearChargingProfile(status=status)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id, duration, charging_rate_unit=None, **kwargs):
        """§5.7: the schedule that results from the installed profiles. Rejected when none apply."""
        connector = self.connectors.get(connector_id)
        now = _whole_seconds(utc_now())
        origin = (
            connector.transaction.started_at
            if connector is not None and connector.transaction
            else now
        )
        schedule = None
        if connector is not None:
            schedule = self.profiles.composite(
                connector_id, duration, charging_rate_unit, now, origin, self.power_w
            )
        if schedule is None:
            return call_result.GetCompositeSchedule(status=GetCompositeScheduleStatus.rejected)
        return call_result.GetCompositeSchedule(
            status=GetCompositeScheduleStatus.accepted,
            connector_id=connector_id,
            schedule_start=rfc3339(now),
            charging_schedule=schedule,
        )

    # ---- Firmware management ---------------------------------------------------------------

    @on(Action.update_firmware)
    def on_update_firmware(
        self,
        location,
        retrieve_date,
        retries=None,
        retry_interval=None,
        call_unique_id=None,
        **kwargs,
    ):
        """§5.19: an empty answer. The download starts at retrieveDate."""
        retrieve_at = self._server_time(retrieve_date, "UpdateFirmware retrieveDate") or utc_now()
        self._after_reply(
            call_unique_id,
            lambda: self._update_firmware(
                location, retrieve_at, retries or 0, _or_default(retry_interval, 5)
            ),
        )
        return call_result.UpdateFirmware()

    @on(Action.get_diagnostics)
    def on_get_diagnostics(
        self,
        location,
        retries=None,
        retry_interval=None,
        start_time=None,
        stop_time=None,
        call_unique_id=None,
        **kwargs,
    ):
        """§5.9: name the file now, and upload it after the answer."""
        for name, value in (("startTime", start_time), ("stopTime", stop_time)):
            if value is not None:
                self._server_time(value, f"GetDiagnostics {name}")
        safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", self.id)
        file_name = f"diagnostics-{safe_id}-{utc_now():%Y%m%dT%H%M%SZ}.log"
        self._after_reply(
            call_unique_id,
            lambda: self._upload_diagnostics(
                location, file_name, retries or 0, _or_default(retry_interval, 5)
            ),
        )
        return call_result.GetDiagnostics(file_name=file_name)

    async def _update_firmware(
        self, location: str, retrieve_at: dt.datetime, retries: int, retry_interval: float
    ):
        """Download with HTTP GET, then install. Each step is reported (§4.5). An empty file
        fails to install."""
        await asyncio.sleep(max(0.0, (retrieve_at - utc_now()).total_seconds()))
        await self._firmware_step(FirmwareStatus.downloading)
        body = await self._http_transfer("GET", location, None, retries, retry_interval)
        if body is None:
            await self._firmware_step(FirmwareStatus.download_failed)
            return
        self.firmware_download = {
            "location": location,
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        await self._firmware_step(FirmwareStatus.downloaded)
        await self._firmware_step(FirmwareStatus.installing)
        await self._firmware_step(
            FirmwareStatus.installed if body else FirmwareStatus.installation_failed
        )

    async def _firmware_step(self, status: str) -> None:
        self.firmware_state = status
        if self.accepted:
            await self._background("FirmwareStatusNotification", self.firmware_status(status))

    async def _upload_diagnostics(
        self, location: str, file_name: str, retries: int, retry_interval: float
    ):
        """Upload a generated log with HTTP PUT (§4.4 status reports). ftp:// is not supported,
        so it ends in UploadFailed."""
        url = location + file_name if location.endswith("/") else location
        await self._diagnostics_step(DiagnosticsStatus.uploading)
        body = self._diagnostics_text().encode()
        uploaded = await self._http_transfer("PUT", url, body, retries, retry_interval) is not None
        self.diagnostics_uploads.append(
            {"url": url, "file_name": file_name, "size": len(body), "uploaded": uploaded}
        )
        await self._diagnostics_step(
            DiagnosticsStatus.uploaded if uploaded else DiagnosticsStatus.upload_failed
        )

    async def _diagnostics_step(self, status: str) -> None:
        self.diagnostics_state = status
        if self.accepted:
            await self._background("DiagnosticsStatusNotification", self.diagnostics_status(status))

    def _diagnostics_text(self) -> str:
        lines = [f"evedge simulator diagnostics for {self.id} at {rfc3339(utc_now())}"]
        lines += [
            f"connector {c.connector_id}: {c.status} {c.availability} tx={c.transaction}"
            for c in self.connectors.values()
        ]
        lines += [f"event: {entry.event[:2]}" for entry in list(self.history)[-50:]]
        return "\n".join(lines) + "\n"

    async def _http_transfer(
        self, method: str, url: str, body: bytes | None, retries: int, retry_interval: float
    ):
        """GET or PUT over http(s) with retries. Returns the response body, or None on failure."""
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            log.info("%s: %s %s: scheme %r not supported", self.id, method, url, scheme)
            return None
        for attempt in range(retries + 1):
            if attempt:
                await asyncio.sleep(retry_interval)
            request = HTTPRequest(
                url,
                method=method,
                body=body,
                request_timeout=60,
                ssl_options=self.ssl if scheme == "https" else None,
            )
            try:
                response = await AsyncHTTPClient().fetch(request, raise_error=False)
            except (OSError, HTTPClientError) as exc:
                log.info("%s: %s %s failed: %s", self.id, method, url, exc)
                continue
            if 200 <= response.code < 300:
                return response.body or b""
            log.info("%s: %s %s answered HTTP %s", self.id, method, url, response.code)
        return None


# --------------------------------------------------------------------------------------------
# Running chargers
# --------------------------------------------------------------------------------------------


async def _first_of(*awaitables) -> None:
    """Wait until the first of the awaitables (None entries are skipped) is done."""
    tasks = [asyncio.ensure_future(a) for a in awaitables if a is not None]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _sleep_unless(stop: asyncio.Event | None, delay: float) -> None:
    if stop is None:
        await asyncio.sleep(delay)
    else:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


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


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run simulated OCPP 1.6J charge points against a Central System."
    )
    parser.add_argument("url_arg", nargs="?", metavar="URL", help="same as --url")
    parser.add_argument(
        "--url", help=f"CSMS websocket base URL; the charger id is appended (default {DEFAULT_URL})"
    )
    parser.add_argument("--count", type=int, default=1, help="number of chargers (default 1)")
    parser.add_argument("--prefix", default="SIM-", help="charger id prefix (default SIM-)")
    parser.add_argument(
        "--id",
        action="append",
        dest="ids",
        metavar="ID",
        help="charger id (repeatable; replaces --count and --prefix)",
    )
    parser.add_argument(
        "--connectors", type=int, default=1, help="connectors per charger (default 1)"
    )
    parser.add_argument("--password", help="HTTP Basic auth password (OCPP security profile 1)")
    parser.add_argument("--ca-file", help="CA bundle to verify a wss:// server")
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify the wss:// server certificate"
    )
    parser.add_argument(
        "--meter-interval",
        type=float,
        default=10.0,
        help="seconds between MeterValues (default 10)",
    )
    parser.add_argument(
        "--power", type=float, default=11000.0, help="simulated charging power in W (default 11000)"
    )
    parser.add_argument(
        "--auto-start-tag",
        metavar="TAG",
        help="start a transaction with TAG on connector 1 once online",
    )
    parser.add_argument(
        "--no-subprotocol", action="store_true", help="offer no websocket subprotocol"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, including every frame"
    )
    args = parser.parse_args(argv)
    if args.count < 1 or args.connectors < 1:
        parser.error("--count and --connectors must be at least 1")
    args.url = args.url or args.url_arg or DEFAULT_URL
    return args


def _ssl_context(ca_file: str | None, insecure: bool) -> ssl_module.SSLContext | None:
    if not ca_file and not insecure:
        return None  # tornado's default verification against the system CAs
    context = ssl_module.create_default_context(cafile=ca_file)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    return context


async def _run_cli(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(
            NotImplementedError
        ):  # Windows: Ctrl-C arrives as KeyboardInterrupt
            loop.add_signal_handler(sig, stop.set)
    ids = args.ids or _numbered_ids(args.prefix, args.count)
    log.info("running %d charger(s) against %s", len(ids), args.url)
    await run_chargers(
        args.url,
        ids,
        stop=stop,
        password=args.password,
        ssl=_ssl_context(args.ca_file, args.insecure),
        subprotocols=() if args.no_subprotocol else ("ocpp1.6",),
        connectors=args.connectors,
        meter_interval=args.meter_interval,
        power_w=args.power,
        auto_start_tag=args.auto_start_tag,
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (also ``evedge simulate``). Runs until Ctrl-C or SIGTERM."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # This process is ours alone, so validate inline: about 1.7x cheaper than the thread pool
    # (stack-notes §1.3). Importing the module never changes this, since a server may share it.
    ocpp.messages.ASYNC_VALIDATION = False
    try:
        asyncio.run(_run_cli(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
