"""Differential steps per second at the system-call layer (run by hand:
python tests/bench/bench_syscall.py).

Drives tests/test_syscall.py's state machine with random calls, checking after every call
what the test checks (registers, errnos, an error changing nothing, containers, topics,
every user page and its bytes)."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.test_syscall import USER_PAGES, Differential, DifferentialDefaultConfig  # noqa: E402


def steps_per_second(machine: type[Differential], seconds: float = 5.0) -> None:
    rng = random.Random(1)
    m = machine()
    start = time.perf_counter()
    steps = 0
    while time.perf_counter() - start < seconds:
        if steps % 300 == 299:
            m = machine()
        r, who = rng.random(), rng.randrange(8)
        if r < 0.05:
            m.spawn(rng.randrange(4), rng.randrange(9), rng.random() < 0.5)
        elif r < 0.2:
            m.mmap(who, rng.choice(USER_PAGES), rng.randrange(4), 1)
        elif r < 0.3:
            m.store(who, rng.choice(USER_PAGES), b"ab", rng.randrange(4096))
        elif r < 0.4:
            m.sub(who, rng.randrange(4), rng.randrange(1, 6), 0)
        elif r < 0.6:
            m.root_pub(rng.randrange(2), rng.choice(USER_PAGES), rng.randrange(8))
        elif r < 0.7:
            m.recv(who, rng.randrange(4), rng.choice(USER_PAGES), 8)
        else:
            m.any_call(who, rng.randrange(20), [rng.randrange(10) for _ in range(5)])
        m.abstraction_matches_spec()
        steps += 1
    print(f"{machine.__name__}: {steps / (time.perf_counter() - start):,.0f} steps/s "
          "(everything compared after every call)")


if __name__ == "__main__":
    for machine in (Differential, DifferentialDefaultConfig):
        steps_per_second(machine)
