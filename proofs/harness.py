"""The proof harness every layer shares.

A layer's proof module states what is particular to it, as a `Layer`: the impl's state
type, the abstraction function, the invariant, where the invariant is assumed, and the
operation table (`Operation`: arguments, the spec's function, how the impl's results read
as the spec's). From that the harness builds, for every operation, the goals

- `refines`: the same results and errno as the spec, and the new state abstracts to the
  spec's new state;
- `preserves`: the invariant holds afterwards;
- `unchanged_on_error`: an errno other than E_SUCC leaves every field and byte as it was;

their replays (the same checks run natively on one concrete case: what a counterexample
writes under tests/replay/), and their registration as `layer.operation.kind`. A layer
adds goals of its own with `Setting`, the symbolic run of one operation that every goal
starts from, and registers them beside the generic ones.

The same table drives the differential tests: `step` runs one operation on a concrete
spec state and impl state, as the goals do symbolically.
"""

from __future__ import annotations

import copy
import importlib
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import z3

from spec.abi import E_SUCC

from .engine.interp import run
from .engine.values import BOOL, BVT, BYTES, INT, RecT, Ty, equal, flatten, fresh, unflatten, wellformed
from .layer import equal_results, same_leaf
from .obligation import Goal, InvalidCase, Shown, obligation


def errno_only(result: Any) -> tuple[Any, ...]:
    """An impl result that is the errno alone."""
    return (result,)


def as_tuple(result: Any) -> tuple[Any, ...]:
    """An impl result that is already the spec's results, in order."""
    return tuple(result)


def nothing_chosen(result: Any) -> list[Any]:
    return []


@dataclass(frozen=True)
class Operation:
    """One operation of a layer's interface, as its proof sees it.

    `spec` is the spec's function, called as spec(state, *args, *chosen(impl result)): a
    choice the spec leaves open (the frame an allocation returns) is the impl's. It returns
    its results and, when `returns_state`, the new spec state last."""

    args: tuple[tuple[str, Ty], ...]
    spec: Callable[..., Any]
    observe: Callable[[Any], tuple[Any, ...]] = errno_only
    chosen: Callable[[Any], list[Any]] = nothing_chosen
    returns_state: bool = True

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.args]

    def split(self, out: Any, state: Any) -> tuple[tuple[Any, ...], Any]:
        """The spec's results apart from its new state (the old one, where it keeps it)."""
        if not self.returns_state:
            return (tuple(out) if isinstance(out, tuple) else (out,)), state
        return tuple(out[:-1]), out[-1]

    def spec_results(self, state: Any, args: list[Any], result: Any) -> tuple[tuple[Any, ...], Any]:
        """(the spec's results, its new state) for the impl's call and result, natively."""
        return self.split(self.spec(state, *args, *self.chosen(result)), state)


@dataclass
class Layer:
    """What a layer's proof states: the rest is the harness's.

    `invariant` is assumed of the state before, unless `assumed` (symbolic) and
    `assumed_natively` (its replay) say that a goal assumes less: its instances where the
    operation looks, implied by it, so the goal still covers every state that has it."""

    name: str
    impl: types.ModuleType
    prefix: str
    state: RecT
    spec_state: RecT
    abstract: Callable[[Any], Any]
    invariant: Callable[[Any], bool]
    operations: dict[str, Operation]
    state_name: str = "table"
    assumed: Callable[[Setting], list[z3.BoolRef]] | None = None
    assumed_natively: Callable[[Any, list[Any]], bool] | None = None
    prepare: Callable[[Any], None] = lambda state: None
    size: Callable[[Any], Callable[[Any, z3.ModelRef], int]] | None = None
    sizes: Callable[[Setting], list[Any]] = lambda s: list(s.args)
    admissible: Callable[[dict[str, Any]], bool] | None = None
    extra: Callable[[Setting, Any], list[z3.BoolRef]] = lambda s, x: []
    claims: Callable[[Setting, Any], list[z3.BoolRef]] = lambda s, before: []
    kinds: dict[str, Callable[..., Goal]] = field(default_factory=dict)
    # a concrete state `admissible` takes (a booted table): with every argument and point
    # zero, the case that shows a goal's hypotheses satisfiable without asking the solver
    example: Callable[[], Any] | None = None

    def impl_function(self, impl: types.ModuleType | None, op: str) -> Callable[..., Any]:
        return getattr(impl or self.impl, f"{self.prefix}{op}")

    def holds_before(self, state: Any, args: list[Any]) -> bool:
        if self.assumed_natively is not None:
            return self.assumed_natively(state, args)
        return bool(self.invariant(state))


LAYERS: dict[str, Layer] = {}


# -- goals ----------------------------------------------------------------------------------


class Setting:
    """One operation run symbolically on a fresh state: the pre-state's leaves (rebuilt for
    every run), the arguments, the impl's outcome, and the facts of every symbolic run
    (search witnesses, opaque values), gathered as hypotheses of the goal."""

    def __init__(self, layer: Layer, op: str, impl: types.ModuleType | None = None,
                 extra: Any = None) -> None:
        self.layer, self.op = layer, op
        self.impl = impl or layer.impl
        self.operation = layer.operations[op]
        state = fresh(layer.state, layer.state_name[0])
        layer.prepare(state)
        self.leaves = flatten(layer.state, state)
        self.args = [fresh(ty, f"arg{i}") for i, (_, ty) in enumerate(self.operation.args)]
        self.facts: list[z3.BoolRef] = [wellformed(ty, a) for (_, ty), a in
                                        zip(self.operation.args, self.args, strict=True)]
        self.facts += layer.extra(self, extra)
        self.out = run(layer.impl_function(self.impl, op), lambda: [self.pre(), *self.args])
        self.facts += self.out.assumptions
        # what the runs rely on and every goal over them proves first (an each loop's independence)
        self.obligations: list[z3.BoolRef] = list(self.out.obligations)

    def pre(self) -> Any:
        return unflatten(self.layer.state, self.leaves)

    def post(self) -> Any:
        return self.out.args[0]

    def errno(self) -> Any:
        return self.operation.observe(self.out.result)[0]

    def at(self, fn: Callable[..., Any], *xs: Any) -> Any:
        """fn(*xs), a pure function of the state, symbolically."""
        r = run(fn, lambda: list(xs))
        self.facts += r.assumptions
        self.obligations += r.obligations
        return r.result

    def given(self) -> list[z3.BoolRef]:
        """What every goal assumes of the state before."""
        if self.layer.assumed is not None:
            return self.layer.assumed(self)
        return [self.at(self.layer.invariant, self.pre())]

    def inputs(self, points: dict[str, Any] | None = None) -> dict[str, Shown]:
        state = self.pre()
        size = self.layer.size(state) if self.layer.size is not None else None
        shown = {self.layer.state_name: Shown(self.layer.state, state, size)}
        shown.update({n: Shown(ty, a) for (n, ty), a in zip(self.operation.args, self.args, strict=True)})
        shown.update({n: Shown(z3_ty(p), p) for n, p in (points or {}).items()})
        return shown

    def goal(self, given: list[z3.BoolRef], conclusion: z3.BoolRef, replay: Callable[..., Any],
             hints: list[z3.ExprRef] | None = None, points: dict[str, Any] | None = None) -> Goal:
        """The goal over this run; its replay is called with the layer's and the operation's
        names, the state and arguments, and the points."""
        return Goal([*given, *self.facts], z3.And(*self.obligations, conclusion), self.inputs(points),
                    replay=replay,
                    replay_module=self.impl.__name__,
                    replay_extra={"layer": self.layer.name, "op": self.op},
                    sizes=self.layer.sizes(self), admissible=self.layer.admissible, hints=hints or [],
                    example=self.example(points))

    def example(self, points: dict[str, Any] | None) -> dict[str, Any] | None:
        if self.layer.example is None:
            return None
        zero = {INT: 0, BOOL: False, BYTES: b""}
        args = {n: zero.get(ty, 0) for n, ty in self.operation.args}
        return {self.layer.state_name: self.layer.example(), **args, **dict.fromkeys(points or {}, 0)}


def z3_ty(p: Any) -> Ty:
    return BVT(p.size()) if isinstance(p, z3.BitVecRef) else INT


def refines(layer: Layer, op: str, impl: types.ModuleType | None = None, extra: Any = None) -> Goal:
    """Same results and errno as the spec, and the new state abstracts to the spec's."""
    s = Setting(layer, op, impl, extra)
    given = s.given()
    before = s.at(layer.abstract, s.pre())
    spec_out = s.at(s.operation.spec, before, *s.args, *s.operation.chosen(s.out.result))
    want, want_state = s.operation.split(spec_out, before)
    after = s.at(layer.abstract, s.post())
    conclusion = z3.And(equal_results(s.operation.observe(s.out.result), want),
                        equal(layer.spec_state, after, want_state), *layer.claims(s, before))
    goal = s.goal(given, conclusion, replay_refines)
    goal.compare = lambda values: compare_refines(layer.name, op, s.impl, values)
    return goal


def preserves(layer: Layer, op: str, impl: types.ModuleType | None = None, extra: Any = None) -> Goal:
    """The invariant holds afterwards."""
    s = Setting(layer, op, impl, extra)
    given = s.given()
    return s.goal(given, s.at(layer.invariant, s.post()), replay_preserves)


def unchanged_on_error(layer: Layer, op: str, impl: types.ModuleType | None = None,
                       extra: Any = None) -> Goal:
    """An error leaves every field and byte of the state as it was."""
    s = Setting(layer, op, impl, extra)
    given = s.given()
    same = z3.And([same_leaf(a, b) for a, b in
                   zip(flatten(layer.state, s.pre()), flatten(layer.state, s.post()), strict=True)])
    return s.goal(given, z3.Implies(s.errno() != E_SUCC, same), replay_unchanged_on_error)


GENERIC: dict[str, Callable[..., Goal]] = {
    "refines": refines, "invariant": preserves, "unchanged_on_error": unchanged_on_error}


def register(layer: Layer, kinds: dict[str, Callable[..., Goal]] | None = None,
             only: dict[str, Iterable[str]] | None = None) -> dict[str, Callable[..., Goal]]:
    """Register `layer.op.kind` for every operation and kind (the generic ones, and the
    layer's own, which take (layer, op, impl)); `only` names the operations of a kind
    that not every operation has. Returns each kind as a builder of (op, impl)."""
    LAYERS[layer.name] = layer
    builders = {**GENERIC, **(kinds or {})}
    for op in layer.operations:
        for kind, build in builders.items():
            if only is not None and kind in only and op not in only[kind]:
                continue
            obligation(f"{layer.name}.{op}.{kind}")(
                lambda impl=layer.impl, _op=op, _b=build: _b(layer, _op, impl))
    layer.kinds = {kind: (lambda op, impl=None, extra=None, _b=build: _b(layer, op, impl, extra))
                   for kind, build in builders.items()}
    return layer.kinds


# -- the same checks, natively ----------------------------------------------------------------


def step(layer: Layer, op: str, impl: types.ModuleType | None, state: Any, spec_state: Any,
         args: list[Any]) -> tuple[tuple[Any, ...], tuple[Any, ...], Any]:
    """Run op on an impl state (in place) and on a spec state: (the impl's results read as
    the spec's, the spec's results, the spec's new state). What the differential tests and
    the replays compare."""
    operation = layer.operations[op]
    result = layer.impl_function(impl, op)(state, *args)
    want, want_state = operation.spec_results(spec_state, args, result)
    return operation.observe(result), want, want_state


def layer_named(name: str) -> Layer:
    """The layer of that name; a replay file imports only the harness, so its proof module
    is imported here, which registers it."""
    if name not in LAYERS:
        importlib.import_module(f"{__package__}.{name}")
    return LAYERS[name]


def _case(layer_name: str, kw: dict[str, Any]) -> tuple[Layer, Any, list[Any]]:
    layer = layer_named(layer_name)
    return layer, kw[layer.state_name], [kw[n] for n in layer.operations[kw["op"]].names]


def _native(impl: types.ModuleType | None, layer_name: str, kw: dict[str, Any]
            ) -> tuple[Layer, Any, tuple[Any, ...], tuple[Any, ...], Any]:
    """Run the replay's case, if it has what the goal assumes of the state before."""
    layer, state, args = _case(layer_name, kw)
    if not layer.holds_before(state, args):
        raise InvalidCase("the state breaks the invariant the obligation assumes")
    got, want, want_state = step(layer, kw["op"], impl, state, layer.abstract(state), args)
    return layer, state, got, want, want_state


def replay_refines(impl: types.ModuleType | None, layer: str, **kw: Any) -> None:
    lay, state, got, want, want_state = _native(impl, layer, kw)
    assert got == want, f"impl results {got!r} != spec results {want!r}"
    assert lay.abstract(state) == want_state, "the impl's state does not abstract to the spec's"


def replay_preserves(impl: types.ModuleType | None, layer: str, **kw: Any) -> None:
    lay, state, *_ = _native(impl, layer, kw)
    assert lay.invariant(state), "the invariant is broken"


def replay_unchanged_on_error(impl: types.ModuleType | None, layer: str, **kw: Any) -> None:
    before = copy.deepcopy(kw[layer_named(layer).state_name])
    _, state, got, _, _ = _native(impl, layer, kw)
    if got[0] != E_SUCC:
        assert state == before, "an error changed the state"


def compare_refines(layer: str, op: str, impl: types.ModuleType | None, values: dict[str, Any]) -> str:
    """The spec's and the impl's results and states on a counterexample, for the reader."""
    kw = copy.deepcopy({**values, "op": op})
    try:
        lay, state, got, want, want_state = _native(impl, layer, kw)
    except Exception as exc:  # noqa: BLE001 - shown to the reader, not swallowed
        return f"  replay raised {exc!r}"
    return (f"  spec: results {want!r}\n        state   {want_state!r}\n"
            f"  impl: results {got!r}\n        state   {lay.abstract(state)!r}")
