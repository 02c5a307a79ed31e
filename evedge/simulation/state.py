"""What a simulated charge point remembers: connectors and their transactions, reservations,
configuration keys (§9) and the local authorization list (§3.5).

Plain data and pure rules, with no I/O: the charger's mixins act on these objects.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

from ocpp.v16.enums import (
    AvailabilityType,
    ChargePointErrorCode,
    ChargePointStatus,
    ConfigurationStatus,
    Measurand,
    UpdateStatus,
    UpdateType,
)

from .ev import Car
from .load import CurrentFollower

SAMPLED_MEASURANDS = (
    Measurand.energy_active_import_register,
    Measurand.power_active_import,
    Measurand.current_import,
    Measurand.voltage,
    Measurand.power_offered,
    Measurand.current_offered,
)
DEFAULT_MEASURANDS = ",".join(SAMPLED_MEASURANDS[:4])


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
    info: str | None = None  # the free text of the last StatusNotification (a fault's detail)
    availability: str = AvailabilityType.operative
    scheduled_availability: str | None = None  # §5.2: applied once the transaction has ended
    transaction: Transaction | None = None
    claimed_by: str | None = None  # id tag of a start in progress
    meter_wh: float = 0.0  # the energy register
    meter_task: asyncio.Task | None = dataclasses.field(default=None, repr=False)
    car: Car | None = None  # the car plugged in, when one is
    plugged_in: bool = False  # a rehearsal's car is plugged in (rehearsal.py): no session needed
    load: CurrentFollower | None = dataclasses.field(default=None, repr=False)  # while it draws

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


def _default_configuration(
    connectors: int, meter_interval: float, phase_rotation: str
) -> dict[str, tuple[str, bool]]:
    """Configuration keys (§9) as key -> (value, readonly). ConnectorPhaseRotation (§9.1.7) is
    readonly here: it describes the simulated wiring, which a ChangeConfiguration cannot move."""
    rotation = ",".join(f"{n}.{phase_rotation}" for n in range(connectors + 1))
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
        # §9.1: how it downloads firmware and uploads diagnostics (handlers_firmware.py).
        "SupportedFileTransferProtocols": ("FTP,HTTP,HTTPS", True),
        "StopTransactionOnEVSideDisconnect": ("true", False),
        "UnlockConnectorOnEVSideDisconnect": ("true", False),
        "ResetRetries": ("3", False),
        "WebSocketPingInterval": ("60", False),  # read when the next connection opens
        "ClockAlignedDataInterval": ("0", False),
        "ConnectorPhaseRotation": (rotation, True),
    }


class Configuration:
    """The charge point's configuration keys (§9). ``entries`` maps key -> (value, readonly).

    Lookups ignore case, because keys are CiString50 (§7).
    """

    def __init__(self, connectors: int, meter_interval: float, phase_rotation: str = "RST"):
        self.entries = _default_configuration(connectors, meter_interval, phase_rotation)

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
            folded = entry["id_tag"].casefold()  # one entry per tag, whatever its case (CiString20)
            for tag in [tag for tag in updated if tag.casefold() == folded]:
                del updated[tag]
            if entry.get("id_tag_info") is not None:
                updated[entry["id_tag"]] = entry["id_tag_info"]
        if len(updated) > max_length:
            return UpdateStatus.failed
        self.entries = updated
        self.version = version if updated else 0
        return UpdateStatus.accepted
