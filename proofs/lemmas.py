"""Lemmas the engine states at the terms it makes, proved here, below every layer.

`lemmas.count.<lemma>`: each lemma of `engine.counting` holds of the count's definition,
by induction on hi from lo: the base (hi = lo) and the step (from every lemma at hi, and
the definition's equation at hi + 1, the lemma at hi + 1) are each checked by Z3 for
every set P and every lo and hi; that a property with a base and a step holds at every
hi >= lo is the induction rule itself. (For hi < lo every lemma says nothing.)
"""

from __future__ import annotations

import z3

from .engine.counting import APART_LEMMAS, LEMMAS, PAIR_LEMMAS, SET, defined, facts
from .engine.values import BOOL, INT, ArrT, SArray
from .obligation import Goal, Shown, obligation


def by_induction(name: str) -> Goal:
    """Lemma `name` (of a count, or of a set two counts differ by) by induction on hi: the
    step from every lemma of a count at hi and this one's own instance there."""
    lemma = {**LEMMAS, **APART_LEMMAS}[name]
    p = z3.Const("P", SET)
    lo, hi = z3.Ints("lo hi")
    base = z3.Implies(defined(p, lo, lo), lemma(p, lo, lo))
    step = z3.Implies(z3.And(lo <= hi, *facts(p, lo, hi), lemma(p, lo, hi), defined(p, lo, hi + 1)),
                      lemma(p, lo, hi + 1))
    shown = SArray(ArrT(BOOL), [p])
    inputs = {"P": Shown(ArrT(BOOL), shown, lambda arr, model: 8), "lo": Shown(INT, lo), "hi": Shown(INT, hi)}
    return Goal([], z3.And(base, step), inputs, sizes=[lo, hi])


for _name in [*LEMMAS, *APART_LEMMAS]:
    obligation(f"lemmas.count.{_name}")(lambda _name=_name: by_induction(_name))


@obligation("lemmas.count.differ")
def differ() -> Goal:
    """Of two sets P and Q and the sets PQ and QP they differ by, by induction on hi: the
    step from the lemma at hi and the definition's equations at hi + 1 of the four counts."""
    lemma = PAIR_LEMMAS["differ"]
    sets = [z3.Const(name, SET) for name in ("P", "Q", "PQ", "QP")]
    lo, hi = z3.Ints("lo hi")
    base = z3.Implies(z3.And(*[defined(x, lo, lo) for x in sets]), lemma(*sets, lo, lo))
    step = z3.Implies(z3.And(lo <= hi, lemma(*sets, lo, hi), *[defined(x, lo, hi + 1) for x in sets]),
                      lemma(*sets, lo, hi + 1))
    inputs = {name: Shown(ArrT(BOOL), SArray(ArrT(BOOL), [x]), lambda arr, model: 8)
              for name, x in zip(("P", "Q", "PQ", "QP"), sets, strict=True)}
    inputs.update({"lo": Shown(INT, lo), "hi": Shown(INT, hi)})
    return Goal([], z3.And(base, step), inputs, sizes=[lo, hi])
