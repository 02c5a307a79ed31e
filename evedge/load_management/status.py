"""What load management shows: the allocation with what was measured and what each
charger answered (``GET /api/site/allocation/``), and the dashboard event's summary.

Measured currents are per site phase: a charger's Current.Import mapped by its phase
rotation, and only while fresh (``load_measured_max_age``). A circuit's ``measured_a``
is its grid meter's reading when the meter is fresh, else the sum of what our chargers
under it were measured drawing.
"""

from __future__ import annotations

from typing import Any

from . import pacing, picture
from .allocator import CHARGING, QUEUED, Allocation
from .site_model import Vector


def _rounded(vector: Vector | list) -> list[float]:
    return [round(value, 2) for value in vector]


class Snapshot:
    """One moment of the manager's state, serialised for the API and the event.

    ``manager`` is the ``live.LoadManager`` (not annotated with it: live imports this
    module, and the layout allows no import circle, tests/test_layout.py).
    """

    def __init__(self, manager: Any, now: float, mono: float):
        self.manager, self.now, self.mono = manager, now, mono
        self.site = manager.site
        self.ours = manager.ours_per_circuit(now) if not self.site.is_empty else {}

    def circuit_measured(self, circuit_id: str) -> list[float]:
        reading = self.manager.readings.fresh(circuit_id, self.now)
        if reading is not None:
            return _rounded(reading.current_a)
        return _rounded(self.ours.get(circuit_id, (0.0, 0.0, 0.0)))

    def session_measured(self, session: picture.SessionInfo) -> list[float] | None:
        assignment = self.site.assignment(session.charger_id, session.connector_id)
        if assignment is None or session.measured_a is None \
                or self.now - session.measured_at > self.manager.config.load_measured_max_age:
            return None
        return _rounded(picture.site_current(assignment, session.measured_a))

    # --- GET /api/site/allocation/ --------------------------------------------------------

    def allocation(self) -> dict[str, Any]:
        manager = self.manager
        body: dict[str, Any] = {"enabled": not self.site.is_empty, "version": manager.version,
                                "computed_at": manager.computed_at,
                                "site_source": manager.site_source}
        result = manager.allocation
        if result is None:
            body.update({"circuits": [], "sessions": [], "unmanaged": [], "chargers": []})
            return body
        body.update(self.allocation_body(result))
        body["sessions"] += self._fixed_sessions()
        body["chargers"] = self._chargers()
        return body

    def allocation_body(self, result: Allocation) -> dict[str, Any]:
        """An allocation (the live one, or a what-if) with measurements and answers."""
        sessions = self.manager.sessions
        extras = {}
        for entry in result.sessions:
            session = sessions.get(entry.key)
            extras[entry.key] = {
                "measured_a": None if session is None else self.session_measured(session),
                "profile_status": self._profile_status(entry.key),
                "priority": entry.priority, "fixed": False,
                "demand_a": self.manager.demand_of(entry.key)}
        circuits = {circuit.id: {"measured_a": self.circuit_measured(circuit.id),
                                 "grid_meter": self.manager.readings.describe(
                                     self.site, circuit.id, self.now)}
                    for circuit in self.site.circuits}
        return result.as_json(extras, circuits)

    def _profile_status(self, key: picture.SessionKey) -> str | None:
        if key[2] < 0:  # a what-if session (allocator.what_if numbers them -1, -2, ...)
            return None
        info = self.manager.chargers.get(key[0])
        if info is not None and not info.online:
            return "offline"
        slot = self.manager.pacer.slots.get(pacing.tx_key(*key))
        return "pending" if slot is None else slot.status

    def _fixed_sessions(self) -> list[dict[str, Any]]:
        """Sessions counted as fixed loads (not steered): charging, at the amount counted."""
        manager = self.manager
        inputs = manager.inputs
        found = []
        for key, reason in sorted(inputs.fixed_reason.items()):
            session = manager.sessions.get(key)
            assignment = self.site.assignment(key[0], key[1])
            if session is None or assignment is None:
                continue
            amps = inputs.fixed_amps.get(key, assignment.max_current_a)
            slot = manager.pacer.slots.get(pacing.tx_key(*key))
            found.append({
                "charger_id": key[0], "connector_id": key[1], "transaction_id": key[2],
                "circuit": assignment.circuit, "state": CHARGING,
                "allocated_a": _rounded(picture.site_current(assignment, amps)),
                "measured_a": self.session_measured(session),
                "profile_status": slot.status if reason == "refused" and slot else reason,
                "fixed": True, "fixed_reason": reason,
                "priority": self.site.session_priority(assignment, session.id_tag)})
        return found

    def _chargers(self) -> list[dict[str, Any]]:
        manager = self.manager
        found = []
        for charger_id in sorted({a.charger_id for a in self.site.chargers}):
            info = manager.chargers.get(charger_id) or picture.ChargerInfo(charger_id)
            slot = manager.pacer.slots.get(pacing.max_key(charger_id))
            found.append({
                "charger_id": charger_id, "online": info.online, "state": info.state(),
                "profile_purpose": None if info.mode == picture.NO_PROFILES else info.mode,
                "max_profile": None if slot is None else {
                    "target_a": slot.target, "accepted_a": slot.accepted,
                    "profile_status": slot.status}})
        return found

    # --- the "site.allocation" event -------------------------------------------------------

    def event(self) -> dict[str, Any]:
        result = self.manager.allocation
        circuits = [] if result is None else [
            {"id": circuit.id, "limit_a": list(circuit.limit_a),
             "allocated_a": _rounded(circuit.allocated_a),
             "measured_a": self.circuit_measured(circuit.id)} for circuit in result.circuits]
        sessions = [] if result is None else result.sessions
        return {"version": self.manager.version, "circuits": circuits,
                "charging": sum(1 for s in sessions if s.state == CHARGING),
                "queued": sum(1 for s in sessions if s.state == QUEUED)}
