"""Tornado handlers: thin translators between HTTP/WebSocket and the services."""
