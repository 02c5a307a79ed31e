"""Micro benchmark: what accepting one charger payload costs, valid and deviating.

    python bench/tolerance_micro.py

Measures, in one process, the best of 7 runs of N calls (microseconds per call):

* ``validate``: the plain compiled validator (protocol.validate, the library's schema);
* ``check valid``: tolerance.check on a valid 4-sample MeterValues (the hot path: the
  strict validator with ranges, nothing else);
* ``check deviating``: tolerance.check on the same MeterValues with deviations
  (numbers as text, an unknown property, a lower-case unit), parse included, minus
  the cost of the parse alone.

On the shared 2-core box (2026-11, quiet, best of 5 runs): before tolerance.py,
quirks.repair + protocol.validate cost 10.5-10.9 us on the valid MeterValues; after,
check valid 10.6-10.8 us (validate alone 8.6-9.7 us), check deviating 51-55 us.
"""

from __future__ import annotations

import os
import sys
import timeit

import orjson

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from evedge.chargers import protocol, tolerance  # noqa: E402


def _sample(value: str, measurand: str, unit: str) -> dict:
    return {"value": value, "context": "Sample.Periodic", "format": "Raw",
            "measurand": measurand, "location": "Outlet", "unit": unit}


VALID = {"connectorId": 1, "transactionId": 42, "meterValue": [{
    "timestamp": "2026-11-24T02:07:04Z", "sampledValue": [
        _sample("1000", "Energy.Active.Import.Register", "Wh"),
        _sample("7200.0", "Power.Active.Import", "W"),
        _sample("31.8", "Current.Import", "A"),
        _sample("230.4", "Voltage", "V")]}]}
DEVIATING = orjson.dumps({**VALID, "transactionId": "42", "vendorExtra": 1, "meterValue": [{
    **VALID["meterValue"][0], "sampledValue": [
        {**VALID["meterValue"][0]["sampledValue"][0], "value": 1000, "unit": "wh"},
        *VALID["meterValue"][0]["sampledValue"][1:]]}]})


def best_us(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def main() -> None:
    payload = orjson.loads(orjson.dumps(VALID))
    assert tolerance.check("MeterValues", payload) == ()
    assert tolerance.check("MeterValues", orjson.loads(DEVIATING))
    validate = best_us(lambda: protocol.validate("MeterValues", payload), 20000)
    valid = best_us(lambda: tolerance.check("MeterValues", payload), 20000)
    parse = best_us(lambda: orjson.loads(DEVIATING), 20000)
    deviating = best_us(lambda: tolerance.check("MeterValues", orjson.loads(DEVIATING)), 5000)
    print(f"validate (library schema)      {validate:6.2f} us")
    print(f"check valid (hot path)         {valid:6.2f} us")
    print(f"check deviating (repair path)  {deviating - parse:6.2f} us")


if __name__ == "__main__":
    main()
