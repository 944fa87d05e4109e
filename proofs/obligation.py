"""Proof obligations: a registry, the check, and the search for counterexamples (shown and
replayed by `proofs.replay`).

An obligation is a function returning a `Goal`: hypotheses, a conclusion, the named
inputs to show when it fails, and a replay function that reruns a concrete case on the
executable spec and impl. Checking it is two solver calls: the hypotheses alone must be
satisfiable (else the obligation is *vacuous* and fails), and hypotheses plus the negated
conclusion must be unsatisfiable (else the model is a counterexample).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import os
import pickle
import re
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import z3

from .engine import counting
from .engine.display import TooLarge
from .engine.effort import limit
from .engine.terms import canonical, quantifier_free, subterms
from .engine.values import Ty, fresh_name
from .replay import concretize, describe, write_replay

REGISTRY: dict[str, Callable[[], Goal]] = {}
SCALES: dict[str, float] = {}  # an obligation's share of time, as a multiple of the runner's limit


class InvalidCase(Exception):  # noqa: N818 - a verdict, not an error
    """A replayed case that does not satisfy the obligation's hypotheses."""


def obligation(name: str, scale: float = 1.0) -> Callable[[Callable[..., Goal]], Callable[..., Goal]]:
    """Register a goal builder under its name, `layer.operation.kind`; a `scale` above 1
    gives it that multiple of the runner's time limit (the few whose proof time has come
    near the limit from run to run)."""
    if not re.fullmatch(r"[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+", name):
        raise ValueError(f"obligation names are layer.operation.kind, not {name!r}")

    def register(fn: Callable[..., Goal]) -> Callable[..., Goal]:
        if name in REGISTRY:
            raise ValueError(f"obligation {name} registered twice")
        REGISTRY[name] = fn
        SCALES[name] = scale
        fn.obligation_name = name  # type: ignore[attr-defined]
        return fn

    return register


@dataclasses.dataclass
class Shown:
    """An input to print and replay: its type, its symbolic value, how to size its arrays."""

    ty: Ty
    value: Any
    size: Callable[[Any, z3.ModelRef], int] | None = None
    # the keys to show of a map keyed by tuples, where the goal reads it at these alone; of
    # a map keyed by ints, besides its first few (a list, or a function of the model)
    keys: list[Any] | Callable[[z3.ModelRef], list[Any]] | None = None


@dataclasses.dataclass
class Goal:
    hypotheses: list[z3.BoolRef]
    conclusion: z3.BoolRef
    inputs: dict[str, Shown]
    replay: Callable[..., Any] | None = None
    replay_module: str = ""
    replay_extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    compare: Callable[[dict[str, Any]], str] | None = None
    # what a small counterexample keeps small: ints, words, or arrays (their every element)
    sizes: list[z3.ExprRef] = dataclasses.field(default_factory=list)
    admissible: Callable[[dict[str, Any]], bool] | None = None
    example: dict[str, Any] | None = None
    hints: list[z3.ExprRef] = dataclasses.field(default_factory=list)
    # Free constants, each standing for every value of its sort, at which the conclusion is
    # stated: a part is first asked with only the hypotheses that read no point it does not
    # (`points_apart`).
    points: list[z3.ExprRef] = dataclasses.field(default_factory=list)

    def translated(self, ctx: z3.Context) -> Goal:
        """The goal with its formulas copied into ctx (its inputs stay as they are), each
        binder's variables named canonically (`canonical`)."""
        return dataclasses.replace(
            self, hypotheses=[canonical(h.translate(ctx)) for h in self.hypotheses],
            conclusion=canonical(self.conclusion.translate(ctx)),
            sizes=[x.translate(ctx) for x in self.sizes],
            hints=[x.translate(ctx) for x in self.hints], points=[x.translate(ctx) for x in self.points])


@dataclasses.dataclass
class Result:
    name: str
    status: str  # proved | counterexample | vacuous | unknown | error
    seconds: float
    detail: str = ""
    replay_file: str = ""
    # Where the time went, for a goal of several parts: the slowest part, or the one that
    # was not proved (a CI log then says which part of an obligation to look at).
    timing: str = ""
    # a counterexample's inputs, as its replay takes them
    values: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "proved"


def _solver(ms: int, ctx: z3.Context, counted: bool = True) -> z3.Solver:
    """A solver in ctx, each check allowed about ms milliseconds (`engine.effort.limit`)."""
    return limit(z3.Solver(ctx=ctx), ms, counted)


def check(name: str, goal: Goal, timeout_s: float = 120.0, replay_dir: Path | None = None) -> Result:
    """Prove goal, or explain why not.

    The goal is solved in a Z3 context of its own, so the answer depends on the goal
    alone: in a process that has made other terms before, Z3 searches in another order (a
    planted bug found in a second in a fresh process was left unknown after the rest of
    the test suite)."""
    goal = goal.translated(z3.Context())
    start = time.perf_counter()
    ms = max(1, int(timeout_s * 1000))
    hypotheses = [instantiated(h, goal.hints) for h in goal.hypotheses]
    s = base = _solver(max(1, ms // len(TRIES)), goal.conclusion.ctx)
    s.add(*hypotheses)
    # Unknown satisfiability is no answer yet: a counterexample found next is a case the
    # hypotheses admit (a planted bug's goal once gave up here on a loaded machine).
    satisfiable_unknown = ""
    if not witnessed(goal, min(ms, VACUITY_MS)):
        sat = s.check()
        if sat == z3.unsat:
            return Result(name, "vacuous", time.perf_counter() - start, "the hypotheses are unsatisfiable")
        if sat == z3.unknown:
            satisfiable_unknown = f"satisfiability of the hypotheses unknown: {s.reason_unknown()}"
    # Each conjunct of the conclusion on its own: often far easier than the whole.
    lemmas: list[z3.BoolRef] = []
    answer = z3.unsat
    apart = points_apart(hypotheses, goal.points)
    parts = conjuncts(goal.conclusion)
    timing = Timing(len(parts), time.perf_counter() - start)
    early = EarlySearch(goal, hypotheses)
    for i, part in enumerate(parts):
        began = time.perf_counter()
        answer = apart.prove(part, lemmas, ms, early) if goal.points else z3.unknown
        if answer != z3.unsat and early.model is None:
            answer, s = _prove_part(hypotheses, part, lemmas, ms, base, early)
        timing.took(i, sorted(apart.read(part)) if goal.points else [], time.perf_counter() - began)
        if early.model is not None:
            values = concretize(goal, early.model)  # confirmed: it was written down
            return _counterexample(name, goal, values, time.perf_counter() - start, replay_dir, BOUNDED_NOTE)
        if answer != z3.unsat:
            break
        if quantifier_free(part):
            lemmas.append(part)
    if answer == z3.unsat:
        status = "unknown" if satisfiable_unknown else "proved"
        return Result(name, status, time.perf_counter() - start, satisfiable_unknown, timing=str(timing))
    reason = s.reason_unknown() if answer == z3.unknown else ""
    found = s.model() if answer == z3.sat else None  # before small_model's checks replace it
    # The counterexample found, where it is already small and its replay fails; else a small
    # one asked of the solver that found it, which has learned what it takes: a fresh solver
    # can search for minutes where that one answers at once (a planted drop-newest in the
    # message layer: 190 s without a model, 0.1 s so).
    # Every way is asked briefly before any at length, as a part's tries are: a planted
    # destroy that spares the last slot had its bounded case in 3 s, after 115 s of small-
    # model searches that found none.
    note = ""
    model = readable(found, goal)
    values = written_down(goal, model) if model is not None else None
    for search_ms, settle in ((EARLY_MS, False), (min(ms, 10000), True)):
        if values is None and found is not None:
            values = _small_case_apart(s, goal, search_ms)
        if values is None:
            values, note = _small_counterexample(goal, s, [*hypotheses, *lemmas, z3.Not(part)],
                                                 found, search_ms, part, settle)
    seconds = time.perf_counter() - start
    if values is None:
        return Result(name, "unknown", seconds, f"solver: {reason}", timing=timing.last())
    return _counterexample(name, goal, values, seconds, replay_dir, note)


def _small_counterexample(goal: Goal, s: z3.Solver, assertions: list[z3.BoolRef],
                          found: z3.ModelRef | None, ms: int, part: z3.BoolRef,
                          settle: bool = True) -> tuple[dict[str, Any] | None, str]:
    """A counterexample's values, as small as can be found, and a note on how it was found;
    the part of the conclusion it breaks is the one not proved. Unless `settle`, only a small
    case whose replay fails: the model found, not small, is kept for a search at length."""
    # A solver of its own first: Z3 5.4 has crashed (in check_assumptions) when asked again
    # on the solver that had just left a counting goal's part unknown, and run past its limit
    # there for minutes; where that solver found one, it has been asked already.
    model = fresh_small_model(assertions, goal.sizes, ms)
    if model is None and found is None and (values := _small_case_apart(s, goal, ms)) is not None:
        return values, ""
    if not settle:
        if model is not None and (goal.replay is None or confirmed(goal, model)):
            return written_down(goal, model), ""
        bounded = _bounded_case(goal, ms, part) if goal.replay is not None else None
        return (written_down(goal, bounded), BOUNDED_NOTE) if bounded is not None else (None, "")
    model = model or showable(found, goal.sizes)
    if model is not None and goal.replay is not None and not confirmed(goal, model):
        # what the model shows passes its replay (a map's key, an array's entry the goal
        # read, not shown): a model of the bounded instances whose replay fails is clearer
        bounded = _bounded_case(goal, ms, part)
        if bounded is not None:
            return written_down(goal, bounded), BOUNDED_NOTE
    if model is None:
        model = _bounded_case(goal, ms, part)
        return (written_down(goal, model) if model is not None else None), BOUNDED_NOTE
    return written_down(goal, model), ""


def _bounded_case(goal: Goal, ms: int, part: z3.BoolRef, whole: bool = True) -> z3.ModelRef | None:
    """A model of the bounded instances whose replay fails: of the part not proved first,
    then (if `whole`) of the whole conclusion. A bounded model of the whole may break
    another part only where it breaks a hypothesis unbounded, and its replay refuses it
    (unsubscribe's invariant with a planted count left as it was: every model of the whole
    refused, a model of the part at once)."""
    def confirm(m: z3.ModelRef) -> bool:
        return confirmed(goal, m)

    return (bounded_model(goal, ms, confirm=confirm, claim=part)
            or (bounded_model(goal, ms, confirm=confirm) if whole else None))


def _small_case_apart(s: z3.Solver, goal: Goal, ms: int) -> dict[str, Any] | None:
    """The values of `small_model`(s), asked in a process of its own that is given twice
    the time its bounds are allowed, if their replay fails (or the goal has none)."""
    def ask() -> dict[str, Any] | None:
        model = small_model(s, goal.sizes, ms)
        return written_down(goal, model) if model is not None else None
    values = asked_apart(ask, 2 * len(SMALL_BOUNDS) * ms / 1000)
    if values is None or (goal.replay is not None and not confirmed_by_replay(goal, values)):
        return None
    return values


def asked_apart(ask: Callable[[], Any], seconds: float) -> Any:
    """ask(), in a forked process whose crash, or silence past seconds, answers None: Z3
    5.4 has crashed (a segmentation fault) when a solver that has answered is asked again,
    and has run past its limit by minutes there."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer, and leave without running the parent's exit handlers
        os.close(read)
        try:
            with os.fdopen(write, "wb") as out:
                pickle.dump(ask(), out)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        ready, _, _ = select.select([answer], [], [], seconds)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        data = answer.read() if ready else b""
    os.waitpid(pid, 0)
    try:
        return pickle.loads(data) if data else None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None


class Timing:
    """How long a check spent before its parts (showing the hypotheses satisfiable) and on
    its slowest part."""

    def __init__(self, parts: int, before: float) -> None:
        self.parts, self.before = parts, before
        self.slowest: tuple[float, int, list[str]] = (0.0, 0, [])
        self.latest: tuple[float, int, list[str]] = (0.0, 0, [])

    def took(self, i: int, points: list[str], seconds: float) -> None:
        self.latest = (seconds, i, points)
        self.slowest = max(self.slowest, self.latest, key=lambda x: x[0])

    @staticmethod
    def _part(parts: int, took: tuple[float, int, list[str]]) -> str:
        seconds, i, points = took
        return f"part {i + 1}/{parts}{' at ' + ', '.join(points) if points else ''}: {seconds:.0f} s"

    def last(self) -> str:
        return f"before the parts: {self.before:.0f} s; the last, {self._part(self.parts, self.latest)}"

    def __str__(self) -> str:
        return f"before the parts: {self.before:.0f} s; slowest {self._part(self.parts, self.slowest)}"


class EarlySearch:
    """A search for a small counterexample, made when a part is still unknown after the
    first round of tries: a model of a quantified invariant that breaks a claim is often out
    of the solver's reach for minutes, while the same question at small sizes, or with
    every quantifier bounded to a few entries, has one within a second. A candidate counts
    only once its replay fails on the executable code, so a proof is never cut short by a
    spurious one."""

    def __init__(self, goal: Goal, hypotheses: list[z3.BoolRef]) -> None:
        self.goal = goal
        self.hypotheses = hypotheses
        self.tried = False
        self.asked: set[int] = set()  # the parts searched at small sizes, each once
        self.model: z3.ModelRef | None = None

    def __call__(self, part: z3.BoolRef) -> bool:
        goal = self.goal
        if goal.replay is None or part.get_id() in self.asked:
            return False
        self.asked.add(part.get_id())

        def confirm(m: z3.ModelRef) -> bool:
            return confirmed(goal, m)
        # The part at small sizes, its quantifiers left to the solver: a planted destroy
        # that leaves its name in the hash table breaks the registry's invariant in a model
        # found so in 0.5 s, where every try of the part stayed unknown for 300 s and the
        # bounded instances below only gave cases the replay refutes.
        self.model = fresh_small_model([*self.hypotheses, z3.Not(part)], goal.sizes, EARLY_MS,
                                       SMALL_BOUNDS[:3], confirm)
        # Then the part's bounded instances (the same destroy's part: unknown after 455 s of
        # tries, where every bounded model of the whole goal was refuted by its replay, and a
        # model of the part's was found in 0.3 s), and the whole goal's, once.
        if self.model is None:
            self.model = _bounded_case(goal, EARLY_MS, part, whole=not self.tried)
            self.tried = True
        return self.model is not None


EARLY_MS = 2000  # per bound of the early search


def _prove_part(hypotheses: list[z3.BoolRef], part: z3.BoolRef, lemmas: list[z3.BoolRef],
                ms: int, base: z3.Solver,
                early: Callable[[z3.BoolRef], bool] = lambda _: False) -> tuple[z3.CheckSatResult, z3.Solver]:
    """(unsat, _) if part follows from the hypotheses; else (sat, a solver with the
    counterexample) or (unknown, a solver to look for one in). Tries (TRIES) differ in
    whether the parts proved before are given as lemmas (the errno proved, the length of a
    result is easy; but to other goals the lemmas are noise) and in whether the part is asked
    after a push: Z3 then leaves out much of its preprocessing, which puts some goals out of
    its reach (a VM errno: 0.02 s without, unknown at 30 s after a push) and others within
    it (parts of teardown's refinement). Every try is a solver of its own but the one that
    asks on the solver every part was asked on before, as check did first. The last try
    solves bit-vectors as integers (`INT_BLAST`)."""
    # with no lemmas yet, a try with them is the one without, unless its parameters differ
    tries = [t for t in TRIES if lemmas or not t[0] or t[2]]
    answer = z3.unknown
    for round_, share in enumerate(ROUNDS):
        if round_ == 1 and early(part):
            return z3.unknown, base
        for with_lemmas, incremental, params in tries:
            if incremental and not with_lemmas:
                s = base  # the solver the hypotheses were checked on, as every part before
                limit(s, int(ms * share))
                s.push()
            else:
                s = _solver(int(ms * share), part.ctx, counted=params != INT_BLAST)
                for key, value in params.items():
                    s.set(key, value)
                s.add(*hypotheses)
                if incremental:
                    s.push()
            s.add(*(lemmas if with_lemmas else []), z3.Not(part))
            answer = s.check()
            if answer == z3.sat:
                return answer, s
            if s is base:
                s.pop()
            if answer == z3.unsat:
                return answer, s
    limit(base, ms // len(TRIES))  # where a small counterexample is looked for
    base.push()
    base.add(z3.Not(part))
    return answer, base


class points_apart:  # noqa: N801 - read as what it does
    """Parts asked at their points alone. A goal stated at independent points (free
    constants) has hypotheses about each; a part that reads some of the points is asked
    first with only the hypotheses (their conjuncts) and lemmas that read no other. That is
    sound, as fewer hypotheses only weaken what is assumed; only a proof is taken from it,
    a counterexample is looked for with all of them. It matters: in map_page's invariant,
    a claim at the frame point alone took 0.4 s this way, and was unknown at 60 s with the
    hypotheses at the key and table points beside it."""

    def __init__(self, hypotheses: list[z3.BoolRef], points: list[z3.ExprRef]) -> None:
        self.names = {p.decl().name() for p in points}
        pieces = {c.get_id(): c for h in hypotheses for c in _conjoined(h)} if points else {}
        self.hypotheses = [(c, self.read(c)) for c in pieces.values()]
        self.solvers: dict[frozenset[str], z3.Solver] = {}

    @functools.cache  # noqa: B019 - one per check, and the terms are kept alive by the goal anyway
    def read(self, e: z3.ExprRef) -> frozenset[str]:
        """The points e reads."""
        return frozenset(x.decl().name() for x in subterms(e)
                         if z3.is_const(x) and x.decl().kind() == z3.Z3_OP_UNINTERPRETED
                         and x.decl().name() in self.names)

    def prove(self, part: z3.BoolRef, lemmas: list[z3.BoolRef], ms: int,
              early: Callable[[z3.BoolRef], bool] = lambda _: False) -> z3.CheckSatResult:
        at = self.read(part)
        hypotheses = [h for h, read in self.hypotheses if read <= at]
        if at not in self.solvers:
            self.solvers[at] = _solver(max(1, ms // len(TRIES)), part.ctx)
            self.solvers[at].add(*hypotheses)
        answer, _ = _prove_part(hypotheses, part, [x for x in lemmas if self.read(x) <= at], ms,
                                self.solvers[at], early)
        if answer != z3.unsat:
            del self.solvers[at]  # left holding the negated part
        return answer


def _conjoined(e: z3.BoolRef) -> list[z3.BoolRef]:
    """e as the claims it conjoins (an If whose else is False too, as the engine writes `and`)."""
    if z3.is_and(e):
        return [c for x in e.children() for c in _conjoined(x)]
    if z3.is_app_of(e, z3.Z3_OP_ITE) and z3.is_false(e.arg(2)):
        return _conjoined(e.arg(0)) + _conjoined(e.arg(1))
    return [e]


def _counterexample(name: str, goal: Goal, values: dict[str, Any], seconds: float,
                    replay_dir: Path | None, note: str) -> Result:
    detail = describe(goal, values) + note
    replay_file = ""
    if goal.replay is not None and replay_dir is not None:
        replay_file = str(write_replay(name, goal, values, replay_dir))
    return Result(name, "counterexample", seconds, detail, replay_file, values=values)


def instantiated(e: z3.BoolRef, terms: list[z3.ExprRef]) -> z3.BoolRef:
    """e, with every universal claim over one variable in a positive position also stated
    at each term of its sort: an equivalent hypothesis, with the instances Z3's matching
    would not find (a term reached by arithmetic, such as a child's slot)."""
    if not terms:
        return e
    if z3.is_and(e) or z3.is_or(e):
        return (z3.And if z3.is_and(e) else z3.Or)([instantiated(c, terms) for c in e.children()])
    if z3.is_implies(e):
        return z3.Implies(e.arg(0), instantiated(e.arg(1), terms))
    if z3.is_quantifier(e) and e.is_forall() and e.num_vars() == 1:
        return z3.And(e, *[z3.substitute_vars(e.body(), t) for t in terms if t.sort() == e.var_sort(0)])
    return e


def conjuncts(e: z3.BoolRef) -> list[z3.BoolRef]:
    """e as a list of claims that together mean e: And split, an implication or a
    two-way Or whose second part is a conjunction split into one claim per conjunct, and
    a ForAll over such an implication into one ForAll per conjunct."""
    if z3.is_and(e):
        return [c for child in e.children() for c in conjuncts(child)]
    if z3.is_implies(e) and len(parts := conjuncts(e.arg(1))) > 1:
        return [z3.Implies(e.arg(0), c) for c in parts]
    if z3.is_or(e) and e.num_args() == 2 and len(parts := conjuncts(e.arg(1))) > 1:
        return [z3.Or(e.arg(0), c) for c in parts]
    if z3.is_quantifier(e) and e.is_forall():
        names = [z3.Const(fresh_name(e.var_name(i)), e.var_sort(i)) for i in range(e.num_vars())]
        body = z3.substitute_vars(e.body(), *reversed(names))
        if z3.is_implies(body) and len(parts := conjuncts(body.arg(1))) > 1:
            return [z3.ForAll(names, z3.Implies(body.arg(0), c)) for c in parts]
    return [e]


SMALL_BOUNDS = (2, 4, 8, 64)


def _at_most(x: z3.ExprRef, bound: int) -> z3.BoolRef:
    """|x| <= bound; a bit-vector counts as unsigned; an array's every element."""
    if z3.is_array(x):
        k = z3.Const(fresh_name("k"), x.domain())
        return z3.ForAll([k], _at_most(z3.Select(x, k), bound))
    if isinstance(x, z3.BitVecRef):
        return z3.ULE(x, bound)
    return z3.And(-bound <= x, x <= bound)


def small_model(s: z3.Solver, sizes: list[z3.ArithRef], timeout_ms: int = 10000) -> z3.ModelRef | None:
    """A counterexample with every size as small as it can be found: easier to read, and
    often found where the unbounded query answered unknown. Asked of s after a push."""
    for bound in SMALL_BOUNDS if sizes else ():
        s.push()
        limit(s, timeout_ms)
        s.add(*[_at_most(x, bound) for x in sizes])
        answer = s.check()
        model = s.model() if answer == z3.sat else None
        s.pop()
        if model is not None:
            return model
    return None


def fresh_small_model(assertions: list[z3.BoolRef], sizes: list[z3.ArithRef],
                      timeout_ms: int = 10000, bounds: tuple[int, ...] = SMALL_BOUNDS,
                      confirm: Callable[[z3.ModelRef], bool] = lambda _: True) -> z3.ModelRef | None:
    """`small_model`, each bound asked of a solver of its own, without a push: there Z3
    keeps the preprocessing a push leaves out, and the parts proved before, among the
    assertions, guide it (map_page's refinement with a planted bug: unknown at 60 s per
    bound after a push on the solver that found the counterexample, 0.5 s so). The first
    model that confirm accepts: one bound's answer, unsat or refuted, says nothing of the
    next."""
    for bound in bounds if sizes and assertions else ():
        s = _solver(timeout_ms, assertions[0].ctx)
        s.add(*assertions, *[_at_most(x, bound) for x in sizes])
        if s.check() == z3.sat and confirm(s.model()):
            return s.model()
    return None


MAX_SHOWN = 1 << 12


def largest_size(model: z3.ModelRef, sizes: list[z3.ExprRef]) -> int:
    """The largest magnitude of the goal's int and word sizes in the model (an array's
    elements are shown capped, so arrays do not count)."""
    def magnitude(x: z3.ExprRef) -> int:
        v = model.eval(x, model_completion=True)
        return abs(v.as_long()) if z3.is_int_value(v) or z3.is_bv_value(v) else 0
    return max((magnitude(x) for x in sizes if not z3.is_array(x)), default=0)


def showable(model: z3.ModelRef | None, sizes: list[z3.ExprRef]) -> z3.ModelRef | None:
    """The model, if every size in it is small enough to print and replay: a model with a
    queue of a billion slots would take all memory to write down."""
    return model if model is not None and largest_size(model, sizes) <= MAX_SHOWN else None


def readable(model: z3.ModelRef | None, goal: Goal) -> z3.ModelRef | None:
    """The model, if every size in it is one of the small sizes a reader takes in at a
    glance and its replay fails on the executable code (the goal's replay is the judge of a
    counterexample, whichever solver found it)."""
    if model is None or goal.replay is None or largest_size(model, goal.sizes) > SMALL_BOUNDS[-2]:
        return None
    return model if confirmed(goal, model) else None


def bounded(e: z3.ExprRef, n: int,
            cache: dict[int, tuple[z3.ExprRef, z3.ExprRef]] | None = None) -> z3.ExprRef:
    """e with every ForAll over integers replaced by its instances -n..n."""
    cache = {} if cache is None else cache
    key = e.get_id()
    if key in cache:  # the entry keeps e alive, so its id is not reused
        return cache[key][1]
    if z3.is_quantifier(e) and e.is_forall():
        body = e.body()
        instances: list[list[z3.ExprRef]] = [[]]
        for v in range(e.num_vars()):
            instances = [[x, *rest] for rest in instances for x in _small_values(e.var_sort(v), n)]
        out: z3.ExprRef = z3.And([bounded(z3.substitute_vars(body, *vals), n, cache) for vals in instances])
    elif z3.is_app(e) and e.num_args() > 0:
        out = e.decl()(*[bounded(a, n, cache) for a in e.children()]) if not z3.is_quantifier(e) else e
    else:
        out = e
    cache[key] = (e, out)
    return out


def _small_values(sort: z3.SortRef, n: int) -> list[z3.ExprRef]:
    """The values a bounded quantifier ranges over: -n..n, or 0..2n for a bit-vector."""
    if z3.is_bv_sort(sort):
        return [z3.BitVecVal(i, sort) for i in range(2 * n + 1)]
    if sort == z3.BoolSort(sort.ctx):
        return [z3.BoolVal(False, sort.ctx), z3.BoolVal(True, sort.ctx)]
    if isinstance(sort, z3.DatatypeSortRef) and sort.num_constructors() == 1:  # a tuple: each part small
        make = sort.constructor(0)
        parts: list[list[z3.ExprRef]] = [[]]
        for i in range(make.arity()):
            parts = [[*p, x] for p in parts for x in _small_values(make.domain(i), n)]
        return [make(*p) for p in parts]
    return [z3.IntVal(i, sort.ctx) for i in range(-n, n + 1)]


VACUITY_MS = 20000
# Z3 bit-blasts words by default, and then cannot relate a word to an integer: not even that
# a word made of an int below a bound is below that bound as a word (the frame the container
# layer hands out, in map_page's footprint, unknown at 60 s); as integers, in a second.
INT_BLAST = {"smt.bv.solver": 2}
# The ways a part is asked: (lemmas given, asked after a push, solver parameters). Only the
# last sets a parameter: setting any (even the seed to its default) makes Z3 search
# differently, and some goals are proved only one way.
TRIES: tuple[tuple[bool, bool, dict[str, int]], ...] = (
    (False, False, {}), (True, False, {}), (True, True, {}), (False, True, {}), (True, False, INT_BLAST))
# The share of the time limit each try gets, round after round: a part is often proved in a
# second one way and not in minutes another, so every way is tried briefly before any at
# length (vm.teardown.refines: 146 s with a quarter each, 118 s with (1/32, 7/32), 71 s so).
ROUNDS = (1 / 128, 1 / 32, 1 / 5)


def witnessed(goal: Goal, timeout_ms: int) -> bool:
    """The hypotheses hold of a concrete case: the goal's example, or a model of their
    bounded instances, whose inputs the goal's own executable check admits (the engine's
    self-test shows that check and the hypotheses derived from it agree)."""
    if goal.admissible is None:
        return False
    if goal.example is not None and goal.admissible(copy.deepcopy(goal.example)):
        return True
    for n in SMALL_BOUNDS[:3]:
        s = _solver(timeout_ms, goal.conclusion.ctx)
        s.add(*[bounded(h, n) for h in goal.hypotheses])
        s.add(*[bounded(_at_most(x, n), n) for x in goal.sizes])
        if s.check() == z3.sat and (values := written_down(goal, s.model())) is not None \
                and goal.admissible(values):
            return True
    return False


BOUNDED_NOTE = "\n  (found with every quantifier bounded to the small sizes, then confirmed by replay)"


def bounded_model(goal: Goal, timeout_ms: int, bounds: tuple[int, ...] = SMALL_BOUNDS[:3],
                  confirm: Callable[[z3.ModelRef], bool] = lambda _: True,
                  claim: z3.BoolRef | None = None) -> z3.ModelRef | None:
    """A counterexample of small sizes where the solver gave up on quantifiers: the first
    model of the bounded instances that `confirm` accepts, of the hypotheses and the
    negated claim (the goal's conclusion, or one of its parts).

    Bounding the hypotheses' quantifiers may admit states the hypotheses exclude, so check
    confirms a candidate only once its replay fails on the executable code; a candidate
    refused at one bound does not stop the search at the next."""
    if not goal.sizes:
        return None
    for n in bounds:
        s = _solver(timeout_ms, goal.conclusion.ctx)
        cache: dict[int, tuple[z3.ExprRef, z3.ExprRef]] = {}
        claims = [*[bounded(h, n, cache) for h in goal.hypotheses],
                  *[bounded(_at_most(x, n), n, cache) for x in goal.sizes],
                  z3.Not(goal.conclusion if claim is None else claim)]
        # the counts of ranges no longer than the sizes, exact: else a model may count wrong
        s.add(*claims, *[counting.exact(c, n) for c in counting.counts_in(claims)])
        if s.check() == z3.sat and confirm(s.model()):
            return s.model()
    return None


def written_down(goal: Goal, model: z3.ModelRef) -> dict[str, Any] | None:
    """The goal's inputs as the model has them, unless one is too large to write down."""
    try:
        return concretize(goal, model)
    except TooLarge:
        return None


def confirmed(goal: Goal, model: z3.ModelRef) -> bool:
    """The model written down is a case whose replay fails."""
    values = written_down(goal, model)
    return values is not None and confirmed_by_replay(goal, values)


def confirmed_by_replay(goal: Goal, values: dict[str, Any]) -> bool:
    if goal.replay is None:
        return False
    module = importlib.import_module(goal.replay_module) if goal.replay_module else None
    try:
        goal.replay(impl=module, **copy.deepcopy({**goal.replay_extra, **values}))
    except InvalidCase:
        return False
    except Exception:  # noqa: BLE001 - a failed check, or a crash on a valid case, confirms
        return True
    return False
