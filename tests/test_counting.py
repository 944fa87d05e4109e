"""The lemmas of the engine's counts can fail: a false one fails its induction, and the
definition they are proved from pins every count of a concrete set to its native value."""

from __future__ import annotations

import random

import pytest
import z3

from proofs import lemmas
from proofs.engine import counting
from proofs.obligation import check


def at_most_one(p: z3.ArrayRef, lo: z3.ArithRef, hi: z3.ArithRef) -> z3.BoolRef:
    """False: a count is at most 1."""
    return z3.Implies(lo <= hi, counting.count(p, lo, hi) <= 1)


def test_a_false_lemma_fails_its_induction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(counting.LEMMAS, "at_most_one", at_most_one)
    result = check("lemmas.count.at_most_one", lemmas.by_induction("at_most_one"), timeout_s=60)
    assert result.status == "counterexample", result.detail


def test_the_lemmas_hold_of_native_counts() -> None:
    """The definition, unfolded over a concrete range, gives the native count, and every
    lemma holds of it."""
    rng = random.Random(0)
    for _ in range(20):
        n = rng.randrange(0, 7)
        members = [rng.random() < 0.5 for _ in range(n)]
        p = z3.K(z3.IntSort(), False)
        for i, m in enumerate(members):
            p = z3.Store(p, i, m)
        s = z3.Solver()
        s.add(*[counting.defined(p, z3.IntVal(0), z3.IntVal(h)) for h in range(n + 1)])
        s.add(z3.Or(counting.count(p, 0, n) != sum(members),
                    z3.Not(z3.And(counting.facts(p, z3.IntVal(0), z3.IntVal(n))))))
        assert s.check() == z3.unsat
