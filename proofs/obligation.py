"""Proof obligations: a registry, and the check (the search for a small counterexample is
`proofs.search`; it is shown and replayed by `proofs.replay`).

An obligation is a function returning a `Goal`: hypotheses, a conclusion, the named
inputs to show when it fails, and a replay function that reruns a concrete case on the
executable spec and impl. Checking it is two solver calls: the hypotheses alone must be
satisfiable (else the obligation is *vacuous* and fails), and hypotheses plus the negated
conclusion must be unsatisfiable (else the model is a counterexample).
"""

from __future__ import annotations

import copy
import functools
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import z3

from .engine.effort import limit, solver
from .engine.terms import quantifier_free, subterms
from .engine.values import fresh_name
from .goal import Goal, InvalidCase, Result, Shown
from .replay import concretize, describe, write_replay
from .search import (
    SMALL_BOUNDS,
    EarlySearch,
    at_most,
    bounded,
    readable,
    small_case_apart,
    small_counterexample,
    written_down,
)

# the vocabulary of a layer's proof module, which imports it from here
__all__ = ["REGISTRY", "SCALES", "Goal", "InvalidCase", "Result", "Shown", "check", "obligation"]

REGISTRY: dict[str, Callable[[], Goal]] = {}
SCALES: dict[str, float] = {}  # an obligation's share of time, as a multiple of the runner's limit


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
    s = base = solver(max(1, ms // len(TRIES)), goal.conclusion.ctx)
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
            return _counterexample(name, goal, values, time.perf_counter() - start, replay_dir, early.note)
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
    note = ""
    model = readable(found, goal)
    values = written_down(goal, model) if model is not None else None
    if values is None and found is not None:
        values = small_case_apart(s, goal, min(ms, 10000))
    if values is None:
        values, note = small_counterexample(goal, s, [*hypotheses, *lemmas, z3.Not(part)],
                                            found, min(ms, 10000))
    seconds = time.perf_counter() - start
    if values is None:
        return Result(name, "unknown", seconds, f"solver: {reason}", timing=timing.last())
    return _counterexample(name, goal, values, seconds, replay_dir, note)


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
                s = solver(int(ms * share), part.ctx, counted=params != INT_BLAST)
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
            self.solvers[at] = solver(max(1, ms // len(TRIES)), part.ctx)
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
        s = solver(timeout_ms, goal.conclusion.ctx)
        s.add(*[bounded(h, n) for h in goal.hypotheses])
        s.add(*[at_most(x, n) for x in goal.sizes])
        if s.check() == z3.sat and (values := written_down(goal, s.model())) is not None \
                and goal.admissible(values):
            return True
    return False
