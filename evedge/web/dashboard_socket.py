"""/ws/dashboard: live events for the dashboard, after the browser has authenticated.

Protocol (JSON text frames):

* browser -> server, first and within ``dashboard_auth_timeout`` seconds:
  ``{"type": "auth", "token": "<access token>"}``. The token travels inside the
  socket, never in the URL, so it lands in no access log (docs/conventions.md §9).
  A later ``auth`` message (after the browser refreshed its tokens) replaces the
  user. A missing, bad, expired or revoked token closes the socket with 4401: at
  once when the login ends (logout, the account disabled or demoted: Accounts tells
  the sockets it watches), when the token expires (a timer set at its expiry), and at
  the latest ``dashboard_recheck_interval`` after anything else (a change made in the
  database by hand).
* server -> browser: ``{"type": "snapshot", "chargers": [...]}`` once (the shape
  of GET /api/chargers/), then the Broadcaster's frames ``{"events": [...]}``
  as they are batched (events.py).

Frames are written without awaiting (docs/library-notes.md §6). A browser that stops
reading is dropped once ``dashboard_max_pending_bytes`` wait in its write buffer, so one
slow tablet can neither stall the others nor fill the box's memory; it reconnects
and starts again from a fresh snapshot. ``check_origin`` keeps Tornado's default
(same origin only), so another web site cannot open this socket with a token it
has no way to read anyway.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import orjson
import tornado.ioloop
import tornado.websocket

from .. import errors
from ..storage.models import User

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

UNAUTHORIZED = 4401         # 4000-4999: application codes (RFC 6455 §7.4.2); 401 as in HTTP
TOO_SLOW = 1013             # "try again later"


class DashboardSocketHandler(tornado.websocket.WebSocketHandler):
    def initialize(self, services: Services) -> None:
        self.services = services
        self.user: User | None = None
        self._token = ""
        self._subscription: int | None = None
        self._timer: Any = None  # the auth deadline, then the re-checks
        self._watch: int | None = None  # Accounts' handle: logins of self.user ended
        self._pending = 0

    def open(self) -> None:
        """Live dashboard events; authenticate with a first message
        `{"type": "auth", "token": "<access token>"}`."""
        self._schedule(self.services.config.dashboard_auth_timeout)

    def on_message(self, message: str | bytes) -> None:
        try:
            data = json.loads(message)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            data = None
        if isinstance(data, dict) and data.get("type") == "auth":
            self._authenticate(data.get("token"))
        elif self.user is None:
            self._refuse("authenticate first")
        # Anything else from an authenticated browser is ignored: it only listens.

    def _authenticate(self, token: Any) -> None:
        try:
            user = self.services.accounts.authenticate(token if isinstance(token, str) else "")
        except errors.Unauthorized as exc:
            self._refuse(exc.message)
            return
        first = self.user is None
        self.user, self._token = user, token
        self._watch_user(user)
        self._schedule_recheck()
        if first:
            self._start_streaming()

    def _watch_user(self, user: User) -> None:
        accounts = self.services.accounts
        if self._watch is not None:
            accounts.unwatch(self._watch)
        self._watch = accounts.watch(user.id, lambda user_id: self._check())

    def _schedule_recheck(self) -> None:
        """Next check at the token's expiry, or after the recheck interval if sooner."""
        left = self.services.accounts.seconds_left(self._token)
        self._schedule(max(0.0, min(left, self.services.config.dashboard_recheck_interval)))

    def _start_streaming(self) -> None:
        # Subscribe first and hold the events back until the snapshot is sent: the
        # snapshot is read off the event loop (ChargerReads.list), and an event that
        # arrives meanwhile must come after it, never be lost.
        held: list[str] = []
        self._subscription = self.services.events.subscribe(held.append)
        tornado.ioloop.IOLoop.current().add_future(
            asyncio.ensure_future(self._send_snapshot(held)), lambda future: future.result())

    async def _send_snapshot(self, held: list[str]) -> None:
        chargers, _ = await self.services.charger_reads.list()
        if self._subscription is None:  # closed or refused while the snapshot was read
            return
        self._send(orjson.dumps({"type": "snapshot", "chargers": chargers}).decode())
        self.services.events.unsubscribe(self._subscription)
        self._subscription = self.services.events.subscribe(self._send)
        for frame in held:
            self._send(frame)

    def _send(self, frame: str) -> None:
        """Write one frame without waiting for it (a Broadcaster subscriber)."""
        if self._pending > self.services.config.dashboard_max_pending_bytes:
            log.info("dropping dashboard of %s: %d bytes unsent", self._who(), self._pending)
            self.services.metrics.dashboard_closed("too_slow")
            self._unsubscribe()
            self.close(TOO_SLOW, "too slow; reconnect")
            return
        try:
            written = self.write_message(frame)
        except tornado.websocket.WebSocketClosedError:
            self._unsubscribe()
            return
        size = len(frame)
        self._pending += size
        written.add_done_callback(lambda future: self._written(future, size))

    def _written(self, future: Any, size: int) -> None:
        self._pending -= size
        if not future.cancelled() and future.exception() is not None:
            self._unsubscribe()  # the socket closed under the write; on_close follows

    def _schedule(self, delay: float) -> None:
        loop = tornado.ioloop.IOLoop.current()
        if self._timer is not None:
            loop.remove_timeout(self._timer)
        self._timer = loop.call_later(delay, self._check)

    def _check(self) -> None:
        """The auth deadline, then each re-check: the token must still work (it expires,
        the user logs out, an admin disables or demotes the account)."""
        if self._timer is not None:
            tornado.ioloop.IOLoop.current().remove_timeout(self._timer)
        self._timer = None
        if self.user is None:
            self._refuse("no auth message within %g s"
                         % self.services.config.dashboard_auth_timeout)
            return
        try:
            self.user = self.services.accounts.authenticate(self._token)
            self._schedule_recheck()
        except errors.Unauthorized as exc:
            self._refuse(exc.message)

    def _refuse(self, why: str) -> None:
        log.info("dashboard socket from %s refused: %s", self.request.remote_ip, why)
        self.services.metrics.dashboard_closed("unauthorized")
        self._unsubscribe()
        self.close(UNAUTHORIZED, "unauthorized")

    def _unsubscribe(self) -> None:
        if self._subscription is not None:
            self.services.events.unsubscribe(self._subscription)
            self._subscription = None
        if self._watch is not None:
            self.services.accounts.unwatch(self._watch)
            self._watch = None

    def _who(self) -> str:
        return self.user.username if self.user is not None else self.request.remote_ip

    def on_close(self) -> None:
        self._unsubscribe()
        if self._timer is not None:
            tornado.ioloop.IOLoop.current().remove_timeout(self._timer)
            self._timer = None


ROUTES = [(r"/ws/dashboard", DashboardSocketHandler)]
