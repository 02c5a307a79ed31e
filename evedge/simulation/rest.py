"""A small JSON client for a central system's REST API (the commissioning check's side door).

Tornado's HTTP client, its own instance (so closing it never touches a client others share).
Answers come back whatever their status; only a request that got no answer raises `RestError`.
"""

from __future__ import annotations

import dataclasses
import json
import ssl as ssl_module
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest


class RestError(Exception):
    """No HTTP answer: the server could not be reached, or did not answer in time."""


@dataclasses.dataclass
class RestAnswer:
    status: int
    text: str
    json: Any  # the parsed body, or None when it is not JSON

    def error_text(self) -> str:
        """The API's error message ({"error", "field"} in evedge), else the start of the body."""
        if isinstance(self.json, dict) and "error" in self.json:
            field = self.json.get("field")
            return f"{self.json['error']}" + (f" (field {field})" if field else "")
        return self.text[:200] or "(empty body)"


class RestClient:
    def __init__(self, base: str, timeout: float, ssl: ssl_module.SSLContext | None = None):
        """``base`` is the API root, e.g. ``http://site:8000/api``; paths are relative to it."""
        self.base = base.rstrip("/") + "/"
        self.timeout = timeout
        self.ssl = ssl
        self._client = AsyncHTTPClient(force_instance=True)

    def url(self, path: str) -> str:
        return self.base + path.lstrip("/")

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> RestAnswer:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = None if body is None else json.dumps(body)
        if payload is None and method in ("POST", "PUT", "PATCH"):
            payload = ""
        request = HTTPRequest(
            self.url(path),
            method=method,
            headers=headers,
            body=payload,
            connect_timeout=self.timeout,
            request_timeout=self.timeout,
            ssl_options=self.ssl,
        )
        response = await self._client.fetch(request, raise_error=False)
        if response.code == 599:  # tornado: no HTTP answer at all
            reason = str(response.error or "no answer")
            if "timeout" in reason.lower():
                raise RestError(f"no answer within {self.timeout:g} s from {request.url}")
            raise RestError(f"cannot reach {request.url}: {reason}")
        text = response.body.decode("utf-8", "replace") if response.body else ""
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return RestAnswer(response.code, text, parsed)

    async def get(self, path: str, token: str | None = None) -> RestAnswer:
        return await self.request("GET", path, token=token)

    async def post(self, path: str, body: Any, token: str | None = None) -> RestAnswer:
        return await self.request("POST", path, body, token)

    def close(self) -> None:
        self._client.close()
