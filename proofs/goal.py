"""What an obligation is: a `Goal` (hypotheses, a conclusion, the inputs to show and the
replay that reruns a case natively), the `Result` of checking it, and `InvalidCase`, the
verdict of a replay on a case the goal does not assume."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import z3

from .engine.terms import canonical
from .engine.values import Ty


class InvalidCase(Exception):  # noqa: N818 - a verdict, not an error
    """A replayed case that does not satisfy the obligation's hypotheses."""


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
    sizes: list[z3.ArithRef] = dataclasses.field(default_factory=list)
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
