"""Exact current arithmetic: whole micro-amperes, and allocation units of 0.1 A.

A float is read as the decimal it was written as (its shortest repr: 36.3 is 36.3 A,
not 36.29999...; the site model and meter readings arrive as JSON decimals), then loads
round up and limits round down to the micro-ampere, so a sum that fits in integers
fits the real limit too. 0.1 A is the resolution of a charging profile's limit (OCPP
1.6 §7.14: at most one decimal).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .site_model import Circuit

MICRO = 1_000_000       # micro-amperes per ampere
UNIT = MICRO // 10      # micro-amperes per allocation unit (0.1 A)


def micro_up(value: float) -> int:
    numerator, denominator = Decimal(repr(value)).as_integer_ratio()
    return -((-numerator * MICRO) // denominator)


def micro_down(value: float) -> int:
    numerator, denominator = Decimal(repr(value)).as_integer_ratio()
    return (numerator * MICRO) // denominator


# A charger's minimum and maximum (and a car's demand) are on the 0.1 A grid up to float
# representation: 11.6 is stored as 11.59999..., which must still mean 116 units. These
# are never safety limits, so a value within GRID_SLACK of the grid counts as on it.
GRID_SLACK = 1e-9


def units_up(value: float) -> int:
    """Allocation units at or above a charger's current (its minimum)."""
    return math.ceil(value * 10 - GRID_SLACK)


def units_down(value: float) -> int:
    """Allocation units at or below a charger's current (its maximum, a car's demand)."""
    return math.floor(value * 10 + GRID_SLACK)


def row_limit_micro(circuit: Circuit, phase: int | None) -> int:
    """A circuit's limit on one site phase after its margin, or (phase None) its power
    limit as P / V phase-amperes, in micro-amperes rounded down."""
    if phase is None:
        power_n, power_d = Decimal(repr(circuit.max_power_kw)).as_integer_ratio()
        volt_n, volt_d = Decimal(repr(circuit.voltage_v)).as_integer_ratio()
        return (power_n * volt_d * 1000 * MICRO) // (power_d * volt_n)
    limit = circuit.max_current_a
    if isinstance(limit, tuple):
        limit = limit[phase]
    return micro_down(limit) - micro_up(circuit.margin_a)
