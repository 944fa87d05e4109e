"""A fold (one loop whose iterations call a lower function in sequence) taken by its
summary (`proofs.engine.standins.ByInduction`): the base and the step are obligations of
the run, proved where the summary is right and refuted where it is wrong or where the
step needs a fact the caller does not have; the state after the call equals native runs."""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass

import z3

from proofs.engine.interp import run
from proofs.engine.standins import ByInduction
from proofs.engine.values import INT, ArrT, RecT, flatten, fresh, unflatten
from proofs.layer import over


@dataclass
class Tally:
    size: int
    total: int
    seen: list[bool]


TALLY = RecT(Tally)


def grow(t: Tally) -> None:
    t.total = t.total + 2


def grow_n(t: Tally, n: int) -> None:
    """Grow t n times."""
    for _ in range(n):
        grow(t)


def grown(i: int, t: Tally, n: int) -> None:
    t.total = t.total + 2 * i


def grown_wrongly(i: int, t: Tally, n: int) -> None:
    t.total = t.total + i


def mark(t: Tally, x: int) -> None:
    if not t.seen[x]:
        t.seen[x] = True
        t.total = t.total + 1


def mark_all(t: Tally, xs: list[int], n: int) -> None:
    """Mark xs[0 .. n)."""
    for i in range(n):
        mark(t, xs[i])


def marked(i: int, t: Tally, xs: list[int], n: int) -> None:
    """xs[0 .. i) marked, each counted: right where they are distinct and were unseen."""
    for k in range(t.size):
        t.seen[k] = t.seen[k] or any(xs[j] == k for j in range(i))
    t.total = t.total + i


def _valid(claims: list[z3.BoolRef], given: list[z3.BoolRef]) -> z3.CheckSatResult:
    s = z3.Solver()
    s.add(*given, z3.Not(z3.And(claims)))
    return s.check()


def _grow_run(summary: object) -> tuple[object, z3.ArithRef, list[z3.ExprRef]]:
    module = sys.modules[__name__]
    n = z3.Int("n")
    leaves = flatten(TALLY, fresh(TALLY, "t"))

    def caller(t: Tally, n: int) -> None:
        grow_n(t, n)

    with over(module, {"grow_n": ByInduction(grow_n, summary)}):  # type: ignore[arg-type]
        out = run(caller, lambda: [unflatten(TALLY, leaves), n])
    return out, n, leaves


def test_a_fold_by_its_right_summary_is_proved_and_equals_native_runs() -> None:
    out, n, leaves = _grow_run(grown)
    assert out.obligations and _valid(out.obligations, out.assumptions) == z3.unsat
    t0 = unflatten(TALLY, leaves)
    after = out.args[0]
    for k in [-3, 0, 1, 7, 40]:
        native = Tally(1, 5, [False])
        grow_n(native, k)
        s = z3.Solver()
        s.add(*out.assumptions, n == k, t0.total == 5, after.total != native.total)
        assert s.check() == z3.unsat, k


def test_a_fold_by_a_wrong_summary_fails_its_step() -> None:
    out, _, _ = _grow_run(grown_wrongly)
    assert _valid(out.obligations, out.assumptions) == z3.sat


def test_a_step_that_needs_a_fact_holds_only_under_the_callers_hypotheses() -> None:
    """Marking counts each x once: the summary (total grows by i) is right when the xs are
    distinct and unseen, which the caller's path must give; without it, the step fails."""
    module = sys.modules[__name__]
    xs, n = fresh(ArrT(INT), "xs"), z3.Int("n")
    leaves = flatten(TALLY, fresh(TALLY, "t"))
    t0 = unflatten(TALLY, leaves)
    a, b = z3.Ints("a b")
    in_n = lambda v: z3.And(0 <= v, v < n)  # noqa: E731
    facts = [n <= t0.size,
             z3.ForAll([a], z3.Implies(in_n(a), z3.And(0 <= xs.get(a), xs.get(a) < t0.size,
                                                      z3.Not(t0.seen.get(xs.get(a)))))),
             z3.ForAll([a, b], z3.Implies(z3.And(in_n(a), in_n(b), xs.get(a) == xs.get(b)), a == b))]

    def caller(t: Tally, xs: list[int], n: int) -> None:
        mark_all(t, xs, n)

    with over(module, {"mark_all": ByInduction(mark_all, marked)}):
        out = run(caller, lambda: [unflatten(TALLY, leaves), xs, n])
    assert _valid(out.obligations, [*facts, *out.assumptions]) == z3.unsat
    assert _valid(out.obligations, out.assumptions) == z3.sat
    rng = random.Random(0)
    for _ in range(10):
        size = rng.randrange(1, 8)
        picks = rng.sample(range(size), rng.randrange(0, size + 1))
        native = Tally(size, 0, [False] * size)
        mark_all(native, picks, len(picks))
        s = z3.Solver()
        s.add(*out.assumptions, t0.size == size, t0.total == 0, n == len(picks),
              *[t0.seen.get(k) == False for k in range(size)],  # noqa: E712
              *[xs.get(j) == x for j, x in enumerate(picks)],
              z3.Or(out.args[0].total != native.total,
                    *[out.args[0].seen.get(k) != native.seen[k] for k in range(size)]))
        assert s.check() == z3.unsat


def test_a_fold_runs_natively_as_itself() -> None:
    t = Tally(1, 0, [False])
    ByInduction(grow_n, grown)(t, 3)
    assert t.total == 6
