"""Checks on every frame the simulated charger receives or sends (OCPP-J §4).

The transport hands each frame to these hooks before the ``ocpp`` library sees it. Malformed
frames are recorded as protocol errors and swallowed; replies are told apart (our CALLs, raw
frames, calls we gave up on) so the library's response queue only ever sees its own.
"""

from __future__ import annotations

import contextlib
import json
import logging

from ocpp.messages import MessageType

log = logging.getLogger("evedge.simulator")

# OCPP-J 1.6 §4.2.3, spelled as in the spec (sic: "Occurence").
OCPP16_ERROR_CODES = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
)


class FrameChecks:
    """Frame inspection of `SimulatedCharger`: the inbound and outbound hooks of its transport."""

    def _check_subprotocol(self, selected: str | None) -> None:
        if self.subprotocols and selected not in self.subprotocols:
            self._violation(
                f"server selected subprotocol {selected!r}, offered {list(self.subprotocols)}"
            )
        elif not self.subprotocols and selected:
            self._violation(f"server selected subprotocol {selected!r} although none was offered")

    async def _inspect_inbound(self, text: str, binary: bool) -> bool:
        """Check each frame from the server before the library sees it. True swallows it."""
        if binary:
            self._violation("server sent a binary frame (OCPP-J uses text frames)")
        try:
            frame = json.loads(text)
        except ValueError:
            self._violation(f"server sent a frame that is not JSON: {text[:200]!r}")
            return True
        if not isinstance(frame, list) or not frame or frame[0] not in (2, 3, 4):
            self._violation(f"server sent a frame that is not an OCPP message: {text[:200]!r}")
            return True
        if frame[0] == MessageType.Call:
            return await self._inspect_call(frame, text)
        return self._inspect_reply(frame, text)

    async def _inspect_call(self, frame: list, text: str) -> bool:
        well_formed = len(frame) == 4 and isinstance(frame[1], str) and isinstance(frame[2], str)
        if not well_formed or not isinstance(frame[3], dict):
            self._violation(f"server sent a malformed CALL: {text[:200]!r}")
            if len(frame) > 1 and isinstance(frame[1], str):  # answerable: OCPP-J §4.2.3
                error = [4, frame[1], "FormationViolation", "Malformed CALL", {}]
                await self._link.transport.send(json.dumps(error))
            return True
        if len(frame[1]) > 36:
            self._violation(f"message id longer than 36 characters: {frame[1]!r}")
        self._inbound_actions[frame[1]] = frame[2]
        return False

    def _inspect_reply(self, frame: list, text: str) -> bool:
        unique_id = frame[1] if len(frame) > 1 and isinstance(frame[1], (str, int)) else None
        if frame[0] == MessageType.CallResult:
            well_formed = len(frame) == 3 and isinstance(frame[2], dict)
        else:
            well_formed = (
                len(frame) == 5 and isinstance(frame[2], str) and isinstance(frame[3], str)
            )
            well_formed = well_formed and isinstance(frame[4], dict)
        if unique_id is None or not well_formed:
            self._violation(f"server sent a malformed reply: {text[:200]!r}")
            return True
        if frame[0] == MessageType.CallError and frame[2] not in OCPP16_ERROR_CODES:
            self._violation(
                f"CALLERROR code {frame[2]!r} is not an OCPP-J 1.6 error code: {text[:200]}"
            )
        caller = self._outstanding.get(unique_id)
        if caller is not None:
            if caller.cancelling():  # the caller gave up and will never read it
                return True
            self._reply_kinds[unique_id] = frame[0]
            return False
        if unique_id in self._raw_ids or self._raw_anonymous:
            self._take_raw_reply(unique_id)
            self._deliver_raw(frame)
        elif unique_id not in self._abandoned:
            self._violation(f"server replied to unknown message id {unique_id!r}: {text[:200]}")
        return True  # never let the library queue a stray reply (it would log it as an error)

    def _inspect_outbound(self, text: str) -> None:
        """Remember how each server CALL was answered, and record the CALLERRORs."""
        with contextlib.suppress(ValueError, TypeError, IndexError):
            frame = json.loads(text)
            if frame[0] not in (3, 4) or frame[1] not in self._inbound_actions:
                return
            action = self._inbound_actions.pop(frame[1])
            self._answered[frame[1]] = frame[0]
            if frame[0] == MessageType.CallError:
                self._note_own_error(action, frame)

    def _note_own_error(self, action: str, frame: list) -> None:
        code, description, details = frame[2], frame[3], frame[4]
        if code == "NotImplemented":  # a 1.6 action we don't simulate (security extension)
            log.warning("%s: answered %s with NotImplemented", self.id, action)
        elif code == "InternalError":
            self._violation(f"internal: the simulator failed to handle {action}")
        else:
            cause = details.get("cause", description) if isinstance(details, dict) else description
            self._violation(f"server sent an invalid {action}: {code}: {cause}")
