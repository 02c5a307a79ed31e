"""How the simulated charger talks OCPP through the library: its CALLs, their answers, the
protocol errors it records, and the follow-ups that run once a server CALL has been answered.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import json
import logging
from typing import Any, Awaitable, Callable

from ocpp.charge_point import camel_to_snake_case, remove_nones
from ocpp.exceptions import OCPPError
from ocpp.messages import MessageType
from ocpp.v16.enums import Action

from .clock import parse_rfc3339
from .transport import ConnectionClosed, NotConnected

log = logging.getLogger("evedge.simulator")


class ProtocolMixin:
    """CALLs, answers, protocol errors and follow-ups of `SimulatedCharger`.

    ``protocol_errors`` lists, as text, everything the server did wrong (and any failure of the
    simulator itself, prefixed "internal:"). The message-id bookkeeping set up here is shared
    with `FrameChecks`, which fills it from the frames on the wire.
    """

    def _init_protocol(self) -> None:
        self.protocol_errors: list[str] = []
        # Bookkeeping that tells the frames on the wire apart (see _inspect_inbound).
        self._followups: dict[Any, tuple[Callable, Callable | None]] = {}
        self._outstanding: dict[str, asyncio.Task] = {}  # id of our pending CALL -> caller
        self._reply_kinds: dict[str, int] = {}  # id of our CALL -> 3 or 4 as answered
        self._abandoned: collections.deque = collections.deque(maxlen=256)  # ids given up on
        self._inbound_actions: dict[Any, str] = {}  # id of a server CALL -> its action
        self._answered: dict[Any, int] = {}  # id of a server CALL -> 3 or 4 as we answered

    # ---- our CALLs -------------------------------------------------------------------------

    async def call(self, payload, suppress=True, unique_id=None, skip_schema_validation=False):
        """ChargePoint.call, plus tracking of the message id. This tells our CALLs' answers apart
        from replies to raw frames, and records a schema-invalid answer as a protocol error."""
        unique_id = unique_id if unique_id is not None else str(self._unique_id_generator())
        self._outstanding[unique_id] = asyncio.current_task()
        try:
            return await super().call(payload, suppress, unique_id, skip_schema_validation)
        except OCPPError as exc:
            if self._reply_kinds.get(unique_id) == MessageType.CallResult:
                exc.recorded = True
                self._violation(f"invalid {type(payload).__name__} answer: {exc}")
            raise
        finally:
            self._outstanding.pop(unique_id, None)
            if self._reply_kinds.pop(unique_id, None) is None:
                self._abandoned.append(unique_id)

    async def _send_call(self, payload):
        """Send a charger-initiated CALL and return the server's answer.

        Raises the library's OCPPError for a CALLERROR, asyncio.TimeoutError when there is no
        answer, and ConnectionClosed as soon as the link drops (not after response_timeout).
        """
        link = self._link
        if link is None or link.closed.is_set():
            raise NotConnected()
        action = type(payload).__name__
        fields = remove_nones(dataclasses.asdict(payload))
        calling = asyncio.ensure_future(self.call(payload, suppress=False))
        closing = asyncio.ensure_future(link.closed.wait())
        try:
            await asyncio.wait({calling, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            if not calling.done():
                calling.cancel()
        if not calling.done() or calling.cancelled():  # the link dropped first
            error = ConnectionClosed(link.close_code)
            self._record("sent", action, fields, error)
            raise error
        try:
            result = calling.result()
        except Exception as exc:
            self._record("sent", action, fields, exc)
            raise
        self._check_answer(action, result)
        self._record("sent", action, fields, result)
        return result

    def _check_answer(self, action: str, result) -> None:
        """Checks that the schemas cannot express: date-times are RFC 3339 (library-notes.md §6)."""
        times = {"current_time": getattr(result, "current_time", None)}
        info = getattr(result, "id_tag_info", None)
        if isinstance(info, dict):
            times["id_tag_info.expiry_date"] = info.get("expiry_date")
        for name, value in times.items():
            if value is not None:
                self._server_time(value, f"{action} answer {name}")
        if action == Action.boot_notification and result.interval < 0:
            self._violation(f"BootNotification answer has a negative interval {result.interval}")

    async def _background(self, label: str, awaitable: Awaitable):
        """Await a message the charger sends on its own initiative. A failure is logged. It is
        also recorded as a protocol error when the server is at fault (no answer, CALLERROR)."""
        try:
            return await awaitable
        except ConnectionClosed as exc:
            log.info("%s: %s not delivered: %s", self.id, label, exc)
        except asyncio.TimeoutError:
            self._violation(f"{label}: no answer within {self._response_timeout}s")
        except OCPPError as exc:
            self._note_failure(label, exc)
        return None

    # ---- protocol errors -------------------------------------------------------------------

    def _note_failure(self, label: str, exc: BaseException) -> None:
        if isinstance(exc, OCPPError) and not getattr(exc, "recorded", False):
            self._violation(
                f"{label}: answered with CALLERROR {exc.code}: {exc.description} {exc.details}"
            )
        elif not isinstance(exc, OCPPError):
            log.info("%s: %s failed: %r", self.id, label, exc)

    def _violation(self, text: str) -> None:
        self.protocol_errors.append(text)
        log.warning("%s: protocol error: %s", self.id, text)

    def _server_time(self, value: Any, what: str) -> dt.datetime | None:
        """Parse a date-time sent by the server. A bad one is recorded and gives None."""
        try:
            return parse_rfc3339(value)
        except ValueError:
            self._violation(f"{what} is not an RFC 3339 date-time: {value!r}")
            return None

    # ---- server CALLs and their follow-ups -------------------------------------------------

    async def route_message(self, raw_msg):
        """The library routes the frame. Then a CALL is recorded, and its follow-up starts
        once our answer is on the wire."""
        frame = json.loads(raw_msg)  # _inspect_inbound lets only well-formed frames through
        if frame[0] != MessageType.Call:
            return await super().route_message(raw_msg)
        unique_id, action, payload = frame[1], frame[2], frame[3]
        try:
            await super().route_message(raw_msg)
        except BaseException:
            self._settle_followup(unique_id, sent=False)
            raise
        self._record("received", action, camel_to_snake_case(payload))
        self._settle_followup(unique_id, sent=True)

    def _after_reply(
        self, call_unique_id, start: Callable[[], Awaitable], drop: Callable | None = None
    ) -> None:
        """Run ``start()`` as a task once the answer to this CALL has been sent.

        ocpp 2.1.0's @after hooks cannot see what the @on handler answered, so handlers leave their
        follow-up here, keyed by message id. Follow-ups never run inside the handler, because a
        call() there would deadlock the reader (library-notes §1.3). ``drop`` undoes the handler's
        bookkeeping if the answer never went out.
        """
        self._followups[call_unique_id] = (start, drop)

    def _settle_followup(self, unique_id, *, sent: bool) -> None:
        answered = self._answered.pop(unique_id, None) == MessageType.CallResult
        followup = self._followups.pop(unique_id, None)
        if followup is None:
            return
        start, drop = followup
        if sent and answered:
            self._spawn(start())
        elif drop is not None:
            drop()
