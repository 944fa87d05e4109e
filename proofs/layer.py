"""Conclusions every layer's proof states the same way."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import z3

from .engine.values import ArrT, RecT, equal, fresh_name, same_leaf, ty_of_value


def equal_results(got: tuple[Any, ...], want: tuple[Any, ...]) -> z3.BoolRef:
    """The impl's results, read as the spec's, are the spec's results."""
    if len(got) != len(want):
        raise ValueError(f"{len(got)} results against the spec's {len(want)}")
    return z3.And([equal(ty_of_value(w), g, w) for g, w in zip(got, want, strict=True)])


def differs_only_at(ty: RecT, before: Any, after: Any, index: Any) -> z3.BoolRef:
    """Every scalar field is unchanged, and every table entry but `index`, down to its bytes."""
    other = z3.Int(fresh_name("other"))
    same = []
    for name, fty in ty.fields:
        a, b = getattr(before, name), getattr(after, name)
        if isinstance(fty, ArrT):
            same += [same_leaf(z3.Select(x, other), z3.Select(y, other))
                     for x, y in zip(a.leaves, b.leaves, strict=True)]
        else:
            same.append(equal(fty, a, b))
    return z3.ForAll([other], z3.Implies(other != index, z3.And(same)))


@contextmanager
def over(module: types.ModuleType, interface: dict[str, Callable[..., Any]]) -> Iterator[None]:
    """Run `module` over another implementation of the layer below: the names it imported
    from that layer are bound to `interface` meanwhile. The symbolic interpreter resolves
    names through the module's globals, so proofs and native tests see the same binding."""
    saved = {name: module.__dict__[name] for name in interface}
    module.__dict__.update(interface)
    try:
        yield
    finally:
        module.__dict__.update(saved)
