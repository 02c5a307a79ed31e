"""Speed of the load-management allocator (evedge/load_management/allocator.py).

    python bench/allocator.py [--sizes 20,200,2000] [--repeat 30]

A 3-level tree of 50 circuits (a power-limited grid connection, 7 feeders, 42
sub-feeders of which a third are 1-phase), limits scaled with the number of sessions so
that every level binds and some sessions queue; a mix of 3-phase and 1-phase chargers
with phase rotations, three priorities, demand caps on a third of the sessions, a few
fixed loads and grid-meter readings. Prints the median and best of --repeat runs of
``allocate`` (stdlib timeit, one call per run).
"""
from __future__ import annotations

import argparse
import pathlib
import random
import statistics
import sys
import timeit

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from evedge.load_management import FixedLoad, SessionDemand, allocate, parse_site  # noqa: E402

FEEDERS = 7
SUBS_PER_FEEDER = 6


def build(sessions: int, seed: int = 1):
    """The site, ``sessions`` session demands, fixed loads (one per 50 sessions, on
    chargers of their own) and other loads on two circuits."""
    rng = random.Random(seed)
    per_sub = max(1, sessions // (FEEDERS * SUBS_PER_FEEDER))
    circuits = [{"id": "main", "parent": None, "max_current_a": round(4.0 * sessions + 40),
                 "max_power_kw": round(2.3 * sessions + 30, 1), "margin_a": 5}]
    subs = []
    for feeder in range(FEEDERS):
        feeder_id = f"feeder-{feeder}"
        circuits.append({"id": feeder_id, "parent": "main",
                         "max_current_a": [5.0 * per_sub * SUBS_PER_FEEDER + 20] * 3,
                         "margin_a": 2})
        for sub in range(SUBS_PER_FEEDER):
            sub_id = f"{feeder_id}-sub-{sub}"
            single = sub % 3 == 2
            circuits.append({"id": sub_id, "parent": feeder_id, "phases": 1 if single else 3,
                             "phase": ("L1", "L2", "L3")[feeder % 3] if single else None,
                             "max_current_a": 10.0 * per_sub + 6 if single else 9.0 * per_sub + 6})
            subs.append((sub_id, single))
    chargers, demands, fixed = [], [], []
    for n in range(sessions + sessions // 50):
        sub_id, single = subs[n % len(subs)]
        one_phase = single or rng.random() < 0.3
        charger = {"charger_id": f"CP-{n:05d}", "circuit": sub_id, "phases": 1 if one_phase else 3,
                   "min_current_a": 6, "max_current_a": rng.choice((16, 32)),
                   "priority": rng.choice((0, 0, 0, 1, 2))}
        if one_phase and not single:
            charger["phase_rotation"] = rng.choice(("RST", "STR", "TRS"))
        chargers.append(charger)
        if n < sessions:
            demands.append(SessionDemand(charger["charger_id"], 1, n, charger["priority"],
                                         rng.random(),
                                         rng.choice((None, None, round(rng.uniform(6, 32), 1)))))
        else:
            fixed.append(FixedLoad(charger["charger_id"], None, 16.0))
    site = parse_site({"circuits": circuits, "chargers": chargers})
    other = {"main": (12.0, 8.5, 10.0), "feeder-0": (3.0, 1.0, 0.0)}
    return site, demands, fixed, other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,200,2000")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    print("| sessions | circuits | constraints | charging | queued | median ms | best ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in (int(value) for value in args.sizes.split(",")):
        site, demands, fixed, other = build(size)
        result = allocate(site, demands, fixed, other)
        charging = sum(1 for session in result.sessions if session.state == "charging")
        times = timeit.repeat(lambda: allocate(site, demands, fixed, other), number=1,
                              repeat=args.repeat)
        print(f"| {len(demands)} | {len(site.circuits)} | {len(site.constraints)} | {charging} | "
              f"{len(demands) - charging} | {statistics.median(times) * 1000:.2f} | "
              f"{min(times) * 1000:.2f} |")


if __name__ == "__main__":
    main()
