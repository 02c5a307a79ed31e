"""evedge: an OCPP 1.6J Central System for the gateway box of an EV charging depot."""

__version__ = "0.1.0"
