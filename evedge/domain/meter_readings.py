"""What a MeterValues means: sample rows, register readings in Wh, power in W.

One home for the unit rules (OCPP 1.6 §7.45 defaults, kWh and kW readings), used
by the charging rules, the read models and the live dashboard events alike.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from ..timeutil import db_time, parse_charger_time, to_rfc3339

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
_CURRENT_PHASES = {"L1": 0, "L2": 1, "L3": 2, "L1-N": 0, "L2-N": 1, "L3-N": 2}


def sample_rows(charger_id: str, connector_id: int, transaction_id: int | None,
                meter_value: list[dict[str, Any]], now: dt.datetime) -> list[tuple]:
    """One meter_sample row per sampledValue, with OCPP 1.6's defaults filled in (§7.45)."""
    received = db_time(now)
    rows = []
    for reading in meter_value:
        taken = db_time(parse_charger_time(reading.get("timestamp")) or now)
        for sample in reading.get("sampled_value", ()):
            get = sample.get
            measurand = get("measurand") or ENERGY_REGISTER
            unit = get("unit") or ("Wh" if measurand.startswith("Energy.") else None)
            value, raw = parse_sample_value(get("value"), get("format"))
            rows.append((charger_id, connector_id, transaction_id, taken, received, measurand,
                         get("phase"), unit, get("context"), get("location"), value, raw))
    return rows


def latest_readings(meter_value: list[dict[str, Any]]) -> dict[str, Any]:
    """Power (W), energy register (Wh), current (A) and the charger's time of the last
    reading of a MeterValues, for live views and load management.

    ``current_a`` is there only with a Current.Import sample: ``[L1, L2, L3]`` (None where a
    phase was not reported) from samples with a phase (``L2`` and ``L2-N`` alike); a number
    from a sample without one (OCPP 1.6 §7.31 leaves it to the charger: per phase).
    """
    power = energy = current = None
    for sample in meter_value[-1].get("sampled_value", ()) if meter_value else ():
        measurand = sample.get("measurand") or ENERGY_REGISTER
        if measurand == CURRENT:
            current = _add_current(current, sample)
            continue
        if sample.get("phase") and measurand != ENERGY_REGISTER:
            continue
        value, _ = parse_sample_value(sample.get("value"), sample.get("format"))
        if measurand == ENERGY_REGISTER:
            energy = energy_wh(value, sample.get("unit") or "Wh")
        elif measurand == POWER:
            power = power_w(value, sample.get("unit"))
    taken = parse_charger_time(meter_value[-1].get("timestamp")) if meter_value else None
    readings = {"power_w": power, "energy_wh": energy, "timestamp": to_rfc3339(taken)}
    if current is not None:
        readings["current_a"] = current
    return readings


def _add_current(current: Any, sample: dict[str, Any]) -> Any:
    """Fold one Current.Import sample into ``current`` (see ``latest_readings``)."""
    value, _ = parse_sample_value(sample.get("value"), sample.get("format"))
    if value is None:
        return current
    if sample.get("unit") == "kA":  # not a 1.6 unit, but unambiguous
        value *= 1000
    phase = _CURRENT_PHASES.get(sample.get("phase"))
    if sample.get("phase") is None:
        return value if not isinstance(current, list) else current
    if phase is None:  # N, L1-L2 ...: not a line current of the charger
        return current
    phases = current if isinstance(current, list) else [None, None, None]
    phases[phase] = value
    return phases


def live_event(meter_value: list[dict[str, Any]], meter_start: int | None) -> dict[str, Any]:
    """What a dashboard shows of a MeterValues: ``latest_readings`` and the session energy.

    Never raises, whatever the charger sent (the session queues the message's rows only
    after this): every number is finite or None, so the event also encodes as JSON.
    """
    readings = latest_readings(meter_value)
    readings["session_energy_wh"] = session_energy(readings["energy_wh"], meter_start)
    return readings


def parse_sample_value(text: Any, fmt: str | None = None) -> tuple[float | None, str | None]:
    """(numeric value, raw text kept when it is not a plain number).

    Quirk: some firmwares send a decimal comma ("12,5"); it is read as 12.5 and
    the original text is kept. SignedData values are kept as text only.
    """
    if fmt == "SignedData" or not isinstance(text, str):
        return None, None if text is None else str(text)
    try:
        number = float(text)
    except ValueError:
        try:
            number = float(text.replace(",", ".", 1))
        except ValueError:
            return None, text
        return (number, text) if math.isfinite(number) else (None, text)
    return (number, None) if math.isfinite(number) else (None, text)


def int64_or_none(value: int) -> int | None:
    """``value`` when a database integer column holds it (signed 64 bits), else None."""
    return value if -2 ** 63 <= value < 2 ** 63 else None


def whole_wh(value: float, unit: str | None) -> int | None:
    """A register reading as whole Wh (meterStop inferred from the last sample); None
    beyond 64 bits (a sample may read 1e300 kWh)."""
    wh = value * 1000 if unit == "kWh" else value
    return int64_or_none(int(round(wh))) if math.isfinite(wh) else None


def energy_wh(value: float | None, unit: str | None) -> float | None:
    """A register reading in Wh, whatever unit the charger used; None beyond float range
    (``1e308`` kWh is a finite reading, but not in Wh)."""
    if value is None:
        return None
    return _finite(value * 1000 if unit == "kWh" else value)


def power_w(value: float | None, unit: str | None) -> float | None:
    """A power reading in W, whatever unit the charger used; None beyond float range."""
    if value is None:
        return None
    return _finite(value * 1000 if unit == "kW" else value)


def session_energy(meter_now: float | None, meter_start: int | None) -> float | None:
    """Energy charged so far in a running session (Wh): register now minus meterStart."""
    if meter_now is None or meter_start is None:
        return None
    return _finite(round(meter_now - meter_start, 3))


def _finite(value: float) -> float | None:
    """JSON has no Infinity (RFC 8259 §6): such a number would break the dashboard's
    JSON.parse, and it is no reading anyway."""
    return value if math.isfinite(value) else None


# --- how often a charger meters (the orphan rules, docs/decisions.md D24) ---------------------

# Configuration keys whose value is seconds between the readings a charger sends in a
# transaction (OCPP 1.6 §9.1): sampled, and clock-aligned; 0 switches one off.
INTERVAL_KEYS = ("MeterValueSampleInterval", "ClockAlignedDataInterval")
MAX_METERING_INTERVAL = 3600.0   # beyond an hour, a gap is an outage, not an interval
READINGS_AFTER_A_REBOOT = 2      # intervals a resumed session has to show a reading


def configured_interval(configuration: str) -> float | None:
    """The shortest metering interval switched on in a charger's stored configuration (the
    JSON ``command_effects`` keeps from GetConfiguration/ChangeConfiguration)."""
    try:
        known = json.loads(configuration) if configuration else {}
    except ValueError:
        return None
    seconds = []
    for key in INTERVAL_KEYS:
        entry = known.get(key) if isinstance(known, dict) else None
        value = entry.get("value") if isinstance(entry, dict) else None
        try:
            number = float(str(value).strip())
        except ValueError:
            continue
        if math.isfinite(number) and number > 0:
            seconds.append(number)
    return min(seconds) if seconds else None


def metering_interval(configuration: str, observed_gap: float | None) -> float | None:
    """Seconds between a transaction's readings: the longer of what the charger is
    configured with and the gap between its last two readings (a configuration read long
    ago may be stale either way), at most an hour; None when neither is known."""
    candidates = [value for value in (configured_interval(configuration), observed_gap)
                  if value is not None and math.isfinite(value) and value > 0]
    return min(max(candidates), MAX_METERING_INTERVAL) if candidates else None


def reboot_silence(grace: float, interval: float | None) -> float:
    """Seconds after a reboot before a transaction begun before it, silent since, counts as
    lost: ``reboot_grace``, or two metering intervals when that is longer."""
    if interval is None:
        return grace
    return max(grace, READINGS_AFTER_A_REBOOT * interval)
