"""Site load management: the site model and the allocation of its capacity.

Pure parts only (no I/O, no asyncio, no OCPP): ``site_model`` parses and validates the
circuits and chargers of a depot. Applying the result with SetChargingProfile is the
caller's job.
"""

from .site_model import ChargerAssignment, Circuit, GridMeter, SiteModel, parse_site

__all__ = ["ChargerAssignment", "Circuit", "GridMeter", "SiteModel", "parse_site"]
