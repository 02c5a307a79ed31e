"""Known firmware quirks that evedge accepts on purpose, with a record of each.

Strict schema validation protects the database, but a few deviations are so
common in the field, and rejecting them so costly, that they are repaired
before validation instead (docs/decisions.md D10):

* meterStart / meterStop sent as a fraction (``1234.5``) or as a string
  (``"1234"``): rounded to whole Wh. Rejecting a StopTransaction makes the
  charger retry it forever and the session is never closed.
* a sampled ``value`` sent as a JSON number instead of a string: kept as text.
* transactionId of StopTransaction/MeterValues as a numeric string.
* over-long optional informational strings (firmware version, serial numbers,
  StatusNotification info/vendor error code): cut to the schema's maximum,
  since refusing a BootNotification leaves the charger unusable.

Everything else (required fields, id tags, enums, types of other fields) stays
strict and gets the CALLERROR of OCPP-J 1.6 §4.2.3. Each repair is returned as
a short note that the session records once per connection.
"""

from __future__ import annotations

from typing import Any, Callable

_BOOT_LIMITS = {"chargePointSerialNumber": 25, "chargeBoxSerialNumber": 25,
                "firmwareVersion": 50, "iccid": 20, "imsi": 20, "meterType": 25,
                "meterSerialNumber": 25}
_STATUS_LIMITS = {"info": 50, "vendorId": 255, "vendorErrorCode": 50}


def _whole_wh(payload: dict, key: str, notes: list[str]) -> None:
    value = payload.get(key)
    if type(value) is int or value is None:
        return
    if type(value) is float:
        payload[key] = int(round(value))
        notes.append(f"{key} sent as a fraction")
    elif type(value) is str:
        try:
            payload[key] = int(round(float(value)))
        except ValueError:
            return
        notes.append(f"{key} sent as a string")


def _integer_id(payload: dict, key: str, notes: list[str]) -> None:
    value = payload.get(key)
    if type(value) is str and value.strip().isdigit():
        payload[key] = int(value)
        notes.append(f"{key} sent as a string")


def _truncate(payload: dict, limits: dict[str, int], notes: list[str]) -> None:
    for key, limit in limits.items():
        value = payload.get(key)
        if type(value) is str and len(value) > limit:
            payload[key] = value[:limit]
            notes.append(f"{key} longer than {limit} characters")


def _sample_values(meter_value: Any, notes: list[str]) -> None:
    if type(meter_value) is not list:
        return
    for reading in meter_value:
        samples = reading.get("sampledValue") if type(reading) is dict else None
        if type(samples) is not list:
            continue
        for sample in samples:
            if type(sample) is dict and type(sample.get("value")) in (int, float):
                sample["value"] = repr(sample["value"])
                notes.append("sampled value sent as a number")


def _boot(payload: dict, notes: list[str]) -> None:
    _truncate(payload, _BOOT_LIMITS, notes)


def _status(payload: dict, notes: list[str]) -> None:
    _truncate(payload, _STATUS_LIMITS, notes)


def _start(payload: dict, notes: list[str]) -> None:
    _whole_wh(payload, "meterStart", notes)


def _stop(payload: dict, notes: list[str]) -> None:
    _whole_wh(payload, "meterStop", notes)
    _integer_id(payload, "transactionId", notes)
    _sample_values(payload.get("transactionData"), notes)


def _meter_values(payload: dict, notes: list[str]) -> None:
    _integer_id(payload, "transactionId", notes)
    _sample_values(payload.get("meterValue"), notes)


_REPAIRS: dict[str, Callable[[dict, list[str]], None]] = {
    "BootNotification": _boot,
    "StatusNotification": _status,
    "StartTransaction": _start,
    "StopTransaction": _stop,
    "MeterValues": _meter_values,
}


def repair(action: str, payload: dict) -> list[str]:
    """Repair known quirks in ``payload`` in place; returns what was repaired."""
    fix = _REPAIRS.get(action)
    if fix is None:
        return []
    notes: list[str] = []
    fix(payload, notes)
    return notes
