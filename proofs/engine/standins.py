"""Stand-ins: objects a proof binds (with `proofs.layer.over`) in place of a function the
code under proof calls, which the interpreter runs by what they say symbolically while a
native run calls the function itself. (`interp.Given`, a function's result left open, is
the other kind.)

- `ByContract`: a function used through its proved contracts (lemmas), never unfolded: a
  symbolic call answers a fresh result, proves each contract's `pre` of the arguments as
  an obligation of the run (`Outcome.obligations`, which the goal proves where the call is
  made) and assumes each contract's `post` at every point.

- `ByInduction`: a fold (a function whose body is one loop over a range, each iteration
  calling the layer below, say, in sequence) taken by its *summary*: a loop-free function
  that changes the fold's arguments as its first i iterations do. A symbolic call proves,
  as obligations of the run, that the summary at the loop's start changes nothing (the
  base) and that one iteration at any index in range, run from the summary's state there,
  leaves the summary's state at the next index (the step, under the caller's path); the
  arguments are then as the summary leaves them at the loop's end. Neither the loop nor
  its bounds are unrolled.

A contract is an object with `pre(state, *args) -> bool`, `post(before, after, result,
*args, *points) -> bool`, `points` (the names of the post's free points) and `reads_only`
(its registered obligation proves that the function changes nothing): the form of
`proofs.topic.registry.Contract`. Only read-only functions are taken by contract so far.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import z3

from .terms import subterms
from .values import ArrT, RecT, Ty, equal, flatten, fresh, fresh_name, same_leaf, unflatten


class ByContract:
    """`fn` natively; symbolically, its contracts. `result` is the type of its result."""

    def __init__(self, fn: Callable[..., Any], result: Ty, contracts: Sequence[Any]) -> None:
        if not all(c.reads_only for c in contracts):
            raise ValueError("only a function whose contract proves it changes nothing is taken by contract")
        self.fn = fn
        self.result = result
        self.contracts = list(contracts)

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def symbolic_call(self, path: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        from .interp import Unsupported, run

        if kwargs:
            raise Unsupported(f"{self.fn.__name__} by contract, called with keywords")
        state, rest = args[0], list(args[1:])
        r = unflatten(self.result, flatten(self.result, fresh(self.result, f"{self.fn.__name__}_result")))
        for c in self.contracts:
            pre = run(c.pre, lambda c=c: [state, *rest])
            path.obligations.append(z3.BoolVal(pre.result) if isinstance(pre.result, bool) else pre.result)
            path.obligations.extend(pre.obligations)
            path.assumptions.extend(pre.assumptions)
            points = [z3.Int(fresh_name(n)) for n in c.points]
            post = run(c.post, lambda c=c, points=points: [state, state, r, *rest, *points])
            if post.obligations or any(_mentions(a, points) for a in post.assumptions):
                raise Unsupported(f"a post of {self.fn.__name__} whose definitions depend on its points")
            path.assumptions.extend(post.assumptions)
            # what the contract gives where its pre holds: assumed unconditionally, a post
            # could rule out the very states in which the pre (an obligation) fails
            holds = z3.BoolVal(post.result) if isinstance(post.result, bool) else post.result
            given = z3.BoolVal(pre.result) if isinstance(pre.result, bool) else pre.result
            path.assumptions.append(z3.Implies(given, z3.ForAll(points, holds) if points else holds))
        return r


class ByInduction:
    """`fn` natively; symbolically, `summary(i, *args)`: fn's arguments as its loop's first
    i iterations leave them, proved by induction at every call."""

    def __init__(self, fn: Callable[..., Any], summary: Callable[..., Any]) -> None:
        self.fn = fn
        self.summary = summary

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def symbolic_call(self, path: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        from .interp import Interp, _copy, _write_back, run

        i, lo, hi = Interp(path).loop_range(self.fn, args, kwargs)
        context = [*path.context, *path.condition, *path.assumptions]
        in_range = z3.ULE(lo, i) & z3.ULT(i, hi) if isinstance(i, z3.BitVecRef) else z3.And(lo <= i, i < hi)

        def at(index: Any, assume: list[z3.BoolRef]) -> Any:
            return run(self.summary, lambda: [index, *map(_copy, args)], kwargs, assume=assume)

        start = at(lo, context)
        here = at(i, [*context, in_range])
        stepped = run(self.fn, lambda: [_copy(a) for a in here.args[1:]], kwargs,
                      assume=[*context, in_range], iteration=i)
        following = at(i + 1, [*context, in_range])
        end = at(z3.If(z3.ULE(lo, hi) if isinstance(i, z3.BitVecRef) else lo <= hi, hi, lo), context)
        base = same_arguments(args, start.args[1:])
        step = z3.And(z3.Not(stepped.raised), same_arguments(stepped.args, following.args[1:]),
                      *here.obligations, *stepped.obligations, *following.obligations)
        path.obligations += [base, *start.obligations, z3.Implies(in_range, step), *end.obligations]
        for out in (start, here, stepped, following, end):
            path.assumptions.extend(out.assumptions)
        for original, after in zip(args, end.args[1:], strict=True):
            _write_back(original, after)
        return None


def same_arguments(before: Sequence[Any], after: Sequence[Any]) -> z3.BoolRef:
    """Every argument a callee may change (a kernel record or array) is as it was: its
    arrays everywhere, its other parts by value (a map on its keys)."""
    from .interp import _mutable_ty

    same = []
    for a, b in zip(before, after, strict=True):
        ty = _mutable_ty(a)
        if isinstance(ty, ArrT):
            same += [same_leaf(x, y) for x, y in zip(flatten(ty, a), flatten(ty, b), strict=True)]
        elif isinstance(ty, RecT):
            for name, fty in ty.fields:
                x, y = getattr(a, name), getattr(b, name)
                if isinstance(fty, ArrT):
                    same += [same_leaf(p, q) for p, q in zip(flatten(fty, x), flatten(fty, y), strict=True)]
                else:
                    same.append(equal(fty, x, y))
    return z3.And(same)


def _mentions(e: z3.ExprRef, points: list[z3.ExprRef]) -> bool:
    ids = {p.get_id() for p in points}
    return any(x.get_id() in ids for x in subterms(e))
