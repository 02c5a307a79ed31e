"""The site as load management sees it, and which loads the allocator may steer.

Pure: chargers (online or not, answering or not, what they accept), their sessions and
connectors go in; the allocator's inputs come out. The safe rules for missing data
(docs/load-management.md, "Missing data"):

* A session is **steered** (a ``SessionDemand``) when its charger is online, Accepted,
  answers, takes charging profiles and its connector is not Faulted or Unavailable.
* Otherwise it is a ``FixedLoad``: a charger configured but never seen since evedge
  started, a Pending one, and one that rejects charging profiles count at full power
  (``max_current_a``); an offline charger, one that did not answer, a faulted
  connector and a session whose last profile the charger refused count at the limit
  last accepted for the session (else ``max_current_a``).
* Idle connectors of a charger that is not online (never seen, offline) count too,
  because it may start a session we do not hear of: at ``max_current_a``, or at its
  accepted ChargePointMaxProfile when that is lower. A charger's fixed loads together
  never count above its accepted ChargePointMaxProfile when all of them are on one
  assignment (the profile limits the charger as a whole, OCPP 1.6 §3.13.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from .allocator import FixedLoad, SessionDemand
from .site_model import ChargerAssignment, SiteModel, Vector

NOT_STEERED_STATUSES = ("Faulted", "Unavailable")
TX_PROFILE, TX_DEFAULT_PROFILE, NO_PROFILES = "TxProfile", "TxDefaultProfile", "none"

SessionKey = tuple[str, int, int]


@dataclass
class SessionInfo:
    charger_id: str
    connector_id: int
    transaction_id: int
    id_tag: str | None
    started_at: float             # epoch seconds evedge received the start: queue order
    measured_a: float | list | None = None  # the charger's Current.Import (meter event)
    measured_at: float = 0.0
    limit_changed_at: float = 0.0  # epoch seconds its charger last accepted a new limit

    @property
    def key(self) -> SessionKey:
        return (self.charger_id, self.connector_id, self.transaction_id)


@dataclass
class ChargerInfo:
    charger_id: str
    online: bool = False
    seen: bool = False            # connected since evedge started
    accepted: bool = True         # registration status Accepted (D15: else nothing is sent)
    answering: bool = True        # False after a profile went unanswered, until it talks
    mode: str = TX_PROFILE        # how its sessions are steered, or NO_PROFILES
    tx_accepted: bool = False     # accepted a TxProfile since it connected
    max_supported: bool = True    # takes a ChargePointMaxProfile
    max_accepted: float | None = None  # the ChargePointMaxProfile limit it last accepted
    connectors: dict[int, str] = field(default_factory=dict)  # connector id -> status

    @property
    def steerable(self) -> bool:
        return self.online and self.accepted and self.answering and self.mode != NO_PROFILES

    def state(self) -> str:
        """Why it is (not) steered, as the API reports it."""
        if not self.seen:
            return "never seen"
        if not self.online:
            return "offline"
        if not self.accepted:
            return "not accepted"
        if not self.answering:
            return "not answering"
        if self.mode == NO_PROFILES:
            return "rejects profiles"
        return "steered"


@dataclass
class Inputs:
    sessions: list[SessionDemand]
    fixed: list[FixedLoad]
    steered: set[SessionKey]
    fixed_reason: dict[SessionKey, str] = field(default_factory=dict)  # fixed sessions: why
    fixed_amps: dict[SessionKey, float] = field(default_factory=dict)  # ... and how much


def allocation_inputs(site: SiteModel, chargers: dict[str, ChargerInfo],
                      sessions: dict[SessionKey, SessionInfo],
                      accepted: Callable[[SessionKey], float | None],
                      refused: Callable[[SessionKey], bool] = lambda key: False,
                      demand: Callable[[SessionKey], float | None] = lambda key: None
                      ) -> Inputs:
    """The allocator's sessions and fixed loads under the rules of the module docstring;
    ``accepted(key)`` is the limit last accepted for a session (or None), ``refused(key)``
    whether the charger refused the session's last profile (it is then counted at its
    last accepted limit, like a faulted one), ``demand(key)`` what a steered session's
    car takes at most (``car_demand``), or None."""
    inputs = Inputs([], [], set())
    by_charger: dict[str, list[SessionInfo]] = {}
    for session in sessions.values():
        by_charger.setdefault(session.charger_id, []).append(session)
    managed = {assignment.charger_id for assignment in site.chargers}
    for charger_id in sorted(managed | set(by_charger)):
        info = chargers.get(charger_id) or ChargerInfo(charger_id)
        _charger_inputs(site, info, by_charger.get(charger_id, []), accepted, refused, demand,
                        inputs)
    return inputs


def _charger_inputs(site: SiteModel, info: ChargerInfo, sessions: list[SessionInfo],
                    accepted: Callable[[SessionKey], float | None],
                    refused: Callable[[SessionKey], bool],
                    demand: Callable[[SessionKey], float | None], inputs: Inputs) -> None:
    pieces: list[tuple[int, ChargerAssignment, float]] = []
    for session in sessions:
        assignment = site.assignment(session.charger_id, session.connector_id)
        reason = _fixed_reason(info, session.connector_id)
        if reason is None and refused(session.key):
            reason = "refused"
        if assignment is None or reason is None:
            inputs.sessions.append(_demand(site, session, assignment, demand(session.key)))
            if assignment is not None:
                inputs.steered.add(session.key)
            continue
        inputs.fixed_reason[session.key] = reason
        if reason in ("offline", "not answering", "faulted", "refused"):
            last = accepted(session.key)
            amps = assignment.max_current_a if last is None else last
        else:
            amps = assignment.max_current_a
        inputs.fixed_amps[session.key] = amps
        pieces.append((session.connector_id, assignment, amps))
    if not info.online:
        busy = {session.connector_id for session in sessions}
        for connector_id in charger_connectors(site, info, busy):
            assignment = site.assignment(info.charger_id, connector_id)
            if assignment is not None and connector_id not in busy:
                pieces.append((connector_id, assignment, assignment.max_current_a))
    inputs.fixed.extend(_capped(info, pieces))


def _fixed_reason(info: ChargerInfo, connector_id: int) -> str | None:
    """Why a session of this charger cannot be steered, or None when it can."""
    if info.steerable:
        status = info.connectors.get(connector_id)
        return "faulted" if status in NOT_STEERED_STATUSES else None
    return info.state()


def _demand(site: SiteModel, session: SessionInfo, assignment: ChargerAssignment | None,
            demand_a: float | None) -> SessionDemand:
    priority = 0 if assignment is None else site.session_priority(assignment, session.id_tag)
    return SessionDemand(session.charger_id, session.connector_id, session.transaction_id,
                         priority, (session.started_at, session.transaction_id), demand_a)


def car_demand(session: SessionInfo, limit: float | None, headroom: float,
               settle: float, max_age: float, now: float) -> float | None:
    """What a car takes at most, when its measurements show that it draws clearly less
    than it may: its highest phase current plus ``headroom``; None (it takes its whole
    share) otherwise.

    Only a reading taken ``settle`` seconds (the cars' reaction time) after the charger
    accepted the session's current ``limit`` counts, and while fresh. A car drawing more
    than ``limit - headroom / 2`` is taken to want more: the half headroom is the
    hysteresis that keeps a car capped at reading + headroom capped while it draws what
    it did (a cap would otherwise be lifted and set again at every reading).
    """
    if headroom <= 0 or limit is None or session.measured_a is None:
        return None
    if now - session.measured_at > max_age \
            or session.measured_at < session.limit_changed_at + settle:
        return None
    values = session.measured_a if isinstance(session.measured_a, list) \
        else [session.measured_a]
    drawn = max((value for value in values if value is not None), default=None)
    if drawn is None or drawn > limit - headroom / 2:
        return None
    return round(max(drawn, 0.0) + headroom, 1)


def charger_connectors(site: SiteModel, info: ChargerInfo, busy: set[int]) -> list[int]:
    """The charger's connectors as far as evedge knows them (statuses, connector entries of
    the model, sessions); connector 1 when it knows none."""
    known = set(info.connectors) | busy
    known |= {a.connector_id for a in site.chargers
              if a.charger_id == info.charger_id and a.connector_id}
    return sorted(known) or [1]


def _capped(info: ChargerInfo, pieces: list[tuple[int, ChargerAssignment, float]]
            ) -> list[FixedLoad]:
    cap = info.max_accepted if info.max_supported else None
    if not pieces:
        return []
    if cap is not None and len({id(assignment) for _, assignment, _ in pieces}) == 1:
        total = min(sum(amps for _, _, amps in pieces), cap)
        return [FixedLoad(info.charger_id, pieces[0][0], total)]
    limit = math.inf if cap is None else cap
    return [FixedLoad(info.charger_id, connector, min(amps, limit))
            for connector, _, amps in pieces]


def site_current(assignment: ChargerAssignment, reading: float | list | None) -> Vector:
    """A charger's Current.Import on the site's phases: per phase of the charger (a
    phaseless reading counts on each phase it uses), mapped by its rotation (§9.1.7); a
    1-phase charger's reading counts wholly on its one phase."""
    if reading is None:
        return (0.0, 0.0, 0.0)
    if isinstance(reading, (int, float)):
        values = [float(reading)] * assignment.phases
    else:
        values = [value or 0.0 for value in reading]
    site = [0.0, 0.0, 0.0]
    if assignment.phases == 1:
        site[assignment.site_phases[0]] = sum(values)
    else:
        for phase, value in zip(assignment.site_phases, values):
            site[phase] += value
    return (site[0], site[1], site[2])
