"""Differential steps per second at the topic layer (run by hand: python tests/bench/bench_topic.py).

Drives tests/test_topic.py's state machine with random rules, checking the abstraction and
the invariant after every step as the test does, and counts the errnos seen, to show the
walk reaches full tables, collisions and drops."""

from __future__ import annotations

import collections
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.test_topic import NAMES, Differential, DifferentialDefaultConfig  # noqa: E402


def steps_per_second(machine: type[Differential], seconds: float = 3.0, check_every: int = 1) -> None:
    rng = random.Random(0)
    m = machine()
    seen: collections.Counter[str] = collections.Counter()
    start = time.perf_counter()
    steps = 0
    while time.perf_counter() - start < seconds:
        if steps % 400 == 399:
            m = machine()
        pid, tid = rng.randrange(-1, 14), rng.randrange(-1, 6)
        rule = rng.choice(["spawn", "create", "create", "lookup", "destroy", "subscribe", "subscribe",
                           "unsubscribe", "publish", "publish", "publish", "receive", "stat"])
        name = rng.choice(NAMES)
        if rule == "spawn":
            m.spawn(rng.randrange(5), rng.randrange(13))
        elif rule == "create":
            m.create(pid, rng.random() < 0.3, name)
        elif rule == "lookup":
            m.lookup(name)
        elif rule == "destroy":
            m.destroy(pid, tid)
        elif rule == "subscribe":
            m.subscribe(rng.randrange(13), tid, rng.randrange(-1, 7), 0)
        elif rule == "unsubscribe":
            m.unsubscribe(pid, tid)
        elif rule == "publish":
            m.publish(rng.random() < 0.3, tid, bytes(rng.randrange(9)))
        elif rule == "receive":
            m.receive(pid, tid, rng.randrange(-1, 9))
        else:
            m.stat(pid, tid)
        if steps % check_every == 0:
            m.abstraction_matches_spec()
            m.representation_invariant_holds()
        seen[rule] += 1
        steps += 1
        seen["full topic table"] += len(m.ts.topics) == m.cfg.NUM_TOPIC
        seen["full subscription table"] += len(m.ts.subs) == m.cfg.NUM_SUB
        seen["a queue has dropped"] += any(s.queue.dropped for s in m.ts.subs.values())
    took = time.perf_counter() - start
    print(f"{machine.__name__}: {steps / took:,.0f} steps/s (abstraction and invariant checked every "
          f"{check_every} step(s))")
    print("   ", dict(seen))


if __name__ == "__main__":
    for machine in (Differential, DifferentialDefaultConfig):
        steps_per_second(machine)
        steps_per_second(machine, check_every=10)
