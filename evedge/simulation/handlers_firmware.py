"""FirmwareManagement actions the Central System sends the simulated charger: UpdateFirmware
(§5.19) and GetDiagnostics (§5.9), with their HTTP or FTP transfers and status reports (§4.4,
§4.5).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ftplib
import hashlib
import logging
import re
import urllib.parse
from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, DiagnosticsStatus, FirmwareStatus
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from . import ftp_transfer
from .clock import rfc3339, utc_now

log = logging.getLogger("evedge.simulator")


def _or_default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _scheme(url: str) -> str:
    try:
        return urllib.parse.urlsplit(url).scheme
    except ValueError:  # e.g. "http://[broken": a failed transfer, as a charger reports it
        return ""


class FirmwareHandlers:
    """Firmware update and diagnostics upload of `SimulatedCharger`."""

    # ---- Firmware management ---------------------------------------------------------------

    @on(Action.update_firmware)
    def on_update_firmware(
        self,
        location,
        retrieve_date,
        retries=None,
        retry_interval=None,
        call_unique_id=None,
        **kwargs,
    ):
        """§5.19: an empty answer. The download starts at retrieveDate."""
        retrieve_at = self._server_time(retrieve_date, "UpdateFirmware retrieveDate") or utc_now()
        self._after_reply(
            call_unique_id,
            lambda: self._update_firmware(
                location, retrieve_at, retries or 0, _or_default(retry_interval, 5)
            ),
        )
        return call_result.UpdateFirmware()

    @on(Action.get_diagnostics)
    def on_get_diagnostics(
        self,
        location,
        retries=None,
        retry_interval=None,
        start_time=None,
        stop_time=None,
        call_unique_id=None,
        **kwargs,
    ):
        """§5.9: name the file now, and upload it after the answer."""
        for name, value in (("startTime", start_time), ("stopTime", stop_time)):
            if value is not None:
                self._server_time(value, f"GetDiagnostics {name}")
        safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", self.id)
        file_name = f"diagnostics-{safe_id}-{utc_now():%Y%m%dT%H%M%SZ}.log"
        self._after_reply(
            call_unique_id,
            lambda: self._upload_diagnostics(
                location, file_name, retries or 0, _or_default(retry_interval, 5)
            ),
        )
        return call_result.GetDiagnostics(file_name=file_name)

    async def _update_firmware(
        self, location: str, retrieve_at: dt.datetime, retries: int, retry_interval: float
    ):
        """Download with HTTP GET or FTP RETR, then install. Each step is reported (§4.5). An
        empty file fails to install."""
        await asyncio.sleep(max(0.0, (retrieve_at - utc_now()).total_seconds()))
        await self._firmware_step(FirmwareStatus.downloading)
        body = await self._transfer("GET", location, None, retries, retry_interval)
        if body is None:
            await self._firmware_step(FirmwareStatus.download_failed)
            return
        self.firmware_download = {
            "location": location,
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        await self._firmware_step(FirmwareStatus.downloaded)
        await self._firmware_step(FirmwareStatus.installing)
        await self._firmware_step(
            FirmwareStatus.installed if body else FirmwareStatus.installation_failed
        )

    async def _firmware_step(self, status: str) -> None:
        self.firmware_state = status
        if self.accepted:
            await self._background("FirmwareStatusNotification", self.firmware_status(status))

    async def _upload_diagnostics(
        self, location: str, file_name: str, retries: int, retry_interval: float
    ):
        """Upload a generated log with HTTP PUT or FTP STOR (§4.4 status reports); another
        scheme ends in UploadFailed."""
        url = location + file_name if location.endswith("/") else location
        await self._diagnostics_step(DiagnosticsStatus.uploading)
        body = self._diagnostics_text().encode()
        uploaded = await self._transfer("PUT", url, body, retries, retry_interval) is not None
        self.diagnostics_uploads.append(
            {"url": url, "file_name": file_name, "size": len(body), "uploaded": uploaded}
        )
        await self._diagnostics_step(
            DiagnosticsStatus.uploaded if uploaded else DiagnosticsStatus.upload_failed
        )

    async def _diagnostics_step(self, status: str) -> None:
        self.diagnostics_state = status
        if self.accepted:
            await self._background("DiagnosticsStatusNotification", self.diagnostics_status(status))

    def _diagnostics_text(self) -> str:
        lines = [f"evedge simulator diagnostics for {self.id} at {rfc3339(utc_now())}"]
        lines += [
            f"connector {c.connector_id}: {c.status} {c.availability} tx={c.transaction}"
            for c in self.connectors.values()
        ]
        lines += [f"event: {entry.event[:2]}" for entry in list(self.history)[-50:]]
        return "\n".join(lines) + "\n"

    async def _transfer(
        self, method: str, url: str, body: bytes | None, retries: int, retry_interval: float
    ):
        """GET (download) or PUT (upload) over http(s) or ftp, with retries. Returns the
        downloaded body (b"" for an upload), or None on failure."""
        if _scheme(url) == "ftp":
            return await self._ftp_transfer(method, url, body, retries, retry_interval)
        return await self._http_transfer(method, url, body, retries, retry_interval)

    async def _ftp_transfer(
        self, method: str, url: str, body: bytes | None, retries: int, retry_interval: float
    ):
        """RETR or STOR, in a thread (ftplib blocks). Returns what _transfer returns."""
        for attempt in range(retries + 1):
            if attempt:
                await asyncio.sleep(retry_interval)
            try:
                if method == "GET":
                    return await asyncio.to_thread(ftp_transfer.download, url)
                await asyncio.to_thread(ftp_transfer.upload, url, body or b"")
                return b""
            except (*ftplib.all_errors, ValueError) as exc:
                log.info("%s: FTP %s %s failed: %s", self.id, method, url, exc)
        return None

    async def _http_transfer(
        self, method: str, url: str, body: bytes | None, retries: int, retry_interval: float
    ):
        """GET or PUT over http(s) with retries. Returns the response body, or None on failure."""
        scheme = _scheme(url)
        if scheme not in ("http", "https"):
            log.info("%s: %s %s: scheme %r not supported", self.id, method, url, scheme)
            return None
        for attempt in range(retries + 1):
            if attempt:
                await asyncio.sleep(retry_interval)
            request = HTTPRequest(
                url,
                method=method,
                body=body,
                request_timeout=60,
                ssl_options=self.ssl if scheme == "https" else None,
            )
            try:
                response = await AsyncHTTPClient().fetch(request, raise_error=False)
            except (OSError, ValueError, HTTPClientError) as exc:
                log.info("%s: %s %s failed: %s", self.id, method, url, exc)
                continue
            if 200 <= response.code < 300:
                return response.body or b""
            log.info("%s: %s %s answered HTTP %s", self.id, method, url, response.code)
        return None
