"""The lemmas of the engine's counts can fail: a false one fails its induction, and the
definition they are proved from pins every count of a concrete set to its native value."""

from __future__ import annotations

import random

import pytest
import z3

from proofs import lemmas
from proofs.engine import counting
from proofs.obligation import check


def always_at_most_one(p: z3.ArrayRef, lo: z3.ArithRef, hi: z3.ArithRef) -> z3.BoolRef:
    """False: a count is at most 1."""
    return z3.Implies(lo <= hi, counting.count(p, lo, hi) <= 1)


def test_a_false_lemma_fails_its_induction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(counting.LEMMAS, "always_at_most_one", always_at_most_one)
    result = check("lemmas.count.always_at_most_one", lemmas.by_induction("always_at_most_one"), timeout_s=60)
    assert result.status == "counterexample", result.detail


def differ_by_what_p_lacks(p: z3.ArrayRef, q: z3.ArrayRef, pq: z3.ArrayRef, qp: z3.ArrayRef,
                           lo: z3.ArithRef, hi: z3.ArithRef) -> z3.BoolRef:
    """False: two counts differ by what q holds that p does not, and nothing else."""
    count = counting.count
    return z3.Implies(z3.And(counting.only(pq, p, q, lo, hi), counting.only(qp, q, p, lo, hi)),
                      count(q, lo, hi) - count(p, lo, hi) == count(qp, lo, hi))


def test_a_false_pair_lemma_fails_its_induction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(counting.PAIR_LEMMAS, "differ", differ_by_what_p_lacks)
    result = check("lemmas.count.differ", lemmas.differ(), timeout_s=60)
    assert result.status == "counterexample", result.detail


def concrete_set(members: list[bool]) -> z3.ArrayRef:
    p = z3.K(z3.IntSort(), False)
    for i, m in enumerate(members):
        p = z3.Store(p, i, m)
    return p


def test_the_pair_lemmas_hold_of_native_counts() -> None:
    """Of two concrete sets and the sets they differ by, the definitions unfolded give the
    native counts, and the pair lemmas and at_most_one hold of them."""
    rng = random.Random(1)
    for _ in range(20):
        n = rng.randrange(0, 6)
        a = [rng.random() < 0.5 for _ in range(n)]
        b = [x if rng.random() < 0.7 else not x for x in a]
        p, q = concrete_set(a), concrete_set(b)
        pq = concrete_set([x and not y for x, y in zip(a, b, strict=True)])
        qp = concrete_set([y and not x for x, y in zip(a, b, strict=True)])
        sets = [p, q, pq, qp]
        lo, hi = z3.IntVal(0), z3.IntVal(n)
        s = z3.Solver()
        s.add(*[counting.defined(x, lo, z3.IntVal(h)) for x in sets for h in range(n + 1)])
        lemmas_here = [*[lemma(p, q, pq, qp, lo, hi) for lemma in counting.PAIR_LEMMAS.values()],
                       *[lemma(x, lo, hi) for x in sets for lemma in counting.APART_LEMMAS.values()]]
        s.add(z3.Or(counting.count(q, lo, hi) - counting.count(p, lo, hi) != sum(b) - sum(a),
                    z3.Not(z3.And(lemmas_here))))
        assert s.check() == z3.unsat


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
