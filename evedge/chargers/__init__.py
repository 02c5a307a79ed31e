"""Everything that speaks OCPP: framing, the per-charger session, the live registry, commands."""
