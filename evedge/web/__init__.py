"""The web layer: Tornado handlers (thin translators between HTTP/WebSocket and the
services), the URL table and the connection gate. The only package that imports Tornado
(with server.py)."""
