"""The same computation, run twice, is the same term.

A refinement runs the impl and the spec in two runs, and where both compute one thing (the
impl over the topic layer's spec looks a name up as the spec does), the solver should see
one term, not prove two equal: a search's witness, the unspecified part of a map built
from the same entries, and a binder's variables are shared or named canonically. Sharing
never changes what a term means, which the last test checks against native runs.
"""

from __future__ import annotations

import z3

from proofs.engine.interp import run
from proofs.engine.terms import canonical
from proofs.engine.values import INT, ArrT, MapT, flatten, fresh
from spec.map import Map
from tests.test_engine import first_zero, only_native


def test_two_runs_of_one_search_share_its_witness_and_another_search_does_not() -> None:
    xs, n, m = fresh(ArrT(INT), "xs"), z3.Int("n"), z3.Int("m")
    a = run(first_zero, lambda: [xs, n])
    b = run(first_zero, lambda: [xs, n])
    c = run(first_zero, lambda: [xs, m])
    assert a.result.eq(b.result), "one search, two witnesses"
    assert not a.result.eq(c.result), "a search over another range shares a witness"


def single(key: int, value: int) -> Map[int, int]:
    return Map({key: value})


def test_a_map_built_twice_from_the_same_entries_is_one_term_and_from_others_is_not() -> None:
    k, v, w = z3.Int("k"), z3.Int("v"), z3.Int("w")
    ty = MapT(INT)
    a, b, c = (flatten(ty, run(single, lambda x=x: [k, x]).result) for x in (v, v, w))
    assert all(x.eq(y) for x, y in zip(a, b, strict=True))
    # their value arrays hold different entries, so their unspecified parts are their own
    assert not a[1].eq(c[1])
    assert not flatten(ty, Map())[1].eq(flatten(ty, Map({1: 2}))[1])


def test_binders_named_apart_are_one_term_once_canonical_and_mean_what_they_meant() -> None:
    xs = z3.Array("xs", z3.IntSort(), z3.IntSort())
    i, j, p = z3.Int("i"), z3.Int("j"), z3.Int("p")
    one = z3.ForAll([i], z3.Implies(i < p, xs[i] > 0))
    other = z3.ForAll([j], z3.Implies(j < p, xs[j] > 0))
    nested = z3.Exists([i], z3.And(xs[i] == 0, z3.ForAll([j], z3.Implies(j < i, xs[j] != 0))))
    assert not one.eq(other)
    assert canonical(one).eq(canonical(other))
    for e in (one, nested, z3.Lambda([i], xs[i] + p) == z3.Lambda([j], xs[j] + p)):
        only_native([], canonical(e) == e)
    # an outer variable stays distinct from an inner one of the same name
    assert not canonical(nested).eq(canonical(z3.Exists([i], z3.And(xs[i] == 0, z3.ForAll(
        [j], z3.Implies(j < j, xs[j] != 0))))))
