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

from .values import fresh_name

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


def at_most_one(p: z3.ArrayRef, lo: z3.ArithRef, hi: z3.ArithRef) -> z3.BoolRef:
    """A set that holds at most one member of the range counts at most 1 there."""
    i, j = z3.Ints("one!i one!j")
    single = z3.ForAll([i, j], z3.Implies(z3.And(lo <= i, i < hi, lo <= j, j < hi, z3.Select(p, i),
                                                 z3.Select(p, j)), i == j))
    return z3.Implies(z3.And(lo <= hi, single), count(p, lo, hi) <= 1)


def only(d: z3.ArrayRef, p: z3.ArrayRef, q: z3.ArrayRef, lo: z3.ArithRef, hi: z3.ArithRef) -> z3.BoolRef:
    """Within the range, d holds the members of p that q does not hold (a count reads no
    member outside its range)."""
    i = z3.Int("only!i")
    return z3.ForAll([i], z3.Implies(z3.And(lo <= i, i < hi),
                                     z3.Select(d, i) == z3.And(z3.Select(p, i), z3.Not(z3.Select(q, i)))))


def differ(p: z3.ArrayRef, q: z3.ArrayRef, pq: z3.ArrayRef, qp: z3.ArrayRef, lo: z3.ArithRef,
           hi: z3.ArithRef) -> z3.BoolRef:
    """Two counts over one range differ by what each set holds that the other does not
    (pq: p's members q does not hold; qp: the other way)."""
    return z3.Implies(z3.And(only(pq, p, q, lo, hi), only(qp, q, p, lo, hi)),
                      count(q, lo, hi) - count(p, lo, hi) == count(qp, lo, hi) - count(pq, lo, hi))


# lemmas of two counts over one range, and of the sets they differ by
PAIR_LEMMAS: dict[str, Callable[..., z3.BoolRef]] = {"differ": differ}
APART_LEMMAS: dict[str, Callable[[z3.ArrayRef, z3.ArithRef, z3.ArithRef], z3.BoolRef]] = {
    "at_most_one": at_most_one}


def counts_in(terms: list[z3.ExprRef]) -> list[z3.ExprRef]:
    """The ground counts among terms, each once (a count under a binder is not ground)."""
    seen: set[int] = set()
    found: dict[int, z3.ExprRef] = {}
    todo = list(terms)
    while todo:
        e = todo.pop()
        if e.get_id() in seen:
            continue
        seen.add(e.get_id())
        if z3.is_quantifier(e):
            continue  # a binder's (a lambda's too) counts may not be ground
        if z3.is_app(e):
            if e.decl().name() == COUNT.name() and e.num_args() == 3:  # in any context
                found[e.get_id()] = e
            todo.extend(e.children())
    return list(found.values())


def pair_facts(terms: list[z3.ExprRef]) -> list[z3.BoolRef]:
    """At every two counts of terms over one range, the pair lemmas, and at the two sets
    they differ by (named, and defined as what one holds that the other does not), every
    lemma: how a count changes where its set changes at a few members."""
    counts = counts_in(terms)
    out: list[z3.BoolRef] = []
    for a, x in enumerate(counts):
        for y in counts[a + 1:]:
            (p, lo, hi), (q, lo2, hi2) = x.children(), y.children()
            if not (lo.eq(lo2) and hi.eq(hi2)):
                continue
            pq, qp = z3.Const(fresh_name("only"), SET), z3.Const(fresh_name("only"), SET)
            out += [only(pq, p, q, lo, hi), only(qp, q, p, lo, hi),
                    *[lemma(p, q, pq, qp, lo, hi) for lemma in PAIR_LEMMAS.values()]]
            for d in (pq, qp):
                out += [*facts(d, lo, hi), *[lemma(d, lo, hi) for lemma in APART_LEMMAS.values()]]
    return out


def defined(p: z3.ArrayRef, lo: z3.ArithRef, hi: z3.ArithRef) -> z3.BoolRef:
    """The definition's equation at (p, lo, hi)."""
    return z3.If(hi <= lo, count(p, lo, hi) == 0,
                 count(p, lo, hi) == count(p, lo, hi - 1) + z3.If(z3.Select(p, hi - 1), 1, 0))


def exact(c: z3.ArithRef, n: int) -> z3.BoolRef:
    """Count c is what it counts, where its range is at most n long: the definition
    unfolded n times, for a search for small counterexamples (a proof never uses it)."""
    p, lo, hi = c.children()
    members = [z3.If(z3.And(lo + k < hi, z3.Select(p, lo + k)), 1, 0) for k in range(n)]
    return z3.Implies(z3.And(lo <= hi, hi - lo <= n), c == z3.Sum(members))
