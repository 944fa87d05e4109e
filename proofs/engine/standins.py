"""Stand-ins: objects a proof binds (with `proofs.layer.over`) in place of a function the
code under proof calls, which the interpreter runs by what they say symbolically while a
native run calls the function itself. (`interp.Given`, a function's result left open, is
the other kind.)

- `ByContract`: a function used through its proved contracts (lemmas), never unfolded: a
  symbolic call answers a fresh result, proves each contract's `pre` of the arguments as
  an obligation of the run (`Outcome.obligations`, which the goal proves where the call is
  made) and assumes each contract's `post` at every point.

A contract is an object with `pre(state, *args) -> bool`, `post(before, after, result,
*args, *points) -> bool`, `points` (the names of the post's free points) and `reads_only`
(its registered obligation proves that the function changes nothing): the form of
`proofs.topic.registry.Contract`. Only read-only functions are taken by contract so far.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import z3

from .values import Ty, flatten, fresh, fresh_name, subterms, unflatten


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


def _mentions(e: z3.ExprRef, points: list[z3.ExprRef]) -> bool:
    ids = {p.get_id() for p in points}
    return any(x.get_id() in ids for x in subterms(e))
