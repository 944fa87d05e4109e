"""How many integers of a range a set holds: the engine's counts, and the lemmas it uses
of them.

`count(P, lo, hi)` is the number of i with lo <= i < hi where P[i] holds (P an array from
Int to Bool). It is one uninterpreted function of its three arguments; its meaning is
its definition by recursion on hi (`defined`):

    hi <= lo  ->  count(P, lo, hi) == 0
    lo < hi   ->  count(P, lo, hi) == count(P, lo, hi - 1) + (1 if P[hi - 1] else 0)

The solver cannot do the induction that facts about a count need (a set of slots as
large as the table is all of it: a pigeonhole), so the lemmas below are proved by
induction on hi, base and step each checked by Z3 (`proofs/lemmas.py`, `lemmas.count.*`),
and the engine states their instances at every count it makes (`facts`): a lemma used
through its registered statement. Where the engine counts the keys of a map built from a
range (`len(m)`, `sum(1 for key in m if ...)`), the count is that of the slots whose keys
are counted, the keys being one to one (an obligation of the map's run).
"""

from __future__ import annotations

from collections.abc import Callable

import z3

SET = z3.ArraySort(z3.IntSort(), z3.BoolSort())
COUNT = z3.Function("count!", SET, z3.IntSort(), z3.IntSort(), z3.IntSort())


def count(p: z3.ArrayRef, lo: z3.ArithRef, hi: z3.ArithRef) -> z3.ArithRef:
    return COUNT(p, lo, hi)


def bounded(p: z3.ArrayRef, lo: z3.ArithRef, hi: z3.ArithRef) -> z3.BoolRef:
    """A count is at least 0 and at most the range's length."""
    n = count(p, lo, hi)
    return z3.Implies(lo <= hi, z3.And(0 <= n, n <= hi - lo))


def full(p: z3.ArrayRef, lo: z3.ArithRef, hi: z3.ArithRef) -> z3.BoolRef:
    """A count is the range's length exactly when the set holds every member of the range."""
    i = z3.Int("full!i")
    every = z3.ForAll([i], z3.Implies(z3.And(lo <= i, i < hi), z3.Select(p, i)))
    return z3.Implies(lo <= hi, (count(p, lo, hi) == hi - lo) == every)


def empty(p: z3.ArrayRef, lo: z3.ArithRef, hi: z3.ArithRef) -> z3.BoolRef:
    """A count is 0 exactly when the set holds no member of the range."""
    i = z3.Int("empty!i")
    none = z3.ForAll([i], z3.Implies(z3.And(lo <= i, i < hi), z3.Not(z3.Select(p, i))))
    return z3.Implies(lo <= hi, (count(p, lo, hi) == 0) == none)


LEMMAS: dict[str, Callable[[z3.ArrayRef, z3.ArithRef, z3.ArithRef], z3.BoolRef]] = {
    "bounded": bounded, "full": full, "empty": empty}


def facts(p: z3.ArrayRef, lo: z3.ArithRef, hi: z3.ArithRef) -> list[z3.BoolRef]:
    """Every lemma's instance at this count."""
    return [lemma(p, lo, hi) for lemma in LEMMAS.values()]


def defined(p: z3.ArrayRef, lo: z3.ArithRef, hi: z3.ArithRef) -> z3.BoolRef:
    """The definition's equation at (p, lo, hi)."""
    return z3.If(hi <= lo, count(p, lo, hi) == 0,
                 count(p, lo, hi) == count(p, lo, hi - 1) + z3.If(z3.Select(p, hi - 1), 1, 0))
