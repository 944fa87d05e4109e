"""Back to Python: the value a symbolic value denotes in a model (what a counterexample
prints and its replay runs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import z3

from spec.map import Map

from .values import BVT, INT, ArrT, BoolT, IntT, MapT, RecT, SeqT, TupT, Ty, _lift_scalar, flatten

MAX_ITEMS = 1 << 16  # a sequence longer than this in a model is not written down


class TooLarge(ValueError):
    """A model's value too large to write down (a message of a billion bytes): no case a
    replay can run, nor a reader read."""


def _scalar_array(ty: ArrT, v: Any, model: z3.ModelRef, n: int) -> Any:
    """A byte array read from the model's Store chain at once, not one index at a time."""
    if ty.native is not bytearray or len(v.leaves) != 1:
        return None
    node = model.eval(v.leaves[0], model_completion=True)
    written: dict[int, int] = {}
    while z3.is_store(node):
        i, x = node.arg(1), node.arg(2)
        if not (z3.is_bv_value(i) and z3.is_bv_value(x)):
            return None
        written.setdefault(i.as_long(), x.as_long())
        node = node.arg(0)
    if not (z3.is_K(node) and z3.is_bv_value(node.arg(0))):
        return None
    out = bytearray([node.arg(0).as_long()]) * n
    for i, x in written.items():
        if i < n:
            out[i] = x
    return out


def concrete(ty: Ty, v: Any, model: z3.ModelRef, size: Callable[[Any], int] | None = None,
             keys: list[Any] | None = None) -> Any:
    """The Python value that v denotes in model; arrays are read up to size(array) entries,
    a map keyed by tuples at `keys` if given, else at the keys the model stores, and a map
    keyed by ints at its first size(map) keys, the int `keys` and the keys the model
    stores."""

    def ev(x: Any) -> Any:
        return model.eval(_lift_scalar(ty if isinstance(ty, IntT | BoolT | BVT) else INT, x),
                          model_completion=True)

    if isinstance(ty, BoolT):
        return z3.is_true(ev(v))
    if isinstance(ty, IntT | BVT):
        return ev(v).as_long()
    if isinstance(ty, RecT):
        return ty.cls(**{n: concrete(t, getattr(v, n), model, size, keys) for n, t in ty.fields})
    if isinstance(ty, SeqT):
        n = concrete(INT, flatten(ty, v)[0], model)
        if n > MAX_ITEMS:
            raise TooLarge(f"a sequence of {n} items")
        items = [concrete(ty.elem, v.get(i), model, size) for i in range(max(n, 0))]
        return bytes(items) if ty.native is bytes else tuple(items)
    if isinstance(ty, ArrT):
        n = size(v) if size else (concrete(ty.index, v.length, model) if ty.sized else 0)
        fast = _scalar_array(ty, v, model, n)
        if fast is not None:
            return fast
        items = [concrete(ty.elem, v.get(i), model, size) for i in range(n)]
        return bytearray(items) if ty.native is bytearray else items
    if isinstance(ty, MapT):
        if isinstance(ty.key, TupT):
            present, *_ = flatten(ty, v)
            shown = {}
            mine = None if keys is None else [k for k in keys if isinstance(k, tuple)]
            candidates = [ty.key.pack(k) for k in mine] if mine is not None else _model_keys(present, model)
            for k in candidates:
                if not z3.is_true(model.eval(z3.Select(present, k), model_completion=True)):
                    continue
                parts = zip(ty.key.elems, ty.key.unpack(k), strict=True)
                key = tuple(concrete(t, x, model) for t, x in parts)
                shown[key] = concrete(ty.value, v.get(k), model, size)
            return Map(shown)
        if size is None and keys is not None:  # at the int keys the goal reads
            at = [k for k in keys if not isinstance(k, tuple)
                  and z3.is_true(model.eval(z3.Select(v.present, k), model_completion=True))]
            return Map({concrete(ty.key, k, model): concrete(ty.value, v.get(k), model, size, keys)
                        for k in at})
        n = size(v) if size else 0
        # the first n keys, the int keys the goal reads, and the keys the model stores
        named = [model.eval(k, model_completion=True).as_long()
                 for k in keys or [] if not isinstance(k, tuple)]
        try:
            stored = [k.as_long() for k in _model_keys(v.present, model) if z3.is_int_value(k)]
        except ValueError:  # a membership the model does not give as a table
            stored = []
        return Map({i: concrete(ty.value, v.get(i), model, size) for i in sorted({*range(n), *named, *stored})
                    if z3.is_true(model.eval(z3.Select(v.present, i), model_completion=True))})
    raise TypeError(ty)


def _model_keys(present: z3.ExprRef, model: z3.ModelRef) -> list[z3.ExprRef]:
    """The keys a model puts in a map whose membership array is `present`: the indices its
    value stores True at (a map is finite: a value true by default has no finite keys)."""
    value = model.eval(present, model_completion=True)
    keys: list[z3.ExprRef] = []
    while True:
        if z3.is_store(value):
            keys.append(value.arg(1))
            value = value.arg(0)
        elif z3.is_as_array(value):
            interp = model[z3.get_as_array_func(value)]
            *entries, default = interp.as_list()
            keys.extend(e[0] for e in entries)
            value = z3.K(present.domain(), default)
        elif z3.is_const_array(value):
            if z3.is_true(value.arg(0)):
                raise ValueError("a model's map with every key present")
            break
        else:
            raise ValueError(f"a model's map that is not a table of keys: {value}")
    unique = {k.sexpr(): k for k in keys}
    return [k for k in unique.values()
            if z3.is_true(model.eval(z3.Select(present, k), model_completion=True))]
