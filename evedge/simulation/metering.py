"""The simulated charger's energy meter and its MeterValues (§4.7).

The energy register advances by power x time while a connector is Charging; the power is the
simulated power, capped by the charging profiles in force.
"""

from __future__ import annotations

import asyncio
import time

from ocpp.v16.enums import ChargePointStatus, Measurand, ReadingContext

from .clock import rfc3339, utc_now
from .smart_charging import VOLTAGE, _convert
from .state import Connector


class MeteringMixin:
    """Meter readings, samples and the MeterValues loop of `SimulatedCharger`."""

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
