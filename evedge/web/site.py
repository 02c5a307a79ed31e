"""REST and page: site load management (/api/site/..., /ui/site/).

The handlers translate; the model is parsed by ``load_management.parse_site``, stored
through the group commit (answered once durable) and handed to the live load manager
(``services.load``), which re-allocates at once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import tornado.web

from .. import errors
from ..domain import site_store, text_checks
from ..load_management import ChargerTemplate, grid_meters, parse_site
from .base import JSON_TYPES, ApiHandler, parse_json_object
from .pages import PageHandler
from .request_checks import declared_length

WHAT_IF_KEYS = ("circuit", "extra_sessions", "template")
TEMPLATE_KEYS = tuple(f.name for f in dataclasses.fields(ChargerTemplate))


@tornado.web.stream_request_body
class SiteHandler(ApiHandler):
    """The site model can outgrow max_json_body_bytes (a depot of 1,500 chargers), a limit
    judged before anyone is authenticated. This handler streams its body, so the larger
    max_site_model_bytes applies only once ``prepare`` has seen an admin's token: a
    stranger's big body is refused (401) before a byte of it is read."""

    permissions = {"GET": "viewer", "PUT": "admin"}
    json_body = False  # read here, after the auth check (request_checks.py skips it)
    body_types = JSON_TYPES
    _chunks: list[bytes] | None = None
    _size = 0

    def prepare(self) -> None:
        super().prepare()
        if self.request.method != "PUT":
            return
        limit = self.services.config.max_site_model_bytes
        if declared_length(self.request) > limit:
            raise self._too_large(limit)
        self._chunks = []

    def data_received(self, chunk: bytes) -> None:
        if self._chunks is None or self._finished:
            return  # no PUT, or already answered: nothing is kept
        self._size += len(chunk)
        limit = self.services.config.max_site_model_bytes
        if self._size > limit:  # chunked: no Content-Length announced it
            self._chunks = None
            refusal = self._too_large(limit)
            # Answer at once; Tornado then closes the connection instead of reading on.
            self.send_error(413, exc_info=(type(refusal), refusal, None))
            return
        self._chunks.append(chunk)

    @staticmethod
    def _too_large(limit: int) -> errors.PayloadTooLarge:
        return errors.PayloadTooLarge(
            f"the site model is larger than {limit} bytes (setting max_site_model_bytes)",
            limit_bytes=limit)

    def get(self) -> None:
        """The site model (circuits, chargers, tag priorities, grid meters), every default
        filled in; ``{"circuits": [], "chargers": [], ...}`` when there is none."""
        self.send_json(self.services.load.site.as_json())

    async def put(self) -> None:
        """Replace the site model: 400 naming the field, 409 when site_model_file names it,
        413 over max_site_model_bytes; answered once stored, and allocated at once."""
        if self._finished:  # refused in data_received (413) while the body came in
            return
        load = self.services.load
        load.check_editable()
        config = self.services.config
        body = parse_json_object(b"".join(self._chunks or ()), config.max_site_model_bytes,
                                 "max_site_model_bytes")
        text_checks.require_storable_json(body)
        site = parse_site(body)
        canonical = site.as_json()
        await self.committed(lambda: site_store.save_site_json(canonical))
        load.set_site(site)
        self.send_json(canonical)


class AllocationHandler(ApiHandler):
    permissions = {"GET": "viewer"}

    def get(self) -> None:
        """The allocation in force: per circuit the limit, what is allocated and measured; per
        session its state, allocation, measured draw and the charger's answer."""
        self.send_json(self.services.load.snapshot().allocation())


class WhatIfHandler(ApiHandler):
    permissions = {"POST": "viewer"}

    def post(self) -> None:
        """What each session would get if ``extra_sessions`` more started on ``circuit``
        (optionally on chargers like ``template``); nothing is sent."""
        body = self.body
        _refuse_unknown(body, WHAT_IF_KEYS, "")
        for name in ("circuit", "extra_sessions"):
            if name not in body:
                raise errors.BadRequest(f"{name}: required", field=name)
        load = self.services.load
        result = load.what_if(body["circuit"], body["extra_sessions"],
                              _template(body.get("template")))
        self.send_json(load.snapshot().allocation_body(result))


class GridMeterHandler(ApiHandler):
    permissions = {"PUT": "operator"}

    def put(self, circuit_id: str) -> None:
        """A reading of the circuit's grid meter (source "rest"): ``{"current_a": [L1, L2,
        L3]}``, trusted for grid_meter_max_age seconds."""
        load = self.services.load
        reading = grid_meters.parse_reading(load.site, circuit_id, self.body)
        load.put_reading(circuit_id, reading)
        self.send_json({"circuit": circuit_id, "current_a": list(reading),
                        "max_age_s": self.services.config.grid_meter_max_age})


class SitePageHandler(PageHandler):
    template = "site.html"

    def get(self) -> None:
        """Site load management: limits, allocation, measured draw, queue, what-if, model."""
        self.show()


def _refuse_unknown(body: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for key in body:
        if key not in allowed:
            field = f"{prefix}{key}"
            raise errors.BadRequest(f"{field}: unknown key (allowed: {', '.join(allowed)})",
                                    field=field)


def _template(value: Any) -> ChargerTemplate:
    if value is None:
        return ChargerTemplate()
    if not isinstance(value, dict):
        raise errors.BadRequest("template: must be a JSON object", field="template")
    _refuse_unknown(value, TEMPLATE_KEYS, "template.")
    return ChargerTemplate(**value)


ROUTES = [
    (r"/api/site/", SiteHandler),
    (r"/api/site/allocation/", AllocationHandler),
    (r"/api/site/what-if/", WhatIfHandler),
    (r"/api/site/grid-meters/([^/]+)/", GridMeterHandler),
    (r"/ui/site/", SitePageHandler),
]
