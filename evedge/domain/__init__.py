"""The rules of a depot, free of Tornado and of the ocpp library: accounts, charging,
id tags, chargers, what commands teach us, files, and the read models."""
