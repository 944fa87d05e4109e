"""Terms as terms: walking them, and making the same computation, run twice, one term.

A refinement runs the impl and the spec apart; where both compute one thing, the solver
should see one term rather than be asked to prove two equal (docs/architecture.md, "The
same computation is the same term"). Two of the means live here: binders named by
position (`canonical`), and the undefined part of a container named by its content
(`unspecified`). The third, shared search witnesses, is the interpreter's
(`interp._search_witness`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import z3


def subterms(e: z3.ExprRef) -> Iterator[z3.ExprRef]:
    """Every distinct subterm of e, e included, once."""
    seen: set[int] = set()
    todo = [e]
    while todo:
        x = todo.pop()
        if x.get_id() in seen:
            continue
        seen.add(x.get_id())
        yield x
        todo.extend(x.children())


def quantifier_free(e: z3.ExprRef) -> bool:
    """e has no ForAll or Exists anywhere in it. A lambda is allowed: it is a term (a map
    built by a comprehension), and a claim about one of its entries is a useful lemma
    (vm.unmap_page.refines: the impl's map of pages unchanged at a key, proved first,
    took the claims that compare the maps at that key from unknown at 30 s to 2-10 s)."""
    return not any(z3.is_quantifier(x) and not x.is_lambda() for x in subterms(e))


def canonical(e: z3.ExprRef) -> z3.ExprRef:
    """e with every binder's variables named by their position alone. Under a binder Z3
    refers to its variables by index, and their names are only for show; but two terms
    that differ in those names are two terms, and the same computation run twice (the
    impl's and the spec's lookup of one name) then gives two quantifiers that the solver
    must prove equivalent rather than see are one."""
    done: dict[int, z3.ExprRef] = {}
    todo = [e]
    while todo:
        x = todo[-1]
        if x.get_id() in done:
            todo.pop()
            continue
        kids = [x.body()] if z3.is_quantifier(x) else x.children()
        waiting = [c for c in kids if c.get_id() not in done]
        if waiting:
            todo.extend(waiting)
            continue
        todo.pop()
        done[x.get_id()] = _rebuilt(x, [done[c.get_id()] for c in kids])
    return done[e.get_id()]


def _rebuilt(x: z3.ExprRef, kids: list[z3.ExprRef]) -> z3.ExprRef:
    if z3.is_quantifier(x):
        n, ctx = x.num_vars(), x.ctx
        sorts = (z3.z3core.Sort * n)(*[x.var_sort(i).ast for i in range(n)])
        names = (z3.z3core.Symbol * n)(*[z3.to_symbol(f"v{i}", ctx) for i in range(n)])
        if x.is_lambda():
            ast = z3.z3core.Z3_mk_lambda(ctx.ref(), n, sorts, names, kids[0].as_ast())
        else:
            ast = z3.z3core.Z3_mk_quantifier(ctx.ref(), x.is_forall(), x.weight(), 0, None, n, sorts, names,
                                             kids[0].as_ast())
        return z3.QuantifierRef(ast, ctx)
    if all(a.eq(b) for a, b in zip(kids, x.children(), strict=True)):
        return x
    return x.decl()(*kids)


_UNSPECIFIED: dict[tuple[int, ...], tuple[z3.ExprRef, tuple[z3.ExprRef, ...]]] = {}


def unspecified(s: z3.SortRef, content: Sequence[z3.ExprRef]) -> z3.ExprRef:
    """The value of sort s that a container built from `content` (its entries, as terms)
    holds where it has none: an array's past its items, a map's at a key it lacks. Python
    has no such value (reading one raises), so it is a constant of its own, but one per sort
    and content: the same container built twice, by two runs, is then the same term (an
    address space's empty map, built by the impl's copy-in and again by the spec's)."""
    key = (s.get_id(), *(c.get_id() for c in content))
    if key not in _UNSPECIFIED:  # content kept with it, so that no other term takes its ids
        _UNSPECIFIED[key] = (z3.FreshConst(s, "undef"), (*content, s))
    return _UNSPECIFIED[key][0]
