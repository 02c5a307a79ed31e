"""Smart charging (§3.13): installed charging profiles and the limits they add up to.

`ChargingProfiles` stores profiles the way SetChargingProfile and ClearChargingProfile (§5.16,
§5.5) describe, answers "what is the limit on this connector now" for the meter, and builds the
composite schedule of GetCompositeSchedule (§5.7). Pure code: no I/O and no clock of its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from typing import Any

from ocpp.v16.enums import ChargingProfilePurposeType

from .clock import _ceil_seconds, parse_rfc3339, rfc3339

VOLTAGE = 230.0
PHASES = 3
_RECURRENCE = {"Daily": dt.timedelta(days=1), "Weekly": dt.timedelta(days=7)}


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


@dataclasses.dataclass(frozen=True)
class Limit:
    """One schedule period's limit: ``value`` in ``unit`` (A per phase, or W in all), and the
    period's numberPhases, if it gave one."""

    value: float
    unit: str
    number_phases: int | None = None

    def phases_used(self, phases: int) -> int:
        """The phases a charger with ``phases`` may use under this limit (§7.13 numberPhases)."""
        return min(phases, self.number_phases) if self.number_phases else phases

    def value_in(self, unit: str, phases: int) -> float:
        return _convert(self.value, self.unit, unit, self.phases_used(phases))


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
        self,
        connector_id: int,
        moment: dt.datetime,
        unit: str,
        origin: dt.datetime,
        phases: int = PHASES,
    ) -> float | None:
        """The limit on ``connector_id`` at ``moment`` in ``unit``, for a charger with ``phases``
        phases. It is the lower of the charge point maximum and the transaction limit (§3.13.3).
        Returns None when no profile applies."""
        limits = [self.charge_point_limit(moment, origin)]
        if connector_id > 0:
            limits.append(self.tx_limit(connector_id, moment, origin))
        found = [limit.value_in(unit, phases) for limit in limits if limit is not None]
        return min(found) if found else None

    def charge_point_limit(self, moment: dt.datetime, origin: dt.datetime) -> Limit | None:
        """The ChargePointMaxProfile in force: a limit on the charge point as a whole."""
        purpose = ChargingProfilePurposeType.charge_point_max_profile
        return self._top_limit(purpose, 0, moment, origin)

    def tx_limit(self, connector_id: int, moment: dt.datetime, origin: dt.datetime) -> Limit | None:
        """The transaction limit on a connector (§3.13.2): its TxProfile, else its own
        TxDefaultProfile, else connector 0's TxDefaultProfile; within a purpose the highest stack
        level that has a period in force."""
        for purpose, where in (
            (ChargingProfilePurposeType.tx_profile, connector_id),
            (ChargingProfilePurposeType.tx_default_profile, connector_id),
            (ChargingProfilePurposeType.tx_default_profile, 0),
        ):
            limit = self._top_limit(purpose, where, moment, origin)
            if limit is not None:
                return limit
        return None

    def _top_limit(self, purpose, connector_id, moment, origin) -> Limit | None:
        """The limit of the highest stack level in force among one purpose's profiles."""
        candidates = [
            i
            for i in self.installed.values()
            if i.purpose == purpose and i.connector_id == connector_id
        ]
        for item in sorted(candidates, key=lambda i: i.stack_level, reverse=True):
            period = _period_in_force(item.profile, moment, origin)
            if period is not None:
                return Limit(float(period["limit"]), item.unit, period.get("number_phases"))
        return None

    def next_change(
        self, connector_ids: set[int], begin: dt.datetime, origin: dt.datetime, horizon: float
    ) -> dt.datetime | None:
        """The first moment after ``begin`` (within ``horizon`` seconds) at which a profile on
        one of ``connector_ids`` may change its limit, or None."""
        end = begin + dt.timedelta(seconds=horizon)
        points = [
            point
            for item in self.installed.values()
            if item.connector_id in connector_ids
            for point in _breakpoints(item.profile, begin, end, origin)
        ]
        return min(points) if points else None

    def composite(
        self, connector_id, duration, unit, now, origin, max_power_w, phases: int = PHASES
    ) -> dict | None:
        """GetCompositeSchedule (§5.7): a ChargingSchedule (snake_case) for ``duration`` seconds
        from ``now``. Returns None when no profile concerns the connector. The hardware maximum
        (``max_power_w`` on ``phases`` phases) caps every limit and fills the gaps where no
        profile applies. Limits are rounded to 0.1, because the 1.6 schema has
        ``multipleOf: 0.1``."""
        items = [i for i in self.installed.values() if i.connector_id in {0, connector_id}]
        if not items:
            return None
        unit = unit or items[0].unit
        end = now + dt.timedelta(seconds=duration)
        moments = {now} | {
            _ceil_seconds(p) for i in items for p in _breakpoints(i.profile, now, end, origin)
        }
        hardware = _convert(max_power_w, "W", unit, phases)
        periods: list[dict] = []
        for moment in sorted(moments):
            limit = self.limit_at(connector_id, moment, unit, origin, phases)
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


def _plain(value: Any) -> Any:
    """Turn the Decimals that the library's validation leaves in charging profiles into floats."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return float(value) if isinstance(value, decimal.Decimal) else value
