"""Soak the paging model against a real x86 core (run by hand):
python tests/bench/soak_x86.py [cases] [seed]. Prints disagreements and the rate."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.x86_cases import cases, compare, model  # noqa: E402


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    start = time.perf_counter()
    bad = 0
    mix: Counter[str] = Counter()
    done = 0
    while done < n:
        batch = cases(seed + done, min(5_000, n - done))
        for case in batch:
            mix[("write" if case.write else "read") + (" user" if case.user else " kernel")
                + (" fault" if model(case)[0] else " ok")] += 1
            problems = compare(case)
            if problems:
                bad += 1
                print(f"cr3={case.cr3:#x} va={case.va:#x} write={case.write} user={case.user}: {problems}")
        done += len(batch)
        rate = done / (time.perf_counter() - start)
        print(f"{done} cases, {bad} disagreements, {rate:,.0f} cases/s", flush=True)
    print(dict(sorted(mix.items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
