"""Benchmark of the message layer (run by hand: python tests/bench/bench_message.py).

1. Proof time of every operation's obligations with the capacity fixed to 8, 64 and 1024,
   and with the capacity symbolic (what `python -m proofs` proves).
2. Steps per second of the spec-against-impl differential state machine.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hypothesis import settings  # noqa: E402

from proofs import message as pm  # noqa: E402
from proofs.obligation import check  # noqa: E402
from spec.abi import DEFAULT  # noqa: E402
from tests.test_message import Differential, DifferentialDefaultConfig  # noqa: E402

CAPACITIES: list[int | None] = [8, 64, 1024, None]
KINDS = pm.KINDS
REPEAT = 3


def proof_times() -> None:
    print(f"{'obligation':<40}" + "".join(f"{'cap ' + str(c) if c else 'symbolic':>12}" for c in CAPACITIES))
    totals = [0.0] * len(CAPACITIES)
    for op in pm.OPERATIONS:
        for kind, build in KINDS.items():
            if kind in ("isolation", "unchanged_on_error") and op not in pm.MUTATORS:
                continue
            row = []
            for cap in CAPACITIES:
                times = []
                for _ in range(REPEAT):
                    start = time.perf_counter()
                    result = check(f"message.{op}.{kind}", build(op, extra=cap), 300)
                    times.append(time.perf_counter() - start)
                    assert result.ok, result.detail
                row.append(statistics.median(times))
            totals = [a + b for a, b in zip(totals, row, strict=True)]
            print(f"message.{op}.{kind:<32}"[:40].ljust(40) + "".join(f"{t * 1000:10.1f}ms" for t in row))
    print(f"{'total':<40}" + "".join(f"{t * 1000:10.1f}ms" for t in totals))
    print(f"total at capacity 1024 / total at capacity 8: {totals[2] / totals[0]:.2f}")


def differential_steps_per_second() -> None:
    for machine in (Differential, DifferentialDefaultConfig):
        rng = random.Random(0)
        m = machine()
        ops = list(pm.OPERATIONS)
        start = time.perf_counter()
        steps = 0
        while time.perf_counter() - start < 3.0:
            op = rng.choice(ops)
            q = rng.randrange(-1, 9)
            if op == "create":
                m.apply(op, rng.choice([1, 2, 4, 16, 0, 2000]))
            elif op == "enqueue":
                m.apply(op, q, steps, bytes(rng.randrange(70)))
            else:
                m.apply(op, q)
            m.abstraction_matches_spec()
            m.representation_invariant_holds()
            steps += 1
        rate = steps / (time.perf_counter() - start)
        cfg = machine.cfg
        print(f"differential steps/s, NUM_SUB={cfg.NUM_SUB} QLEN_MAX={cfg.QLEN_MAX}: {rate:,.0f} "
              "(random steps, abstraction and invariant checked after each)")

    test = Differential.TestCase
    test.settings = settings(max_examples=200, stateful_step_count=60, deadline=None, database=None)
    counted = {"steps": 0}
    original = Differential.apply

    def counting(self: Differential, op: str, *args: object) -> tuple[object, ...]:
        counted["steps"] += 1
        return original(self, op, *args)

    Differential.apply = counting  # type: ignore[method-assign]
    start = time.perf_counter()
    test("runTest").runTest()
    elapsed = time.perf_counter() - start
    Differential.apply = original  # type: ignore[method-assign]
    print(f"hypothesis state machine (small config): {counted['steps'] / elapsed:,.0f} steps/s "
          f"({counted['steps']} steps in {elapsed:.1f} s)")


if __name__ == "__main__":
    print(f"defaults: {DEFAULT}")
    proof_times()
    differential_steps_per_second()
