"""The search for a counterexample a reader can take in: small sizes first, each candidate
confirmed by a replay that fails on the executable code (`proofs.replay` writes it down).

A check (`proofs.obligation`) calls on it twice: early, when a part is still unknown after
the first round of tries (`EarlySearch`), and last, when a part has a counterexample or was
left unknown (`small_counterexample`)."""

from __future__ import annotations

import copy
import importlib
import os
import pickle
import select
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

import z3

from .engine.display import TooLarge
from .engine.effort import limit, solver
from .goal import Goal, InvalidCase
from .replay import concretize


def small_counterexample(goal: Goal, s: z3.Solver, assertions: list[z3.BoolRef],
                          found: z3.ModelRef | None, ms: int) -> tuple[dict[str, Any] | None, str]:
    """A counterexample's values, as small as can be found, and a note on how it was found."""
    # A solver of its own first: Z3 5.4 has crashed (in check_assumptions) when asked again
    # on the solver that had just left a counting goal's part unknown, and run past its limit
    # there for minutes; where that solver found one, it has been asked already.
    model = fresh_small_model(assertions, goal.sizes, ms)
    if model is None and found is None and (values := small_case_apart(s, goal, ms)) is not None:
        return values, ""
    model = model or showable(found, goal.sizes)
    note = ""
    if model is not None and goal.replay is not None \
            and not confirmed(goal, model):
        # what the model shows passes its replay (a map's key, an array's entry the goal
        # read, not shown): a model of the bounded instances whose replay fails is clearer
        replayed = bounded_model(goal, ms, confirm=lambda m: confirmed(goal, m))
        if replayed is not None:
            model, note = replayed, BOUNDED_NOTE
    if model is None:
        model = bounded_model(goal, ms, confirm=lambda m: confirmed(goal, m))
        note = BOUNDED_NOTE
    return (written_down(goal, model) if model is not None else None), note


def small_case_apart(s: z3.Solver, goal: Goal, ms: int) -> dict[str, Any] | None:
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
        self.asked: set[int] = set()  # the parts searched at small sizes (at their points, then whole)
        self.model: z3.ModelRef | None = None
        self.note = ""  # how the model was found, for the reader

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
        self.model = small_model_confirmed([*self.hypotheses, z3.Not(part)], goal.sizes, EARLY_MS, confirm)
        if self.model is None and not self.tried:  # the whole goal's bounded instances, once
            self.tried = True
            self.model = bounded_model(goal, EARLY_MS, confirm=confirm)
            self.note = BOUNDED_NOTE if self.model is not None else ""
        return self.model is not None


EARLY_MS = 2000  # per bound of the early search


SMALL_BOUNDS = (2, 4, 8, 64)


def at_most(x: z3.ExprRef, bound: int) -> z3.BoolRef:
    """|x| <= bound; a bit-vector counts as unsigned."""
    if isinstance(x, z3.BitVecRef):
        return z3.ULE(x, bound)
    return z3.And(-bound <= x, x <= bound)


def small_model(s: z3.Solver, sizes: list[z3.ArithRef], timeout_ms: int = 10000) -> z3.ModelRef | None:
    """A counterexample with every size as small as it can be found: easier to read, and
    often found where the unbounded query answered unknown. Asked of s after a push."""
    for bound in SMALL_BOUNDS if sizes else ():
        s.push()
        limit(s, timeout_ms)
        s.add(*[at_most(x, bound) for x in sizes])
        answer = s.check()
        model = s.model() if answer == z3.sat else None
        s.pop()
        if model is not None:
            return model
    return None


def fresh_small_model(assertions: list[z3.BoolRef], sizes: list[z3.ArithRef],
                      timeout_ms: int = 10000) -> z3.ModelRef | None:
    """`small_model`, each bound asked of a solver of its own, without a push: there Z3
    keeps the preprocessing a push leaves out, and the parts proved before, among the
    assertions, guide it (map_page's refinement with a planted bug: unknown at 60 s per
    bound after a push on the solver that found the counterexample, 0.5 s so)."""
    for bound in SMALL_BOUNDS if sizes and assertions else ():
        s = solver(timeout_ms, assertions[0].ctx)
        s.add(*assertions, *[at_most(x, bound) for x in sizes])
        if s.check() == z3.sat:
            return s.model()
    return None


def small_model_confirmed(assertions: list[z3.BoolRef], sizes: list[z3.ArithRef], timeout_ms: int,
                          confirm: Callable[[z3.ModelRef], bool]) -> z3.ModelRef | None:
    """The first model of the assertions, each of the first bounds asked of a solver of its
    own as in `fresh_small_model`, that confirm accepts: one bound's answer, unsat or
    refuted, says nothing of the next."""
    for bound in SMALL_BOUNDS[:3] if sizes and assertions else ():
        s = solver(timeout_ms, assertions[0].ctx)
        s.add(*assertions, *[at_most(x, bound) for x in sizes])
        if s.check() == z3.sat and confirm(s.model()):
            return s.model()
    return None


MAX_SHOWN = 1 << 12


def showable(model: z3.ModelRef | None, sizes: list[z3.ArithRef],
             bound: int = MAX_SHOWN) -> z3.ModelRef | None:
    """The model, if every size in it is at most bound: by default small enough to print and
    replay (a model with a queue of a billion slots would take all memory to write down)."""
    if model is None:
        return None
    for x in sizes:
        v = model.eval(x, model_completion=True)
        n = v.as_long() if z3.is_int_value(v) or z3.is_bv_value(v) else 0
        if abs(n) > bound:
            return None
    return model


def readable(model: z3.ModelRef | None, goal: Goal) -> z3.ModelRef | None:
    """The model, if every size in it is one of the small sizes a reader takes in at a
    glance and its replay fails on the executable code (the goal's replay is the judge of a
    counterexample, whichever solver found it)."""
    if goal.replay is None or showable(model, goal.sizes, SMALL_BOUNDS[-2]) is None:
        return None
    assert model is not None
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


BOUNDED_NOTE = "\n  (found with every quantifier bounded to the small sizes, then confirmed by replay)"


def bounded_model(goal: Goal, timeout_ms: int, bounds: tuple[int, ...] = SMALL_BOUNDS[:3],
                  confirm: Callable[[z3.ModelRef], bool] = lambda _: True) -> z3.ModelRef | None:
    """A counterexample of small sizes where the solver gave up on quantifiers: the first
    model of the bounded instances that `confirm` accepts.

    Bounding the hypotheses' quantifiers may admit states the hypotheses exclude, so check
    confirms a candidate only once its replay fails on the executable code; a candidate
    refused at one bound does not stop the search at the next."""
    if not goal.sizes:
        return None
    for n in bounds:
        s = solver(timeout_ms, goal.conclusion.ctx)
        s.add(*[bounded(h, n) for h in goal.hypotheses])
        s.add(*[at_most(x, n) for x in goal.sizes])
        s.add(z3.Not(goal.conclusion))
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
    """The case's replay fails on the executable code: an assertion, or a crash on a case
    the goal assumes (not `InvalidCase`)."""
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
