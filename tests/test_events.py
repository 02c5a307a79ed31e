"""The dashboard event vocabulary is declared once (evedge/events.py) and kept to."""

from __future__ import annotations

import pathlib
import re

import pytest

from evedge.events import EVENTS, Broadcaster, check_event

STATIC = pathlib.Path(__file__).resolve().parent.parent / "static" / "js"
# Event kinds the browser names: in comparisons with `.type`, and in the refetch set.
_KIND = re.compile(r'"((?:charger|connector|transaction|site)\.[a-z_]+|meter)"')


def browser_kinds() -> set[str]:
    found: set[str] = set()
    for script in STATIC.glob("*.js"):
        for line in script.read_text().splitlines():
            if ".type" in line or "EVENTS" in line or line.strip().startswith('"'):
                found.update(_KIND.findall(line))
    return found


def test_the_browser_knows_only_declared_kinds():
    kinds = browser_kinds()
    assert {"charger.connected", "connector.status", "meter",
            "site.allocation"} <= kinds  # the scan works
    assert kinds <= set(EVENTS), f"the browser handles undeclared kinds {kinds - set(EVENTS)}"


def test_eleven_kinds_with_their_fields():
    assert len(EVENTS) == 11
    check_event("charger.connected", {"charger_id": "CP-1"})
    check_event("transaction.stopped", {"charger_id": "CP-1", "transaction_id": 7,
                                        "inferred": True})
    with pytest.raises(ValueError, match="undeclared"):
        check_event("charger.exploded", {"charger_id": "CP-1"})
    with pytest.raises(ValueError, match="carries"):
        check_event("charger.connected", {"charger_id": "CP-1", "extra": 1})
    with pytest.raises(ValueError, match="carries"):
        check_event("connector.status", {"charger_id": "CP-1"})


async def test_publish_checks_the_kind_and_counts_what_it_drops():
    events = Broadcaster(max_batch=2)
    frames: list[str] = []
    events.subscribe(frames.append)
    with pytest.raises(ValueError):
        events.publish("nonsense", charger_id="CP-1")
    for n in range(3):
        events.publish("charger.connected", charger_id=f"CP-{n}")
    assert events.dropped == 1  # the batch holds two
    events.flush()
    assert len(frames) == 1 and '"CP-0"' in frames[0] and '"CP-2"' not in frames[0]
    events.close()


async def test_observers_see_every_event_whether_or_not_a_dashboard_listens():
    events = Broadcaster()
    seen: list[tuple[str, dict]] = []
    events.observe(lambda kind, data: seen.append((kind, dict(data))))
    assert events.wanted and events.subscriber_count == 0
    events.publish("charger.connected", charger_id="CP-1")
    events.observe(lambda kind, data: 1 / 0)  # a failing observer is logged, not fatal
    events.publish("charger.disconnected", charger_id="CP-1")
    assert seen == [("charger.connected", {"charger_id": "CP-1"}),
                    ("charger.disconnected", {"charger_id": "CP-1"})]
    events.close()
