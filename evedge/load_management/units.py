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


def micro_ratio(numerator: float, denominator: float) -> int:
    """``numerator / denominator`` in micro-units rounded down, computed exactly on the
    decimals the two were written as (a power limit in W over a voltage)."""
    num_n, num_d = Decimal(repr(numerator)).as_integer_ratio()
    den_n, den_d = Decimal(repr(denominator)).as_integer_ratio()
    return (num_n * den_d * MICRO) // (num_d * den_n)
