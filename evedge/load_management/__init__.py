"""Site load management: the site model and the allocation of its capacity.

Pure parts only (no I/O, no asyncio, no OCPP): ``site_model`` parses and validates the
circuits and chargers of a depot, ``allocator`` shares their capacity among the charging
sessions. Applying the result with SetChargingProfile is the caller's job.
"""

from .allocator import (CHARGING, QUEUED, Allocation, ChargerTemplate, CircuitAllocation,
                        FixedLoad, SessionAllocation, SessionDemand, allocate, what_if)
from .site_model import ChargerAssignment, Circuit, GridMeter, SiteModel, parse_site

__all__ = ["CHARGING", "QUEUED", "Allocation", "ChargerAssignment", "ChargerTemplate",
           "Circuit", "CircuitAllocation", "FixedLoad", "GridMeter", "SessionAllocation",
           "SessionDemand", "SiteModel", "allocate", "parse_site", "what_if"]
