"""Symbolic evaluation of spec/ and impl/ functions, straight from their Python source.

The interpreter walks the AST of the function the tests run. A branch on a symbolic
condition forks: the function is run once per feasible path (decisions replayed by an
oracle), and the paths' results are merged with If. Loops are never unrolled:

- a *map loop* ``for i in range(lo, hi): X[i] = e(i); ...`` becomes, for every array it
  stores to, ``Lambda k. If(lo <= k < hi, e(k), X[k])``;
- a *search loop* ``for i in range(lo, hi): if c(i): ...; return/break`` introduces a
  witness w with ``lo <= w <= hi``, ``c(w)`` when ``w < hi``, and ``not c(k)`` for every
  ``lo <= k < w``: the lowest index that satisfies c, or hi when none does;
- a comprehension ``tuple(e(k) for k in range(n))`` (also list, bytes) becomes a sequence
  or array whose leaves are Lambdas.

The subset is documented in docs/architecture.md; anything outside it raises
`Unsupported` rather than being approximated.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import inspect
import operator
import textwrap
from collections.abc import Callable
from typing import Any, cast

import z3

from spec.map import Map
from spec.x86 import u8, u16, u32

from . import counting
from .effort import limit
from .terms import canonical, quantifier_free, subterms, unspecified
from .values import (
    BOOL,
    BUFFER,
    BVT,
    BYTES,
    INT,
    U8,
    ArrT,
    BoolT,
    IntT,
    MapT,
    RecT,
    SArray,
    SeqT,
    SMap,
    SSeq,
    TupT,
    Ty,
    const_array,
    equal,
    flatten,
    fresh_name,
    ite,
    ty_of_value,
    unflatten,
)

WORDS = {u8: 8, u16: 16, u32: 32}


def _word(x: Any, width: int) -> z3.BitVecRef:
    """x as a machine word of the width: zero-extended or truncated, as a C cast."""
    if isinstance(x, z3.BitVecRef):
        if x.size() < width:
            return z3.ZeroExt(width - x.size(), x)
        return x if x.size() == width else z3.Extract(width - 1, 0, x)
    if isinstance(x, z3.BoolRef):
        return z3.If(x, z3.BitVecVal(1, width), z3.BitVecVal(0, width))
    if isinstance(x, z3.ArithRef):
        return z3.Int2BV(x, width)
    return z3.BitVecVal(int(x) % (1 << width), width)


class Unsupported(Exception):
    """The source uses a construct outside the documented subset."""


class Given:
    """A stand-in for a function whose result a proof leaves open (a hash function, say):
    every call answers the value the proof gave it, a symbolic constant that stands for
    every value the function could return. It is bound with `proofs.layer.over` and called
    as it is, natively as well as symbolically, so a replay binds the concrete value."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.value


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Raised(Exception):
    """A path that ends by raising cls(*args)."""

    def __init__(self, cls: type, args: tuple[Any, ...]) -> None:
        self.cls = cls
        self.values = args


def is_sym(v: Any) -> bool:
    return isinstance(v, z3.ExprRef | SSeq | SArray | SMap)


# ---------------------------------------------------------------------------------------
# Paths


class Pruner:
    """Asks whether a branch can be taken, given the caller's assumptions. Every path of a
    run replays the decisions of the one before, so each question is answered once."""

    def __init__(self, context: list[z3.BoolRef]) -> None:
        self.context = list(context)
        self.solver = z3.Solver()
        self.solver.add(*context)
        self.answers: dict[tuple[int, ...], tuple[bool, list[z3.BoolRef]]] = {}
        self.models: list[z3.ModelRef] = []  # of the context, the latest last

    def impossible(self, condition: list[z3.BoolRef], c: z3.BoolRef) -> bool:
        """c cannot hold where condition does (pruning only: an unknown answer keeps the
        branch)."""
        asked = [*condition, c]
        key = tuple(x.get_id() for x in asked)
        if key not in self.answers:  # the terms are kept with the answer, so the ids stay theirs
            self.answers[key] = (not self.possible(asked) and self.refuted(asked), asked)
        return self.answers[key][0]

    def possible(self, asked: list[z3.BoolRef]) -> bool:
        """A model found before, of the context and an earlier question, satisfies every
        claim asked: the question's answer, without asking it. Most questions are
        satisfiable, and most of those by a model of the path so far (in map_page's
        invariant, 680 of 1,069 answers were sat, and took nine tenths of its build)."""
        return any(all(z3.is_true(m.eval(x, model_completion=True)) for x in asked)
                   for m in reversed(self.models))

    def refuted(self, asked: list[z3.BoolRef]) -> bool:
        """The solver shows the claims asked unsatisfiable beside the context."""
        self.solver.push()
        self.solver.add(*asked)
        # a question with a quantifier in it is settled quickly or not at all: building
        # syscall.topic_create.refines, every one refuted with four times this budget was
        # refuted within it, and those left unknown took 2 s each at four times, 0.7 s here
        quick = all(quantifier_free(x) for x in asked)
        limit(self.solver, PRUNE_TIMEOUT_MS if quick else PRUNE_QUANTIFIED_MS)
        answer = self.solver.check()
        if answer == z3.sat:
            self.models = [*self.models[1 - MODELS_KEPT:], self.solver.model()]
        self.solver.pop()
        return answer == z3.unsat


_pruners: dict[tuple[int, ...], Pruner] = {}  # the latest, by their context's terms


def pruner_over(context: list[z3.BoolRef]) -> Pruner:
    """The pruner over context, shared by the runs of one goal that take the same context
    as given (an obligation's runs mostly do): a question one run answered, or a model it
    found, answers the next's."""
    key = tuple(x.get_id() for x in context)
    if key not in _pruners:  # the pruner keeps the context's terms, so the ids stay theirs
        while len(_pruners) >= PRUNERS_KEPT:
            del _pruners[next(iter(_pruners))]
        _pruners[key] = Pruner(context)
    return _pruners[key]


class Path:
    """One run: replays recorded branch decisions, records new ones and the path condition."""

    def __init__(self, decisions: list[bool], context: list[z3.BoolRef] | None = None,
                 pruner: Pruner | None = None, witnesses: dict[tuple[Any, ...], Any] | None = None) -> None:
        self.decisions = decisions
        self.pos = 0
        self.condition: list[z3.BoolRef] = []
        self.assumptions: list[z3.BoolRef] = []
        # facts the run relies on and the obligation must prove (an each loop's independence)
        self.obligations: list[z3.BoolRef] = []
        self.forks_allowed = True
        self.context = list(context or [])
        self.pruner = pruner  # over the context, shared by the paths of one run
        # the search loops' witnesses, shared by the paths of one run (`_witness`): paths
        # that run a loop in the same state name the same index, so their results agree
        # without the solver having to prove two least indices equal
        self.witnesses = witnesses if witnesses is not None else {}
        self.searches = 0

    def _impossible(self, c: z3.BoolRef) -> bool:
        assert self.pruner is not None
        return self.pruner.impossible([*self.condition, *self.assumptions], c)

    def decide(self, cond: Any) -> bool:
        if isinstance(cond, bool):
            return cond
        c = z3.simplify(cond)
        if z3.is_true(c):
            return True
        if z3.is_false(c):
            return False
        if self.pruner is not None:
            if self._impossible(z3.Not(c)):
                return True
            if self._impossible(c):
                return False
        if not self.forks_allowed:
            raise Unsupported("a branch on a symbolic condition inside a loop body or condition")
        if self.pos == len(self.decisions):
            self.decisions.append(True)
        d = self.decisions[self.pos]
        self.pos += 1
        self.condition.append(cond if d else z3.Not(cond))
        return d


# ---------------------------------------------------------------------------------------
# Source


_ast_cache: dict[Any, ast.FunctionDef] = {}


def function_ast(fn: Callable[..., Any]) -> ast.FunctionDef:
    code = getattr(fn, "__code__", None)
    if code not in _ast_cache:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        node = tree.body[0]
        if not isinstance(node, ast.FunctionDef):
            raise Unsupported(f"{fn.__qualname__} is not a plain function")
        _ast_cache[code] = node
    return _ast_cache[code]


def fold_loop(fn: Callable[..., Any]) -> ast.For:
    """The loop that is all of fn's body (after its docstring): `for i in range(lo, hi):
    ...`, returning nothing, whose iterations use nothing of each other's but what they
    leave in the arguments (a fold, taken by its summary: `standins.ByInduction`)."""
    body = [s for s in function_ast(fn).body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.For) or not isinstance(body[0].target, ast.Name) \
            or body[0].orelse or not _is_range(body[0].iter):
        raise Unsupported(f"{fn.__qualname__} is not one loop over a range")
    return body[0]


def _is_user_function(fn: Any) -> bool:
    mod = getattr(fn, "__module__", "") or ""
    return inspect.isfunction(fn) and not mod.startswith(("z3", "dataclasses", "typing"))


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
    ast.LShift: operator.lshift,
}

_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def _and(a: Any, b: Any) -> Any:
    if isinstance(a, bool) and isinstance(b, bool):
        return a and b
    return z3.And(a, b)


# ---------------------------------------------------------------------------------------
# The interpreter


class Interp:
    """Evaluates one path of a call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # the bounds of each comprehension's range variable, by the variable's id
        self.ranges: dict[int, tuple[z3.ExprRef, Any, Any]] = {}

    # -- calls ---------------------------------------------------------------------------

    def call(self, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        node = function_ast(fn)
        try:
            self.exec_block(node.body, self.bind(fn, args, kwargs))
        except _Return as r:
            return r.value
        return None

    @staticmethod
    def bind(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> _Frame:
        """The frame of a call of fn: its parameters bound to the arguments."""
        bound = inspect.signature(fn).bind(*args, **kwargs)
        bound.apply_defaults()
        return _Frame(dict(bound.arguments), fn.__globals__)

    def loop_range(self, fn: Callable[..., Any], args: list[Any],
                   kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
        """(index, lo, hi) of a fold's loop (`fold_loop`), its bounds read from the arguments:
        the index a fresh constant of the bounds' sort."""
        loop = fold_loop(fn)
        assert isinstance(loop.target, ast.Name)
        lo, hi = self._range(loop.iter, self.bind(fn, args, kwargs))
        return self._index_var(loop.target.id, lo, hi)

    def call_iteration(self, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any],
                       index: Any) -> None:
        """One iteration of a fold's loop, at `index`, on these arguments."""
        loop = fold_loop(fn)
        assert isinstance(loop.target, ast.Name)
        try:
            self.exec_block(loop.body, self.bind(fn, args, kwargs).bind(loop.target.id, index))
        except _Return as r:
            raise Unsupported(f"{fn.__qualname__}: a fold's iteration returns") from r
        except _Break as b:
            raise Unsupported(f"{fn.__qualname__}: a fold's iteration breaks") from b

    def summary(self, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        """A call: inlined where the caller may fork; summarised where it may not (a loop
        body, a comprehension): the callee's paths are then explored on their own, on copies
        of the arguments, and merged into one value; it may neither change its arguments
        nor raise."""
        if self.path.forks_allowed:
            return self.call(fn, args, kwargs)
        context = [*self.path.context, *self.path.condition, *self.path.assumptions]
        out = run(fn, lambda: [_copy(a) for a in args], kwargs, assume=context or None)
        if out.obligations:
            raise Unsupported(f"{fn.__qualname__} has an each loop and is called inside a loop")
        for original, merged in zip(args, out.args, strict=True):
            if _changed(original, merged):
                # the call is made once for every index the binder ranges over: a change it
                # makes would be made once, not at each index (Choices.next in a comprehension)
                raise Unsupported(f"{fn.__qualname__} changes its arguments under a binder "
                                  "(in a comprehension, a loop's condition or a store's value)")
        self.path.assumptions.extend(out.assumptions)
        if not z3.is_false(z3.simplify(out.raised)):
            if not self.path.forks_allowed:
                raise Unsupported(f"{fn.__qualname__} may raise inside a loop or comprehension")
            if self.path.decide(out.raised):
                assert out.exception is not None
                raise _Raised(out.exception, out.exception_args)
        return out.result

    # -- statements ----------------------------------------------------------------------

    def exec_block(self, body: list[ast.stmt], frame: _Frame) -> None:
        for stmt in body:
            self.exec_stmt(stmt, frame)

    def exec_stmt(self, s: ast.stmt, frame: _Frame) -> None:
        if isinstance(s, ast.Expr):
            if not isinstance(s.value, ast.Constant):
                self.eval(s.value, frame)
        elif isinstance(s, ast.Assign):
            value = self.eval(s.value, frame)
            for target in s.targets:
                self.assign(target, value, frame)
        elif isinstance(s, ast.AnnAssign):
            if s.value is not None:
                self.assign(s.target, self.eval(s.value, frame), frame)
        elif isinstance(s, ast.AugAssign):
            current = self.eval(_load(s.target), frame)
            self.assign(s.target, self.binop(s.op, current, self.eval(s.value, frame)), frame)
        elif isinstance(s, ast.Return):
            raise _Return(None if s.value is None else self.eval(s.value, frame))
        elif isinstance(s, ast.If):
            if self.path.decide(self.truth(self.eval(s.test, frame))):
                self.exec_block(s.body, frame)
            else:
                self.exec_block(s.orelse, frame)
        elif isinstance(s, ast.For):
            self.exec_for(s, frame)
        elif isinstance(s, ast.Break):
            raise _Break()
        elif isinstance(s, ast.Raise) and isinstance(s.exc, ast.Call):
            cls = self.eval(s.exc.func, frame)
            raise _Raised(cls, tuple(self.eval(a, frame) for a in s.exc.args))
        elif isinstance(s, ast.Pass):
            pass
        else:
            raise Unsupported(f"statement {type(s).__name__} at line {s.lineno}")

    def assign(self, target: ast.expr, value: Any, frame: _Frame) -> None:
        if isinstance(target, ast.Name):
            frame.env[target.id] = value
        elif isinstance(target, ast.Tuple):
            values = list(value) if not is_sym(value) else None
            if values is None or len(values) != len(target.elts):
                raise Unsupported("tuple assignment from a non-tuple")
            for t, v in zip(target.elts, values, strict=True):
                self.assign(t, v, frame)
        elif isinstance(target, ast.Attribute):
            setattr(self.eval(target.value, frame), target.attr, value)
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value, frame)
            index = self.eval(target.slice, frame)
            if isinstance(container, SArray):
                container.set(index, value)
            elif is_sym(index) and isinstance(container, list | bytearray):
                raise Unsupported("a symbolic index into a concrete list")
            else:
                container[index] = value
        else:
            raise Unsupported(f"assignment to {type(target).__name__}")

    # -- loops ---------------------------------------------------------------------------

    def _range(self, it: ast.expr, frame: _Frame) -> tuple[Any, Any]:
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"):
            raise Unsupported("a loop over something other than range(...)")
        bounds = [self.eval(a, frame) for a in it.args]
        if len(bounds) == 1:
            return 0, bounds[0]
        if len(bounds) == 2:
            return bounds[0], bounds[1]
        raise Unsupported("range with a step")

    @staticmethod
    def _index_var(name: str, lo: Any, hi: Any) -> tuple[z3.ExprRef, Any, Any]:
        """The loop variable: a bit-vector where a bound is one, else an Int."""
        for bound in (hi, lo):
            if isinstance(bound, z3.BitVecRef):
                w = bound.size()
                lo = z3.BitVecVal(lo, w) if isinstance(lo, int) else lo
                hi = z3.BitVecVal(hi, w) if isinstance(hi, int) else hi
                return z3.BitVec(fresh_name(name), w), lo, hi
        return z3.Int(fresh_name(name)), lo, hi

    def _word_value(self, x: z3.BitVecRef) -> z3.ArithRef:
        """int(x). Of a word computed from others (an entry loaded from memory), an opaque
        value tied to x by an assumption: Z3 rewrites bv2int of a composite word into a sum
        over its parts, and then no longer sees that two equal words have equal values (a
        frame number read from a PTE, and the one the container layer handed out). Not under
        a binder (a comprehension's body, where no path may fork): an assumption there would
        name the bound variable as if it were free."""
        if (z3.is_const(x) or z3.is_bv_value(x) or x.decl().kind() == z3.Z3_OP_ZERO_EXT
                or not self.path.forks_allowed):
            return z3.BV2Int(x)
        value = z3.Function(f"word_value{x.size()}", x.sort(), z3.IntSort(x.ctx))
        self.path.assumptions.append(value(x) == z3.BV2Int(x))
        return value(x)

    @staticmethod
    def _in_range(k: z3.ExprRef, lo: Any, hi: Any) -> z3.BoolRef:
        if isinstance(k, z3.BitVecRef):
            return z3.And(z3.ULE(lo, k), z3.ULT(k, hi))
        return z3.And(lo <= k, k < hi)

    def exec_for(self, s: ast.For, frame: _Frame) -> None:
        if not isinstance(s.target, ast.Name) or s.orelse:
            raise Unsupported("a for loop needs a plain variable and no else")
        lo, hi = self._range(s.iter, frame)
        body = s.body
        if len(body) == 1 and isinstance(body[0], ast.If) and not body[0].orelse \
                and isinstance(body[0].body[-1], ast.Return | ast.Break):
            self.search_loop(s.target.id, lo, hi, body[0], frame)
        elif _each_call(body) is not None:
            test, call = _each_call(body)  # type: ignore[misc]
            self.each_loop(s.target.id, lo, hi, test, call, frame)
        else:
            self.map_loop(s.target.id, lo, hi, body, frame)

    def search_loop(self, var: str, lo: Any, hi: Any, test: ast.If, frame: _Frame) -> None:
        k, lo, hi = self._index_var(var, lo, hi)
        cond = self._pure(lambda: self.truth(self.eval(test.test, frame.bind(var, k))))
        cond_k = cond if isinstance(cond, z3.ExprRef) else z3.BoolVal(bool(cond))
        w = self._witness(var, k, lo, hi, cond_k)
        if self.path.decide(self._in_range(w, lo, hi)):
            frame.env[var] = w
            try:
                self.exec_block(test.body, frame)
            except _Break:
                return

    def _witness(self, var: str, k: z3.ExprRef, lo: Any, hi: Any, cond_k: z3.BoolRef) -> z3.ExprRef:
        """The least index in [lo, hi) where cond_k holds, or hi: a fresh constant and the
        assumption that defines it. A path that replays the decisions of an earlier one
        runs the same loops in the same states up to where it departs: the n-th search after
        the same decisions is the same search, and gets the same witness."""
        key = (*self.path.decisions[:self.path.pos], -1, self.path.searches)
        self.path.searches += 1
        if key not in self.path.witnesses:
            self.path.witnesses[key] = _search_witness(var, k, lo, hi, cond_k, self._in_range)
        w, defined = self.path.witnesses[key]
        self.path.assumptions.append(defined)
        return w

    def map_loop(self, var: str, lo: Any, hi: Any, body: list[ast.stmt], frame: _Frame) -> None:
        k, lo, hi = self._index_var(var, lo, hi)
        inner = frame.bind(var, k)
        writes: list[tuple[SArray, list[z3.ExprRef]]] = []

        def run() -> None:
            for stmt in body:
                if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                        and isinstance(stmt.targets[0], ast.Subscript)):
                    raise Unsupported(f"map loop bodies hold only stores X[i] = e (line {stmt.lineno})")
                target = stmt.targets[0]
                array = self.eval(target.value, inner)
                index = self.eval(target.slice, inner)
                if not isinstance(array, SArray) or not (isinstance(index, z3.ExprRef) and index.eq(k)):
                    raise Unsupported(f"a map loop stores at its own index only (line {stmt.lineno})")
                writes.append((array, flatten(array.ty.elem, self.eval(stmt.value, inner))))

        self._pure(run)
        in_range = self._in_range(k, lo, hi)
        for array, xs in writes:
            array.replace([z3.Lambda([k], z3.If(in_range, x, z3.Select(a, k)))
                           for a, x in zip(array.leaves, xs, strict=True)])

    def each_loop(self, var: str, lo: Any, hi: Any, test: ast.expr | None, call: ast.Call,
                  frame: _Frame) -> None:
        """`for i in range(lo, hi): [if c(i):] f(args)`, where iteration i changes the arrays
        of f's arguments at index i alone and reads them at index i alone (a kernel's walk
        over a table, each entry on its own). The callee is run once, at a fresh index k,
        with all its paths merged; each array it changes becomes
        `Lambda k. If(lo <= k < hi and c(k), after(k)[k], before[k])`. That the iterations
        are independent is not assumed but made an obligation of the run (`obligations`),
        which the goal proves with its conclusion: iteration k changes no other index
        (frame), and what it leaves at k depends on the changed arrays only at k
        (independence: run again on arrays that agree with them at k alone)."""
        if not self.path.forks_allowed:
            raise Unsupported(f"an each loop inside a loop body or comprehension (line {call.lineno})")
        k, lo, hi = self._index_var(var, lo, hi)
        inner = frame.bind(var, k)
        fn = self.eval(call.func, inner)
        if not _is_user_function(fn) or call.keywords:
            raise Unsupported(f"an each loop calls a Python function, positionally (line {call.lineno})")
        args = [self.eval(a, inner) for a in call.args]
        cond = self._in_range(k, lo, hi)
        if test is not None:
            cond = z3.And(cond, self.truth(self._pure(lambda: self.eval(test, inner))))
        context = [*self.path.context, *self.path.condition, *self.path.assumptions, cond]
        before = [flatten(ty, a) if ty is not None else [] for a, ty in ((a, _mutable_ty(a)) for a in args)]
        after = self._iteration(fn, [_copy(a) for a in args], context, k)
        changed: list[tuple[z3.ExprRef, z3.ExprRef]] = []
        for a, xs, b in zip(args, before, after, strict=True):
            ty = _mutable_ty(a)
            if ty is None:
                continue
            ys = flatten(ty, b)
            new = []
            for x, y in zip(xs, ys, strict=True):
                if y.eq(x):
                    new.append(x)
                    continue
                if not (z3.is_array(x) and x.domain().eq(k.sort())):
                    raise Unsupported(f"an each loop's iteration changes a scalar (line {call.lineno})")
                if _mentions(cond, x):
                    raise Unsupported(f"an each loop's condition reads what it changes (line {call.lineno})")
                changed.append((x, y))
                new.append(z3.Lambda([k], z3.If(cond, z3.Select(y, k), z3.Select(x, k))))
            _write_back(a, unflatten(ty, new))
        for a in args:
            if isinstance(a, z3.ExprRef) and any(_mentions(a, x) for x, _ in changed):
                raise Unsupported(f"an each loop's argument reads what the loop changes (line {call.lineno})")
        if changed:
            self.path.obligations.append(self._independent(fn, args, before, changed, context, cond, k))

    def _iteration(self, fn: Callable[..., Any], args: list[Any], context: list[z3.BoolRef],
                   k: z3.ExprRef) -> list[Any]:
        """The arguments after one iteration at k, all of the callee's paths merged."""
        out = run(fn, lambda: [_copy(a) for a in args], assume=context)
        if not z3.is_false(z3.simplify(out.raised)):
            raise Unsupported(f"{fn.__qualname__} may raise inside an each loop")
        if out.obligations or any(_mentions(x, k) for x in out.assumptions):
            raise Unsupported(f"{fn.__qualname__} in an each loop needs facts about its index")
        return out.args

    def _independent(self, fn: Callable[..., Any], args: list[Any], before: list[list[z3.ExprRef]],
                     changed: list[tuple[z3.ExprRef, z3.ExprRef]], context: list[z3.BoolRef],
                     cond: z3.BoolRef, k: z3.ExprRef) -> z3.BoolRef:
        j = z3.Const(fresh_name("other"), k.sort())
        frame = [z3.ForAll([j], z3.Implies(j != k, z3.Select(y, j) == z3.Select(x, j))) for x, y in changed]
        # the same iteration over arrays that agree with the changed ones at k, and only there
        other = {x.get_id(): z3.Const(fresh_name("elsewhere"), x.sort()) for x, _ in changed}
        tilde = []
        for a, xs in zip(args, before, strict=True):
            ty = _mutable_ty(a)
            tilde.append(a if ty is None else unflatten(ty, [other.get(x.get_id(), x) for x in xs]))
        after = self._iteration(fn, tilde, context, k)
        agree = [z3.Select(other[x.get_id()], k) == z3.Select(x, k) for x, _ in changed]
        ys = {x.get_id(): y for x, y in changed}
        same = []
        for a, xs, b in zip(args, before, after, strict=True):
            ty = _mutable_ty(a)
            if ty is not None:
                same += [z3.Select(y2, k) == z3.Select(ys[x.get_id()], k)
                         for x, y2 in zip(xs, flatten(ty, b), strict=True) if x.get_id() in ys]
        return z3.Implies(cond, z3.And(*frame, z3.Implies(z3.And(agree), z3.And(same))))

    def _pure(self, thunk: Callable[[], Any]) -> Any:
        saved = self.path.forks_allowed
        self.path.forks_allowed = False
        try:
            return thunk()
        finally:
            self.path.forks_allowed = saved

    # -- expressions ---------------------------------------------------------------------

    def truth(self, v: Any) -> Any:
        if isinstance(v, z3.ExprRef):
            if z3.is_bool(v):
                return v
            return v != 0
        if is_sym(v):
            raise Unsupported("truth value of a symbolic container")
        return bool(v)

    def eval(self, e: ast.expr, frame: _Frame) -> Any:
        method = getattr(self, f"eval_{type(e).__name__}", None)
        if method is None:
            raise Unsupported(f"expression {type(e).__name__} at line {getattr(e, 'lineno', '?')}")
        return method(e, frame)

    def eval_Constant(self, e: ast.Constant, frame: _Frame) -> Any:
        return e.value

    def eval_Name(self, e: ast.Name, frame: _Frame) -> Any:
        return frame.lookup(e.id)

    def eval_Attribute(self, e: ast.Attribute, frame: _Frame) -> Any:
        obj = self.eval(e.value, frame)
        return getattr(obj, e.attr)

    def eval_Tuple(self, e: ast.Tuple, frame: _Frame) -> Any:
        return tuple(self.eval(x, frame) for x in e.elts)

    def eval_Dict(self, e: ast.Dict, frame: _Frame) -> Any:
        if any(k is None for k in e.keys):
            raise Unsupported("** in a dict display")
        keys = [self.eval(k, frame) for k in e.keys if k is not None]
        if any(is_sym(k) for k in keys):
            raise Unsupported("a dict display with a symbolic key")
        return dict(zip(keys, (self.eval(v, frame) for v in e.values), strict=True))

    def eval_List(self, e: ast.List, frame: _Frame) -> Any:
        return [self.eval(x, frame) for x in e.elts]

    def eval_Subscript(self, e: ast.Subscript, frame: _Frame) -> Any:
        obj = self.eval(e.value, frame)
        if isinstance(e.slice, ast.Slice):
            if e.slice.step is not None:
                raise Unsupported("slice with a step")
            lo = None if e.slice.lower is None else self.eval(e.slice.lower, frame)
            hi = None if e.slice.upper is None else self.eval(e.slice.upper, frame)
            if isinstance(obj, SSeq):
                return obj.slice(lo, hi)
            if isinstance(obj, SArray) and lo in (None, 0):
                return obj.prefix(hi)
            if is_sym(obj) or is_sym(lo) or is_sym(hi):
                if isinstance(obj, tuple | bytes):
                    return _lift_seq(obj).slice(lo, hi)
                raise Unsupported("this slice")
            return obj[lo:hi]
        index = self.eval(e.slice, frame)
        if isinstance(obj, SSeq | SArray):
            return obj.get(index)
        if isinstance(obj, SMap):
            return obj.get(index)
        if is_sym(index):
            if isinstance(obj, tuple | bytes):
                return _lift_seq(obj).get(index)
            raise Unsupported("a symbolic index into a concrete container")
        return obj[index]

    def binop(self, op: ast.operator, a: Any, b: Any) -> Any:
        if isinstance(op, ast.Add) and (isinstance(a, SSeq) or isinstance(b, SSeq)):
            a, b = _as_seq(a, b), _as_seq(b, a)
            if isinstance(b, SSeq) and isinstance(a, SSeq):
                if z3.is_int_value(z3.simplify(b.length)) and z3.simplify(b.length).as_long() == 1:
                    return a.append(b.get(0))
                return a.concat(b)
        if isinstance(op, ast.Mult) and isinstance(a, list) and len(a) == 1:
            return SArray(ArrT(ty_of_value(a[0])), const_array(ty_of_value(a[0]), a[0]))
        if isinstance(op, ast.FloorDiv):
            if isinstance(a, z3.BitVecRef) or isinstance(b, z3.BitVecRef):
                return z3.UDiv(a, b)
            return a // b if not is_sym(a) and not is_sym(b) else a / b
        if isinstance(op, ast.Mod):
            if isinstance(a, z3.BitVecRef) or isinstance(b, z3.BitVecRef):
                return z3.URem(a, b)
            return a % b
        if isinstance(op, ast.RShift):
            if isinstance(a, z3.BitVecRef):
                return z3.LShR(a, b)
            return a >> b
        fn = _BINOPS.get(type(op))
        if fn is None:
            raise Unsupported(f"operator {type(op).__name__}")
        return fn(a, b)

    def eval_BinOp(self, e: ast.BinOp, frame: _Frame) -> Any:
        return self.binop(e.op, self.eval(e.left, frame), self.eval(e.right, frame))

    def eval_UnaryOp(self, e: ast.UnaryOp, frame: _Frame) -> Any:
        v = self.eval(e.operand, frame)
        if isinstance(e.op, ast.Not):
            t = self.truth(v)
            return z3.Not(t) if isinstance(t, z3.ExprRef) else not t
        if isinstance(e.op, ast.USub):
            return -v
        if isinstance(e.op, ast.Invert):
            return ~v
        raise Unsupported(f"unary {type(e.op).__name__}")

    def eval_BoolOp(self, e: ast.BoolOp, frame: _Frame) -> Any:
        # Both sides are evaluated: symbolic reads are total, so this is safe, and the
        # result is the Boolean the condition means (and/or over truth values only).
        values = [self.truth(self.eval(v, frame)) for v in e.values]
        if all(isinstance(v, bool) for v in values):
            return all(values) if isinstance(e.op, ast.And) else any(values)
        return z3.And(values) if isinstance(e.op, ast.And) else z3.Or(values)

    def eval_Compare(self, e: ast.Compare, frame: _Frame) -> Any:
        left = self.eval(e.left, frame)
        result: Any = True
        for op, right_e in zip(e.ops, e.comparators, strict=True):
            right = self.eval(right_e, frame)
            result = _and(result, self.compare(op, left, right))
            left = right
        return result

    def compare(self, op: ast.cmpop, a: Any, b: Any) -> Any:
        if isinstance(op, ast.Eq | ast.NotEq):
            if is_sym(a) or is_sym(b) or dataclasses.is_dataclass(a):
                ty = ty_of_value(a if is_sym(a) or dataclasses.is_dataclass(a) else b)
                eq = equal(ty, a, b)
                return eq if isinstance(op, ast.Eq) else z3.Not(eq)
            return a == b if isinstance(op, ast.Eq) else a != b
        if isinstance(op, ast.In | ast.NotIn):
            if isinstance(b, SMap):
                r = b.__contains__(a)
            elif isinstance(b, SSeq):  # a member of a sequence: some element in range equals it
                k = z3.Int(fresh_name("k"))
                r = z3.Exists([k], z3.And(0 <= k, k < b.length, equal(b.ty.elem, b.get(k), a)))
            elif isinstance(b, Map | dict) and is_sym(a):
                r = z3.Or([a == k for k in b]) if len(b) else z3.BoolVal(False)
            elif is_sym(a) or is_sym(b):
                raise Unsupported("`in` on this container")
            else:
                r = a in b
            if isinstance(op, ast.In):
                return r
            return z3.Not(r) if isinstance(r, z3.ExprRef) else not r
        if isinstance(op, ast.Is | ast.IsNot):
            if is_sym(a) or is_sym(b):
                raise Unsupported("`is` on a symbolic value")
            return (a is b) if isinstance(op, ast.Is) else (a is not b)
        fn = _CMPOPS.get(type(op))
        if fn is None:
            raise Unsupported(f"comparison {type(op).__name__}")
        # a machine word against an integer term: as Python compares them, by the word's value
        if isinstance(a, z3.BitVecRef) and isinstance(b, z3.ArithRef):
            a = z3.BV2Int(a)
        elif isinstance(b, z3.BitVecRef) and isinstance(a, z3.ArithRef):
            b = z3.BV2Int(b)
        if isinstance(a, z3.BitVecRef) or isinstance(b, z3.BitVecRef):
            fn = {ast.Lt: z3.ULT, ast.LtE: z3.ULE, ast.Gt: z3.UGT, ast.GtE: z3.UGE}[type(op)]
        return fn(a, b)

    def eval_IfExp(self, e: ast.IfExp, frame: _Frame) -> Any:
        c = self.truth(self.eval(e.test, frame))
        if isinstance(c, bool):
            return self.eval(e.body if c else e.orelse, frame)
        a = self.eval(e.body, frame)
        b = self.eval(e.orelse, frame)
        ty = ty_of_value(a if is_sym(a) or not isinstance(b, z3.ExprRef | SSeq) else b)
        return ite(c, ty, a, b)

    def eval_Call(self, e: ast.Call, frame: _Frame) -> Any:
        fn = self.eval(e.func, frame)
        if fn in (tuple, list, bytes, bytearray) and len(e.args) == 1 \
                and isinstance(e.args[0], ast.GeneratorExp | ast.ListComp):
            return self.comprehension(fn, e.args[0], frame)
        if fn is all and len(e.args) == 1 and isinstance(e.args[0], ast.GeneratorExp):
            return self.forall(e.args[0], frame)
        if fn is any and len(e.args) == 1 and isinstance(e.args[0], ast.GeneratorExp):
            return self.exists(e.args[0], frame)
        if fn is sum and len(e.args) == 1 and isinstance(e.args[0], ast.GeneratorExp):
            return self.finite_sum(e.args[0], frame)
        if fn is Map and len(e.args) == 1 and isinstance(e.args[0], ast.DictComp):
            return self.map_comprehension(e.args[0], frame)
        if fn is Map and len(e.args) == 1 and isinstance(e.args[0], ast.Dict) and e.args[0].keys \
                and all(k is not None for k in e.args[0].keys):
            pairs = [(self.eval(k, frame), self.eval(v, frame))
                     for k, v in zip(e.args[0].keys, e.args[0].values, strict=True) if k is not None]
            if any(is_sym(k) for k, _ in pairs):
                return _map_display(pairs)
        args = []
        for a in e.args:
            if isinstance(a, ast.Starred):
                args.extend(self.eval(a.value, frame))
            else:
                args.append(self.eval(a, frame))
        kwargs = {k.arg: self.eval(k.value, frame) for k in e.keywords if k.arg is not None}
        anything_symbolic = any(is_sym(a) for a in args) or any(is_sym(v) for v in kwargs.values())
        if isinstance(fn, Given):
            return fn(*args, **kwargs)
        if callable(symbolic_call := getattr(fn, "symbolic_call", None)):
            # a stand-in that says what its call means symbolically (proofs.engine.standins)
            return symbolic_call(self.path, args, kwargs)
        if fn in WORDS:
            (x,) = args
            return _word(x, WORDS[fn])
        if fn is int and len(args) == 1 and isinstance(args[0], z3.BitVecRef):
            return self._word_value(args[0])
        if fn is len:
            (x,) = args
            if isinstance(x, SSeq) or (isinstance(x, SArray) and x.ty.sized):
                return x.length
            if isinstance(x, SMap):
                return self.count_keys(x)
            if is_sym(x):
                raise Unsupported("len of an array without a length")
            return len(x)
        if fn is bytes and len(args) == 1 and isinstance(args[0], SSeq):
            return args[0]
        if fn is bytearray and len(args) == 1 and isinstance(args[0], SArray) and args[0].ty.sized:
            # a copy of a buffer or of memory: the same bytes, which stores then change
            return SArray(args[0].ty, list(args[0].leaves), length=args[0].length)
        if fn is bytearray and len(args) == 1 and is_sym(args[0]):
            return SArray(BUFFER, const_array(U8, 0), length=args[0])
        if fn in (min, max) and len(args) == 2 and anything_symbolic:
            a, b = args
            return ite(a <= b if fn is min else a >= b, INT, a, b)
        if isinstance(fn, type) and dataclasses.is_dataclass(fn):
            return _construct(fn, args, kwargs)
        if fn is dataclasses.replace:
            return dataclasses.replace(*args, **kwargs)
        if isinstance(getattr(fn, "__self__", None), SMap | SSeq | SArray):
            return fn(*args, **kwargs)
        holds_symbolic = any(map(_holds_sym, args)) or any(map(_holds_sym, kwargs.values()))
        if _is_user_function(fn) and (holds_symbolic or getattr(fn, "__module__", "").startswith(
                ("spec", "impl", "proofs"))):
            return self.summary(fn, args, kwargs)
        if anything_symbolic:
            raise Unsupported(f"call of {getattr(fn, '__qualname__', fn)!r} on symbolic values")
        return fn(*args, **kwargs)

    def eval_ListComp(self, e: ast.ListComp, frame: _Frame) -> Any:
        return self.comprehension(list, e, frame)

    def comprehension(self, kind: type, g: ast.GeneratorExp | ast.ListComp, frame: _Frame) -> Any:
        (gen,) = g.generators
        if gen.ifs or not isinstance(gen.target, ast.Name):
            raise Unsupported("a comprehension with a filter or a pattern")
        lo, hi = self._range(gen.iter, frame)
        k, lo, hi = self._index_var(gen.target.id, lo, hi)
        elem = self._pure(lambda: self.eval(g.elt, frame.bind(gen.target.id, k)))
        if isinstance(elem, list) and not elem:
            return UNDEFINED
        ty = BYTES.elem if kind in (bytes, bytearray) else ty_of_value(elem)
        if kind in (tuple, bytes) and isinstance(k, z3.BitVecRef):
            # a sequence is indexed by ints: element j is the one at the word lo + j
            j = z3.Int(fresh_name(gen.target.id))
            leaves = [z3.Lambda([j], z3.substitute(x, (k, lo + z3.Int2BV(j, k.size()))))
                      for x in flatten(ty, elem)]
            return SSeq(SeqT(ty, kind), z3.If(z3.UGE(hi, lo), z3.BV2Int(hi - lo), 0), leaves)
        leaves = [z3.Lambda([k], z3.substitute(x, (k, k + lo))) for x in flatten(ty, elem)]
        if kind in (tuple, bytes):
            return SSeq(SeqT(ty, kind), z3.If(hi >= lo, hi - lo, 0), leaves)
        if isinstance(k, z3.BitVecRef):  # a word-indexed array, as physical memory
            return SArray(ArrT(ty, kind, index=BVT(k.size()), sized=True), leaves,
                          length=z3.If(z3.UGE(hi, lo), hi - lo, z3.BitVecVal(0, k.size())))
        return SArray(ArrT(ty, kind), leaves)


    def _generator(self, g: ast.GeneratorExp | ast.ListComp | ast.DictComp,
                   frame: _Frame) -> tuple[z3.ExprRef, z3.BoolRef, _Frame, list[Any]]:
        """The variable of a one-clause generator, the condition that it is in the domain
        (a range, or the keys of a map), the frame that binds it, and the filters."""
        (gen,) = g.generators
        items = _items_of(gen)
        if items is not None:  # for key, value in m.items()
            (key_name, value_name), of = items
            domain = self.eval(of, frame)
            if not isinstance(domain, SMap):
                raise Unsupported("items() of something other than a map")
            k = z3.Const(fresh_name(key_name), domain.ty.key.sorts()[0])
            value = unflatten(domain.ty.value, [z3.Select(a, k) for a in domain.values])
            inner = frame.bind(key_name, unflatten(domain.ty.key, [k])).bind(value_name, value)
            conds = self._pure(lambda: [self.truth(self.eval(c, inner)) for c in gen.ifs])
            return k, z3.Select(domain.present, k), inner, conds
        if not isinstance(gen.target, ast.Name):
            raise Unsupported("a comprehension over a pattern")
        domain = None if _is_range(gen.iter) else self.eval(gen.iter, frame)
        if isinstance(domain, SMap):
            k = z3.Const(fresh_name(gen.target.id), domain.ty.key.sorts()[0])
            in_domain = z3.Select(domain.present, k)
            inner = frame.bind(gen.target.id, unflatten(domain.ty.key, [k]))
            conds = self._pure(lambda: [self.truth(self.eval(c, inner)) for c in gen.ifs])
            return k, in_domain, inner, conds
        elif domain is None:
            lo, hi = self._range(gen.iter, frame)
            k, lo, hi = self._index_var(gen.target.id, lo, hi)
            in_domain = self._in_range(k, lo, hi)
            self.ranges[k.get_id()] = (k, lo, hi)  # kept with k, so that its id stays its own
        else:
            raise Unsupported("a comprehension over something other than a range or a map")
        inner = frame.bind(gen.target.id, k)
        conds = self._pure(lambda: [self.truth(self.eval(c, inner)) for c in gen.ifs])
        return k, in_domain, inner, conds

    def _each(self, g: ast.GeneratorExp, frame: _Frame) -> list[tuple[z3.BoolRef, z3.BoolRef]] | None:
        """(filters, element) at each member of a domain of concrete length: a map with
        concrete keys (a boot state's), or a Python list or tuple, whose members may be
        terms; None where the domain is symbolic."""
        (gen,) = g.generators
        if _is_range(gen.iter) or not isinstance(gen.target, ast.Name):
            return None
        domain = self.eval(gen.iter, frame)
        symbolic_keys = isinstance(domain, Map) and any(map(is_sym, domain))
        if not isinstance(domain, Map | list | tuple) or symbolic_keys:
            return None
        def at(x: Any) -> tuple[z3.BoolRef, z3.BoolRef]:
            inner = frame.bind(gen.target.id, x)
            conds = [self.truth(self.eval(c, inner)) for c in gen.ifs]
            return z3.And(True, *conds), z3.And(True, self.truth(self.eval(g.elt, inner)))
        return [self._pure(lambda x=x: at(x)) for x in domain]

    def forall(self, g: ast.GeneratorExp, frame: _Frame) -> Any:
        if (each := self._each(g, frame)) is not None:
            return z3.And(True, *[z3.Implies(c, body) for c, body in each])
        k, in_domain, inner, conds = self._generator(g, frame)
        body = self._pure(lambda: self.truth(self.eval(g.elt, inner)))
        if isinstance(body, bool):
            body = z3.BoolVal(body)
        return z3.ForAll([k], z3.Implies(z3.And(in_domain, *conds), body))

    def exists(self, g: ast.GeneratorExp, frame: _Frame) -> Any:
        if (each := self._each(g, frame)) is not None:
            return z3.Or(False, *[z3.And(c, body) for c, body in each])
        k, in_domain, inner, conds = self._generator(g, frame)
        body = self._pure(lambda: self.truth(self.eval(g.elt, inner)))
        if isinstance(body, bool):
            body = z3.BoolVal(body)
        return z3.Exists([k], z3.And(in_domain, *conds, body))

    def finite_sum(self, g: ast.GeneratorExp, frame: _Frame) -> Any:
        """A sum over a range with constant bounds (a tree's arity, say), written out; or
        `sum(1 for key in m if ...)`, how many keys of a map pass the filters: their set's
        cardinality, a function of the set. Of a map built from a range, and outside a
        binder, it is the count of the slots whose keys pass (`slots_counted`)."""
        (gen,) = g.generators
        if not _is_range(gen.iter):
            if not (isinstance(g.elt, ast.Constant) and g.elt.value == 1):
                raise Unsupported("a sum over a map of anything but 1 (a count)")
            k, in_domain, _, conds = self._generator(g, frame)
            n = _card(k, z3.And(in_domain, *conds))
            domain = self._pure(lambda: self.eval(gen.iter, frame))
            if self.path.forks_allowed and isinstance(domain, SMap) and domain.source is not None:
                slot, member, key, lo, hi = domain.source
                counted = z3.And(member, *[z3.substitute(c, (k, key)) for c in conds])
                self.path.assumptions.extend(slots_counted(n, slot, counted, lo, hi))
            return n
        lo, hi = (x.as_long() if isinstance(x, z3.IntNumRef) else x for x in self._range(gen.iter, frame))
        if is_sym(lo) or is_sym(hi) or gen.ifs or not isinstance(gen.target, ast.Name):
            raise Unsupported("sum over a range whose bounds are not constants")
        name = gen.target.id
        terms = [self._pure(lambda i=i: self.eval(g.elt, frame.bind(name, i))) for i in range(lo, hi)]
        total: Any = 0
        for t in terms:
            total = total + t
        return total

    def count_keys(self, m: SMap) -> Any:
        """len(m): the number of its keys, as `sum(1 for key in m)` counts them."""
        k = z3.Const(fresh_name("key"), m.ty.key.sorts()[0])
        n = _card(k, z3.Select(m.present, k))
        if self.path.forks_allowed and m.source is not None:
            slot, member, key, lo, hi = m.source
            self.path.assumptions.extend(slots_counted(n, slot, member, lo, hi))
        return n

    def map_comprehension(self, g: ast.DictComp, frame: _Frame) -> SMap:
        k, in_domain, inner, conds = self._generator(g, frame)
        key = self._pure(lambda: self.eval(g.key, inner))
        value = self._pure(lambda: self.eval(g.value, inner))
        key_ty = TupT(tuple(ty_of_value(x) for x in key)) if isinstance(key, tuple) else ty_of_value(key)
        bounds = self.ranges.get(k.get_id())
        if flatten(key_ty, key)[0].eq(k):  # keyed by its variable (a map's own keys)
            ty = MapT(ty_of_value(value), key=key_ty)
            member = z3.And(in_domain, *conds)
            present = z3.Lambda([k], member)
            # over a range, its keys are the slots it keeps: counted as they are
            return SMap(ty, present, [z3.Lambda([k], x) for x in flatten(ty.value, value)],
                        source=None if bounds is None else (k, member, k, *bounds[1:]))
        return self.keyed_comprehension(k, z3.And(in_domain, *conds), key_ty, key, value,
                                        None if bounds is None else bounds[1:])

    def keyed_comprehension(self, k: z3.ExprRef, member: z3.BoolRef, key_ty: Any, key: Any,
                            value: Any, bounds: tuple[Any, Any] | None = None) -> SMap:
        """{key(k): value(k) for k in a domain}, with a key computed from k (a subscription
        slot's (pid, topic)). Where the value depends on k, the key must be one-to-one on
        the domain, else Python keeps the last k of a key and the map is not what is written
        here: that is an obligation of the run. The k of a key is then inverse(key): where
        the key is one-to-one the inverse is assumed to undo it (ForAll k. inverse(key(k))
        == k), so membership and values read without a quantifier: K is present iff
        inverse(K) is in the domain with key K. Where the value does not depend on k
        ({frame: pid for ...}), any k of a key gives the map as written: the inverse is
        assumed only to pick one, and no key need be one to one. The inverse is one function
        per (domain, key), shared by every comprehension with both, so two maps built alike
        are alike term for term."""
        if not isinstance(key_ty, TupT | IntT | BVT | BoolT):
            raise Unsupported("a map comprehension keyed by a value that is not a scalar or a tuple")
        kt = flatten(key_ty, key)[0]
        one_value = not any(z3.is_expr(x) and _mentions(x, k) for x in flatten(ty_of_value(value), value))
        inverse = _inverse(k, member, kt, None if bounds is None else bounds[1]) if one_value \
            else _inverse(k, member, kt)
        if not one_value:
            a, b = z3.Const(fresh_name("a"), k.sort()), z3.Const(fresh_name("b"), k.sort())
            at_a, at_b = (lambda e: z3.substitute(e, (k, a))), (lambda e: z3.substitute(e, (k, b)))
            same = z3.And(at_a(member), at_b(member), at_a(kt) == at_b(kt))
            one_to_one = z3.ForAll([a, b], z3.Implies(same, a == b))
            self.path.obligations.append(one_to_one)
            self.path.assumptions.append(
                z3.Implies(one_to_one, z3.ForAll([k], z3.Implies(member, inverse(kt) == k))))
        else:
            # one value for every key ({frame: pid for ...}): the map is as written whichever
            # k of a key Python keeps, so the keys need not be one to one; the inverse picks
            # one k of each key (the least, say: one in every domain of a shared inverse
            # that holds any, as they are nested)
            back = inverse(kt)
            self.path.assumptions.append(z3.ForAll([k], z3.Implies(
                member, z3.And(z3.substitute(member, (k, back)), z3.substitute(kt, (k, back)) == kt))))
        # one name for the bound key of every such map: Z3 keeps a binder's name in its
        # term, and two maps built alike must be one term
        K = z3.Const("keyed!key", kt.sort())
        def at_key(e: z3.ExprRef) -> z3.ExprRef:
            return z3.substitute(e, (k, inverse(K)))
        ty = MapT(ty_of_value(value), key=key_ty)
        present = z3.Lambda([K], z3.And(at_key(member), at_key(kt) == K))
        return SMap(ty, present, [z3.Lambda([K], at_key(x)) for x in flatten(ty.value, value)],
                    source=None if bounds is None else (k, member, kt, *bounds))


_inverses: dict[tuple[int, int], tuple[z3.FuncDeclRef, z3.ExprRef, z3.ExprRef]] = {}


def _inverse(k: z3.ExprRef, member: z3.BoolRef, key: z3.ExprRef,
             hi: z3.ExprRef | None = None) -> z3.FuncDeclRef:
    """The function that takes a keyed comprehension's key back to its k: one per
    (domain, key), named by their terms with k bound (equal terms, one id). Given hi (a map
    of one value), domains that differ only in the upper bound hi of their range (k < hi
    the one place hi appears) share one: they are nested, so the least k of a key in the
    larger is one in the smaller where it has any, and one inverse serves both (the frames
    [0, i) and [0, i + 1) of an induction step). Other maps keep one inverse per exact
    domain."""
    bound = z3.Const("keyed!k", k.sort())  # one name, as for the map's key
    domain = z3.Lambda([bound], z3.substitute(member, (k, bound)))
    keyed = z3.Lambda([bound], z3.substitute(key, (k, bound)))
    if hi is not None and is_sym(hi):
        top = z3.Const("keyed!hi", hi.sort())
        upto = z3.substitute(member, (hi, top))
        if (z3.substitute(key, (hi, top)).eq(key)
                and not _mentions(z3.substitute(upto, (k < top, z3.BoolVal(True))), top)):
            # binders named by position: two keys built alike are one term whatever their names
            domain = canonical(z3.Lambda([bound], z3.substitute(upto, (k, bound))))
            keyed = canonical(keyed)
    ident = (domain.get_id(), keyed.get_id())
    if ident not in _inverses:  # the terms are kept, so that their ids stay theirs
        f = z3.Function(fresh_name("inverse"), key.sort(), k.sort())
        _inverses[ident] = (f, domain, keyed)
    return _inverses[ident][0]


# every search made, by what it searches: (condition as a lambda, lo, hi) -> (witness, definition)
_SEARCHES: dict[tuple[int, int, int], tuple[z3.ExprRef, z3.BoolRef, tuple[z3.ExprRef, ...]]] = {}


def _search_witness(var: str, k: z3.ExprRef, lo: Any, hi: Any, cond_k: z3.BoolRef,
                    in_range: Callable[[z3.ExprRef, Any, Any], z3.BoolRef]) -> tuple[z3.ExprRef, z3.BoolRef]:
    """The witness of a search for the least k in [lo, hi) where cond_k holds, and its
    definition. The least such index is one value, so the same search made twice (the
    impl's and the spec's lookup of one name, in two runs) gets the same witness: the
    solver then need not prove that two witnesses agree, which asks it to instantiate each
    definition's quantifier at the other's witness."""
    lo_, hi_ = (_lift_bound(b, k) for b in (lo, hi))
    searched = canonical(z3.Lambda([k], cond_k))
    key = (searched.get_id(), lo_.get_id(), hi_.get_id())
    if key not in _SEARCHES:
        w = z3.Const(fresh_name(f"first_{var}"), k.sort())
        found = z3.And(in_range(w, lo, hi), z3.substitute(cond_k, (k, w)))
        none_before = z3.ForAll([k], z3.Implies(in_range(k, lo, w), z3.Not(cond_k)))
        _SEARCHES[key] = (w, z3.And(z3.Or(found, w == hi), none_before), (searched, lo_, hi_))
    w, defined, _ = _SEARCHES[key]
    return w, defined


def _lift_bound(b: Any, k: z3.ExprRef) -> z3.ExprRef:
    if isinstance(b, z3.ExprRef):
        return b
    return z3.BitVecVal(b, k.size()) if isinstance(k, z3.BitVecRef) else z3.IntVal(b)


def _map_display(pairs: list[tuple[Any, Any]]) -> SMap:
    """Map({k: v, ...}) with a symbolic key: stores into an empty map."""
    key_ty, value_ty = ty_of_value(pairs[0][0]), ty_of_value(pairs[0][1])
    ty = MapT(value_ty, key=key_ty)
    content = [x for k, v in pairs for x in (*flatten(key_ty, k), *flatten(value_ty, v))]
    out = SMap(ty, z3.K(key_ty.sorts()[0], z3.BoolVal(False)),
               [z3.K(key_ty.sorts()[0], unspecified(s, content)) for s in value_ty.sorts()])
    for k, v in pairs:
        out = out.set(k, v)
    return out


def _each_call(body: list[ast.stmt]) -> tuple[ast.expr | None, ast.Call] | None:
    """(condition, call) of an each loop's body: `f(args)` or `if c: f(args)`."""
    if len(body) != 1:
        return None
    stmt, test = body[0], None
    if isinstance(stmt, ast.If) and not stmt.orelse and len(stmt.body) == 1:
        stmt, test = stmt.body[0], stmt.test
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return test, stmt.value
    return None


def _mutable_ty(v: Any) -> Any:
    """The type of an argument a callee may change in place (a kernel record or array)."""
    if isinstance(v, SArray):
        return v.ty
    if _mutable_record(v):
        return RecT(type(v))
    return None


def _mentions(term: z3.ExprRef, x: z3.ExprRef) -> bool:
    """x occurs in term."""
    return any(t.eq(x) for t in subterms(term))


def _items_of(gen: ast.comprehension) -> tuple[tuple[str, str], ast.expr] | None:
    """((key, value), m) of a generator `for key, value in m.items()`, else None."""
    it, target = gen.iter, gen.target
    if (isinstance(target, ast.Tuple) and len(target.elts) == 2
            and all(isinstance(x, ast.Name) for x in target.elts) and isinstance(it, ast.Call)
            and not it.args and isinstance(it.func, ast.Attribute) and it.func.attr == "items"):
        key, value = target.elts
        assert isinstance(key, ast.Name) and isinstance(value, ast.Name)
        return (key.id, value.id), it.func.value
    return None


def _card(k: z3.ExprRef, member: z3.BoolRef) -> z3.ArithRef:
    """The number of k where member holds: one uninterpreted function of the set per sort,
    the set's binder named alike everywhere, so that one count is one term."""
    bound = z3.Const("counted!k", k.sort())
    members = z3.Lambda([bound], z3.substitute(member, (k, bound)))
    return z3.Function(f"card!{k.sort()}", members.sort(), z3.IntSort())(members)


def slots_counted(n: z3.ArithRef, s: z3.ExprRef, counted: z3.BoolRef, lo: Any, hi: Any) -> list[z3.BoolRef]:
    """n, a number of keys, is the number of slots s in [lo, hi) where counted holds (of a
    map built from a range: the slots whose keys are counted; the keys are one to one, an
    obligation of the map's run). Said twice: by a bijection between those s and [0, n)
    (`counted_exactly`, which pins n where the slots are concrete), and, of int slots, as
    `counting.count` of them with the lemmas proved of it (`counting.facts`: a set of slots
    as large as the range is all of it, which a bijection does not give the solver)."""
    facts = [counted_exactly(n, s, counted)]
    if isinstance(s, z3.ArithRef) and s.is_int():
        bound = z3.Const("counted!k", s.sort())  # one name, so that one set is one term
        members = z3.Lambda([bound], z3.substitute(counted, (s, bound)))
        lo, hi = (z3.IntVal(x) if isinstance(x, int) else x for x in (lo, hi))
        facts += [n == counting.count(members, lo, hi), *counting.facts(members, lo, hi)]
    return facts


def counted_exactly(n: z3.ArithRef, s: z3.ExprRef, counted: z3.BoolRef) -> z3.BoolRef:
    """n is the number of s where counted holds: a bijection between those s and [0, n),
    by rank and its inverse enum. Stated over the range's ints, not over the keys, so that
    a model is found where a claim fails."""
    rank = z3.Function(fresh_name("rank"), s.sort(), z3.IntSort())
    enum = z3.Function(fresh_name("enum"), z3.IntSort(), s.sort())
    i = z3.Int(fresh_name("i"))
    at = z3.substitute(counted, (s, enum(i)))
    return z3.And(
        n >= 0,
        z3.ForAll([s], z3.Implies(counted, z3.And(0 <= rank(s), rank(s) < n, enum(rank(s)) == s))),
        z3.ForAll([i], z3.Implies(z3.And(0 <= i, i < n), z3.And(at, rank(enum(i)) == i))))


def _holds_sym(v: Any) -> bool:
    """v is symbolic, or a record or tuple with a symbolic part."""
    if is_sym(v):
        return True
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return any(_holds_sym(getattr(v, f.name)) for f in dataclasses.fields(v))
    return isinstance(v, tuple) and any(map(_holds_sym, v))


def _is_range(it: ast.expr) -> bool:
    return isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"


def _mutable_record(v: Any) -> bool:
    return dataclasses.is_dataclass(v) and not isinstance(v, type) \
        and not type(v).__dataclass_params__.frozen  # type: ignore[attr-defined]


def _copy(v: Any) -> Any:
    """A copy a callee may change without touching v (symbolic leaves are immutable)."""
    if isinstance(v, SArray):
        return SArray(v.ty, list(v.leaves), length=v.length)
    if _mutable_record(v):
        ty = RecT(type(v))
        return unflatten(ty, flatten(ty, v))
    return v


def _write_back(original: Any, merged: Any) -> None:
    if isinstance(original, SArray):
        original.replace(list(merged.leaves))
    elif _mutable_record(original):
        for f in dataclasses.fields(original):
            value = getattr(merged, f.name)
            current = getattr(original, f.name)
            if isinstance(current, SArray):
                current.replace(list(value.leaves))
            else:
                setattr(original, f.name, value)


def _changed(original: Any, merged: Any) -> bool:
    """The run left this argument other than it was given (only an array or a mutable
    record can be changed; a change that leaves the same terms is none)."""
    if isinstance(original, SArray):
        return not all(a.eq(b) for a, b in zip(original.leaves, merged.leaves, strict=True))
    if _mutable_record(original):
        ty = RecT(type(original))
        return not all(a.eq(b) for a, b in zip(flatten(ty, original), flatten(ty, merged), strict=True))
    return False


class _Undefined:
    """Contents no path may read (a C pointer left NULL): any value of the field's type."""


UNDEFINED = _Undefined()


def _construct(cls: type, args: list[Any], kwargs: dict[str, Any]) -> Any:
    names = [f.name for f in dataclasses.fields(cls)]
    values = {**dict(zip(names, args, strict=False)), **kwargs}
    for name, v in values.items():
        if v is UNDEFINED or _is_zero_buffer(v):  # the field's type is needed only then
            ty = dict(RecT(cls).fields)[name]
            if v is UNDEFINED:
                values[name] = unflatten(ty, [z3.FreshConst(s, "undef") for s in ty.sorts()])
            elif _is_memory(ty):
                values[name] = _as_memory(ty, v)
    return cls(**values)


def _is_zero_buffer(v: Any) -> bool:
    """v is a new ``bytearray(n)`` of a symbolic length n."""
    return isinstance(v, SArray) and v.ty == BUFFER and v.length is not None


def _is_memory(ty: Ty) -> bool:
    """ty is a byte array addressed by words that carries its length (physical memory)."""
    return isinstance(ty, ArrT) and ty.sized and isinstance(ty.index, BVT)


def _as_memory(ty: ArrT, buf: SArray) -> SArray:
    """A new zeroed buffer stored where the type asks for memory: zeros at every address,
    its length the word of n (``PhysMem`` is indexed by a machine word)."""
    width = cast(BVT, ty.index).width
    return SArray(ty, const_array(U8, 0, ty.index), length=_word(buf.length, width))


def _as_seq(x: Any, other: Any) -> Any:
    if isinstance(x, SSeq):
        return x
    if isinstance(x, tuple | bytes):
        return _lift_seq(x, other.ty if isinstance(other, SSeq) else None)
    return x


def _lift_seq(x: tuple[Any, ...] | bytes, ty: SeqT | None = None) -> SSeq:
    if ty is None:
        ty = BYTES if isinstance(x, bytes) else SeqT(ty_of_value(x[0]))
    return unflatten(ty, flatten(ty, x))


def _load(target: ast.expr) -> ast.expr:
    node = ast.parse(ast.unparse(target), mode="eval").body
    return node


class _Frame:
    def __init__(self, env: dict[str, Any], globals_: dict[str, Any]) -> None:
        self.env = env
        self.globals = globals_

    def bind(self, name: str, value: Any) -> _Frame:
        return _Frame({**self.env, name: value}, self.globals)

    def lookup(self, name: str) -> Any:
        if name in self.env:
            return self.env[name]
        if name in self.globals:
            return self.globals[name]
        if hasattr(builtins, name):
            return getattr(builtins, name)
        raise Unsupported(f"unknown name {name}")


# ---------------------------------------------------------------------------------------
# Whole calls


@dataclasses.dataclass
class Outcome:
    """A call's meaning, merged over all paths: its result where it returns, the condition
    under which it raises and the exception's arguments, and its arguments afterwards."""

    result: Any
    args: list[Any]
    assumptions: list[z3.BoolRef]
    paths: int
    raised: z3.BoolRef
    exception: type | None = None
    exception_args: tuple[Any, ...] = ()
    # what the run relies on and a goal over it must prove, each under its path's condition
    obligations: list[z3.BoolRef] = dataclasses.field(default_factory=list)


MAX_PATHS = 512
PRUNE_TIMEOUT_MS = 2000
PRUNE_QUANTIFIED_MS = 150
MODELS_KEPT = 64  # the pruner's latest models, each a candidate answer to a question
PRUNERS_KEPT = 4


def run(fn: Callable[..., Any], make_args: Callable[[], list[Any]],
        kwargs: dict[str, Any] | None = None, assume: list[z3.BoolRef] | None = None,
        iteration: Any = None) -> Outcome:
    """Evaluate fn symbolically on every path; make_args builds a fresh copy of the inputs.

    The inputs are rebuilt for every path because impl functions mutate their arguments.
    With `assume` (what the caller's obligation takes as given), a branch the assumptions
    rule out is not explored: the result is then exact only where they hold. With
    `iteration`, fn is a fold (`fold_loop`) and only its loop's body runs, once, with the
    loop's variable bound to that index.
    """
    decisions: list[bool] = []
    returned: list[tuple[z3.BoolRef, Any]] = []
    raised: list[tuple[z3.BoolRef, _Raised]] = []
    states: list[tuple[z3.BoolRef, list[Any]]] = []
    assumptions: list[z3.BoolRef] = []
    obligations: list[z3.BoolRef] = []
    pruner = pruner_over(assume) if assume else None
    witnesses: dict[tuple[Any, ...], Any] = {}
    while True:
        path = Path(decisions, assume, pruner, witnesses)
        args = make_args()
        try:
            if iteration is None:
                result = Interp(path).call(fn, args, dict(kwargs or {}))
            else:
                result = Interp(path).call_iteration(fn, args, dict(kwargs or {}), iteration)
            outcome: Any = None
        except _Raised as exc:
            outcome = exc
        cond = z3.And(path.condition) if path.condition else z3.BoolVal(True)
        if outcome is None:
            returned.append((cond, result))
        else:
            raised.append((cond, outcome))
        states.append((cond, args))
        assumptions.extend(a for a in path.assumptions if not any(a.eq(b) for b in assumptions))
        obligations.extend(z3.Implies(cond, ob) for ob in path.obligations)
        if len(states) > MAX_PATHS:
            raise Unsupported(f"{fn.__qualname__} has more than {MAX_PATHS} paths")
        del decisions[path.pos:]
        while decisions and decisions[-1] is False:
            decisions.pop()
        if not decisions:
            break
        decisions[-1] = False
    out = _merge(returned, raised, states, assumptions)
    out.obligations = obligations
    return out


def _fold(pairs: list[tuple[z3.BoolRef, Any]]) -> Any:
    _, merged = pairs[-1]
    for cond, value in reversed(pairs[:-1]):
        merged = merge_value(cond, value, merged)
    return merged


def _merge(returned: list[tuple[z3.BoolRef, Any]], raised: list[tuple[z3.BoolRef, _Raised]],
           states: list[tuple[z3.BoolRef, list[Any]]], assumptions: list[z3.BoolRef]) -> Outcome:
    args = _fold([(c, tuple(a)) for c, a in states])
    result = _fold(returned) if returned else None
    if len({r.cls for _, r in raised}) > 1:
        raise Unsupported("a function that raises more than one kind of exception")
    out = Outcome(result, list(args), assumptions, len(states), z3.Or([c for c, _ in raised]))
    if raised:
        out.exception = raised[0][1].cls
        out.exception_args = _fold([(c, r.values) for c, r in raised])
    return out


def merge_value(c: z3.BoolRef, a: Any, b: Any) -> Any:
    """Merge two results of one call site: tuples and lists of one length elementwise,
    everything else by type."""
    if a is b:  # one value on both paths (an argument no path changed)
        return a
    if isinstance(a, tuple | list) and type(a) is type(b) and len(a) == len(b):
        return type(a)(merge_value(c, x, y) for x, y in zip(a, b, strict=True))
    if a is None and b is None:
        return None
    if not is_sym(a) and not is_sym(b) and not dataclasses.is_dataclass(a) and a == b \
            and type(a) is type(b):
        return a
    ty = ty_of_value(a if is_sym(a) or dataclasses.is_dataclass(a) or not is_sym(b) else b)
    return ite(c, ty, a, b)


__all__ = ["BOOL", "INT", "Interp", "Outcome", "Path", "Unsupported", "merge_value", "run", "unflatten"]
