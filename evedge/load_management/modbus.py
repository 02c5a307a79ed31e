"""Grid meters read over Modbus TCP (``grid_meters`` source ``modbus``), with pymodbus.

A 3-phase circuit's meter is read as three consecutive holding registers from
``register`` (L1, L2, L3 of the site), a 1-phase circuit's as one register (its phase);
each a signed 16-bit integer, times ``scale`` in A (e.g. 0.01 for a register in cA).
Every ``modbus_poll_interval`` seconds; a meter that does not answer gives no reading,
and after ``grid_meter_max_age`` the circuit counts as fully loaded (grid_meters.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from .site_model import Circuit, GridMeter, Vector

log = logging.getLogger(__name__)

Deliver = Callable[[str, Vector], None]


def to_signed(register: int) -> int:
    return register - 0x10000 if register >= 0x8000 else register


def reading_from_registers(circuit: Circuit, registers: list[int], scale: float) -> Vector:
    """Per site phase, from the registers as read (see the module docstring)."""
    values = [to_signed(register) * scale for register in registers]
    if circuit.phases == 1:
        site = [0.0, 0.0, 0.0]
        site[circuit.site_phases[0]] = values[0]
        return (site[0], site[1], site[2])
    return (values[0], values[1], values[2])


class ModbusPoller:
    """Polls one meter until ``close``; each reading goes to ``deliver(circuit, current)``."""

    def __init__(self, meter: GridMeter, circuit: Circuit, interval: float, deliver: Deliver):
        self.meter, self.circuit, self.interval = meter, circuit, interval
        self._deliver = deliver
        self._client = AsyncModbusTcpClient(meter.host, port=meter.port, timeout=interval,
                                            retries=0, reconnect_delay=0)
        self._task: asyncio.Task | None = None
        self.failures = 0
        self.readings = 0

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._client.close()

    async def _run(self) -> None:
        while True:
            try:
                self._deliver(self.meter.circuit, await self.read())
                self._recovered()
            except (ModbusException, OSError, asyncio.TimeoutError, ValueError) as exc:
                self._failed(exc)
            await asyncio.sleep(self.interval)

    async def read(self) -> Vector:
        if not self._client.connected:
            await self._client.connect()
            if not self._client.connected:
                raise ConnectionError(f"cannot connect to {self.meter.host}:{self.meter.port}")
        count = 1 if self.circuit.phases == 1 else 3
        answer = await self._client.read_holding_registers(
            self.meter.register, count=count, device_id=self.meter.unit_id)
        if answer.isError() or len(answer.registers) != count:
            raise ValueError(f"the meter answered {answer}")
        self.readings += 1
        return reading_from_registers(self.circuit, list(answer.registers), self.meter.scale)

    def _failed(self, exc: Exception) -> None:
        if not self.failures:  # one line per outage, not one per poll
            log.warning("grid meter of %s (modbus %s:%s) gives no reading: %s",
                        self.meter.circuit, self.meter.host, self.meter.port, exc)
        self.failures += 1

    def _recovered(self) -> None:
        if self.failures:
            log.warning("grid meter of %s reads again after %d failed polls",
                        self.meter.circuit, self.failures)
            self.failures = 0
