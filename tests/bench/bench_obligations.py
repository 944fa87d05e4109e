"""Proof time of each topic and syscall obligation alone, several runs each (run by hand:
python tests/bench/bench_obligations.py [RUNS] [NAME-SUBSTRING...]).

The issue's budget: each within 30 s, median within 3 s. Prints, per obligation, the
seconds of every run, their median and their maximum; then the median and maximum over
all of them. Each check runs in a fresh Z3 context, as `python -m proofs` runs it."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from proofs import syscall, topic  # noqa: E402,F401 - registers their obligations
from proofs.obligation import REGISTRY, check  # noqa: E402


def main(argv: list[str]) -> None:
    runs = int(argv[0]) if argv and argv[0].isdigit() else 3
    keys = [a for a in argv if not a.isdigit()] or ["topic.", "syscall."]
    names = sorted(n for n in REGISTRY if any(n.startswith(k) or k in n for k in keys))
    every: list[float] = []
    for name in names:
        times = []
        for _ in range(runs):
            result = check(name, REGISTRY[name](), timeout_s=120)
            if not result.ok:
                print(f"{name}: {result.status} {result.detail[:200]}")
            times.append(result.seconds)
        every += times
        print(f"{name:45s} {' '.join(f'{t:6.2f}' for t in times)}   median {statistics.median(times):6.2f}"
              f"  max {max(times):6.2f}")
    print(f"{len(names)} obligations, {len(every)} runs: median {statistics.median(every):.2f} s, "
          f"max {max(every):.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
