"""Symbolic values: how a Python value of a given type is held as Z3 terms.

Every type maps to a list of Z3 *leaves*:

- ``int`` is one Int, ``bool`` one Bool, ``U8`` (a byte) one 8-bit vector;
- a frozen or plain dataclass is the concatenation of its fields' leaves;
- ``tuple[T, ...]`` and ``bytes`` (a sequence) are a length plus, for each leaf of T, an
  array from position to that leaf;
- ``list[T]`` and ``bytearray`` (a fixed-size kernel array) are, for each leaf of T, an
  array from index to that leaf: arrays of records are held as records of arrays;
- ``Map[int, T]`` (spec/map.py) is a membership array plus the arrays of ``list[T]``;
- ``tuple[int, int]`` (a pair, as the key of a map: a subscription's (pid, topic)) is one
  leaf of a Z3 tuple sort.

No size is part of a type: a sequence carries its length as a term, an array is total.
That is what lets one proof hold for every size.
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from collections.abc import Sequence
from typing import Any

import z3

from spec.map import Map

from .terms import unspecified

_fresh_ids = itertools.count()


def fresh_name(base: str) -> str:
    return f"{base}!{next(_fresh_ids)}"


# ---------------------------------------------------------------------------------------
# Types


class Ty:
    """A symbolic type: knows its Z3 leaves."""

    def sorts(self) -> list[z3.SortRef]:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class IntT(Ty):
    def sorts(self) -> list[z3.SortRef]:
        return [z3.IntSort()]


@dataclasses.dataclass(frozen=True)
class BoolT(Ty):
    def sorts(self) -> list[z3.SortRef]:
        return [z3.BoolSort()]


@dataclasses.dataclass(frozen=True)
class BVT(Ty):
    width: int

    def sorts(self) -> list[z3.SortRef]:
        return [z3.BitVecSort(self.width)]


@dataclasses.dataclass(frozen=True)
class SeqT(Ty):
    elem: Ty
    native: type = tuple

    def sorts(self) -> list[z3.SortRef]:
        return [z3.IntSort()] + [z3.ArraySort(z3.IntSort(), s) for s in self.elem.sorts()]


@dataclasses.dataclass(frozen=True)
class ArrT(Ty):
    """A mutable array; a `sized` one also carries its length (`len(mem)` of a bytearray)."""

    elem: Ty
    native: type = list
    index: Ty = IntT()
    sized: bool = False

    def sorts(self) -> list[z3.SortRef]:
        arrays = [z3.ArraySort(self.index.sorts()[0], s) for s in self.elem.sorts()]
        return [self.index.sorts()[0], *arrays] if self.sized else arrays


@dataclasses.dataclass(frozen=True)
class MapT(Ty):
    value: Ty
    key: Ty = IntT()

    def sorts(self) -> list[z3.SortRef]:
        return [z3.ArraySort(self.key.sorts()[0], z3.BoolSort())] + ArrT(self.value, index=self.key).sorts()


_tuple_sorts: dict[tuple[z3.SortRef, ...], tuple[z3.SortRef, z3.FuncDeclRef, list[z3.FuncDeclRef]]] = {}


@dataclasses.dataclass(frozen=True)
class TupT(Ty):
    """A tuple of a fixed number of scalars (a map's key such as (pid, topic)): one leaf of
    a Z3 tuple sort, so that a key is one term."""

    elems: tuple[Ty, ...]

    def _sort(self) -> tuple[z3.SortRef, z3.FuncDeclRef, list[z3.FuncDeclRef]]:
        key = tuple(s for e in self.elems for s in e.sorts())
        if len(key) != len(self.elems):
            raise TypeError("a tuple type holds scalars only")
        if key not in _tuple_sorts:
            _tuple_sorts[key] = z3.TupleSort("Tuple_" + "_".join(str(s) for s in key), list(key))
        return _tuple_sorts[key]

    def sorts(self) -> list[z3.SortRef]:
        return [self._sort()[0]]

    def pack(self, v: Any) -> z3.ExprRef:
        if isinstance(v, z3.ExprRef):
            return v
        _, make, fields = self._sort()
        parts = list(v)
        if all(z3.is_app(x) and x.num_args() == 1 and x.decl().eq(f)
               for x, f in zip(parts, fields, strict=True)) \
                and all(x.arg(0).eq(parts[0].arg(0)) for x in parts):
            return parts[0].arg(0)  # the parts of one tuple term, put back together: that term
        return make(*[_lift_scalar(t, x) for t, x in zip(self.elems, v, strict=True)])

    def unpack(self, x: z3.ExprRef) -> tuple[Any, ...]:
        _, make, fields = self._sort()
        if z3.is_app(x) and x.decl().eq(make):  # a key built here: its parts as they were
            return tuple(x.children())
        return tuple(f(x) for f in fields)


@dataclasses.dataclass(frozen=True)
class RecT(Ty):
    cls: type

    @property
    def fields(self) -> list[tuple[str, Ty]]:
        return _record_fields(self.cls)

    def sorts(self) -> list[z3.SortRef]:
        return [s for _, t in self.fields for s in t.sorts()]


INT = IntT()
BOOL = BoolT()
U8 = BVT(8)
BYTES = SeqT(U8, bytes)
BUFFER = ArrT(U8, bytearray)

_field_cache: dict[type, list[tuple[str, Ty]]] = {}


def _record_fields(cls: type) -> list[tuple[str, Ty]]:
    if cls not in _field_cache:
        hints = typing.get_type_hints(cls, include_extras=True)
        _field_cache[cls] = [(f.name, ty_of_hint(hints[f.name])) for f in dataclasses.fields(cls)]
    return _field_cache[cls]


def ty_of_hint(hint: Any) -> Ty:
    """The symbolic type of a Python type hint."""
    if hint is int:
        return INT
    if hint is bool:
        return BOOL
    if hint is bytes:
        return BYTES
    if hint is bytearray:
        return BUFFER
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return RecT(hint)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return SeqT(ty_of_hint(args[0]))
    if origin is tuple and args and Ellipsis not in args:
        return TupT(tuple(ty_of_hint(a) for a in args))
    if origin is list:
        return ArrT(ty_of_hint(args[0]))
    if origin is Map:
        return MapT(ty_of_hint(args[1]), key=ty_of_hint(args[0]))
    if origin is typing.Annotated:
        base, meta = args[0], args[1]
        if isinstance(meta, Ty):
            return meta
        if base is int and isinstance(meta, int):
            return BVT(meta)
        if base is bytearray and isinstance(meta, int):
            return ArrT(U8, bytearray, index=BVT(meta), sized=True)
    raise TypeError(f"no symbolic type for {hint!r}")


def ty_of_value(v: Any) -> Ty:
    """The symbolic type of a value that is already symbolic (or a concrete scalar)."""
    if isinstance(v, SSeq | SArray | SMap):
        return v.ty
    if isinstance(v, bool) or z3.is_bool(v):
        return BOOL
    if isinstance(v, z3.BitVecRef):
        return BVT(v.size())
    if isinstance(v, int) or isinstance(v, z3.ArithRef):
        return INT
    if isinstance(v, bytes):
        return BYTES
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return RecT(type(v))
    raise TypeError(f"cannot type {v!r}")


# ---------------------------------------------------------------------------------------
# Symbolic containers


class SSeq:
    """An immutable symbolic sequence: a length and, per leaf of the element, an array."""

    def __init__(self, ty: SeqT, length: Any, leaves: list[z3.ExprRef]) -> None:
        self.ty = ty
        self.length = length
        self.leaves = leaves

    def get(self, i: Any) -> Any:
        return unflatten(self.ty.elem, [z3.Select(a, as_index(i, a)) for a in self.leaves])

    def slice(self, lo: Any, hi: Any) -> SSeq:
        lo = 0 if lo is None else lo
        hi = self.length if hi is None else hi
        lo = z3.If(lo < 0, 0, lo) if not isinstance(lo, int) else max(lo, 0)
        hi = _min(hi, self.length)
        k = z3.Int(fresh_name("k"))
        leaves = [z3.Lambda([k], z3.Select(a, k + lo)) for a in self.leaves]
        return SSeq(self.ty, _max(hi - lo, 0), leaves)

    def append(self, v: Any) -> SSeq:
        xs = flatten(self.ty.elem, v)
        leaves = [z3.Store(a, self.length, x) for a, x in zip(self.leaves, xs, strict=True)]
        return SSeq(self.ty, self.length + 1, leaves)

    def concat(self, other: SSeq) -> SSeq:
        k = z3.Int(fresh_name("k"))
        leaves = [
            z3.Lambda([k], z3.If(k < self.length, z3.Select(a, k), z3.Select(b, k - self.length)))
            for a, b in zip(self.leaves, other.leaves, strict=True)
        ]
        return SSeq(self.ty, self.length + other.length, leaves)


def as_index(i: Any, array: z3.ArrayRef) -> Any:
    """i converted to the array's index sort: a machine word indexes an int-indexed
    sequence by its unsigned value, and an int a word-indexed one modulo 2**width."""
    domain = array.sort().domain()
    if isinstance(i, z3.BitVecRef) and domain == z3.IntSort():
        return z3.BV2Int(i)
    if z3.is_bv_sort(domain) and (isinstance(i, int) or isinstance(i, z3.ArithRef)):
        return z3.Int2BV(i, domain.size()) if isinstance(i, z3.ArithRef) else z3.BitVecVal(i, domain.size())
    return i


ROW_STORES = 4


def _row(a: z3.ExprRef, i: Any) -> z3.ExprRef:
    """Row i of a two-level array, read through the rows last stored into it: If(i == j,
    the row stored at j, ...). A quantified claim about the row then reads the rows stored
    before by plain selects, which the solver's matching finds (a Select of a Store under a
    quantifier it often does not)."""
    if not isinstance(i, z3.ExprRef):
        domain = a.sort().domain()
        i = z3.BitVecVal(i, domain.size()) if z3.is_bv_sort(domain) else z3.IntVal(i)
    rows: list[tuple[z3.ExprRef, z3.ExprRef]] = []
    while z3.is_store(a) and len(rows) < ROW_STORES:
        j, v = a.arg(1), a.arg(2)
        if j.eq(i):
            break
        rows.append((j, v))
        a = a.arg(0)
    out = a.arg(2) if z3.is_store(a) and a.arg(1).eq(i) else z3.Select(a, i)
    for j, v in reversed(rows):
        out = z3.If(i == j, v, out)
    return out


class SArray:
    """A mutable symbolic kernel array; an element that is itself an array writes back."""

    def __init__(self, ty: ArrT, leaves: list[z3.ExprRef], parent: tuple[SArray, Any] | None = None,
                 length: Any = None):
        self.ty = ty
        self.leaves = leaves
        self.parent = parent
        self.length = length

    def get(self, i: Any) -> Any:
        if isinstance(self.ty.elem, ArrT):
            return SArray(self.ty.elem, [_row(a, as_index(i, a)) for a in self.leaves], (self, i))
        return unflatten(self.ty.elem, [z3.Select(a, as_index(i, a)) for a in self.leaves])

    def set(self, i: Any, v: Any) -> None:
        xs = flatten(self.ty.elem, v)
        self.replace([z3.Store(a, as_index(i, a), x) for a, x in zip(self.leaves, xs, strict=True)])


    def replace(self, leaves: list[z3.ExprRef]) -> None:
        self.leaves = leaves
        if self.parent is not None:
            owner, index = self.parent
            owner.set(index, self)

    def prefix(self, n: Any) -> SSeq:
        """The first n elements, as a sequence (``bytes(buf[:n])``)."""
        native = bytes if self.ty.native is bytearray else tuple
        return SSeq(SeqT(self.ty.elem, native), n, list(self.leaves))


class SMap:
    """An immutable symbolic finite map from int keys: membership plus total value arrays."""

    def __init__(self, ty: MapT, present: z3.ExprRef, values: list[z3.ExprRef],
                 source: tuple[z3.ExprRef, z3.BoolRef, z3.ExprRef, Any, Any] | None = None) -> None:
        self.ty = ty
        self.present = present
        self.values = values
        # of a map built by a keyed comprehension over a range: (k, the domain's condition
        # on k, the key of k, the range's bounds), where its keys come from (a count of its
        # keys is a count of those k)
        self.source = source

    def _key(self, key: Any) -> z3.ExprRef:
        return flatten(self.ty.key, key)[0]

    def __contains__(self, key: Any) -> Any:  # used by the interpreter, never by `in`
        return z3.Select(self.present, self._key(key))

    def get(self, key: Any) -> Any:
        k = self._key(key)
        return unflatten(self.ty.value, [z3.Select(a, k) for a in self.values])

    def set(self, key: Any, v: Any) -> SMap:
        k = self._key(key)
        xs = flatten(self.ty.value, v)
        values = [z3.Store(a, k, x) for a, x in zip(self.values, xs, strict=True)]
        return SMap(self.ty, z3.Store(self.present, k, True), values)

    def remove(self, key: Any) -> SMap:
        return SMap(self.ty, z3.Store(self.present, self._key(key), False), list(self.values))

    def update(self, other: SMap) -> SMap:
        """This map with other's entries added, other's value where both have a key."""
        k = z3.Const(fresh_name("key"), self.present.domain())
        present = z3.Lambda([k], z3.Or(z3.Select(self.present, k), z3.Select(other.present, k)))
        values = [z3.Lambda([k], z3.If(z3.Select(other.present, k), z3.Select(b, k), z3.Select(a, k)))
                  for a, b in zip(self.values, other.values, strict=True)]
        return SMap(self.ty, present, values)


# ---------------------------------------------------------------------------------------
# Leaves


def _lift_scalar(ty: Ty, v: Any) -> z3.ExprRef:
    if isinstance(v, z3.ExprRef):
        return v
    if isinstance(ty, BoolT):
        return z3.BoolVal(bool(v))
    if isinstance(ty, BVT):
        return z3.BitVecVal(v, ty.width)
    return z3.IntVal(v)


def const_array(ty: Ty, v: Any, index: Ty = INT) -> list[z3.ExprRef]:
    """Leaves of an array (of type ArrT(ty)) whose every element is v."""
    return [z3.K(index.sorts()[0], x) for x in flatten(ty, v)]


def _lift_items(ty: Ty, items: Sequence[Any], index: Ty = INT) -> list[z3.ExprRef]:
    entries = [flatten(ty, item) for item in items]
    content = [x for xs in entries for x in xs]
    leaves = [z3.K(index.sorts()[0], unspecified(s, content)) for s in ty.sorts()]
    for i, xs in enumerate(entries):
        leaves = [z3.Store(a, i, x) for a, x in zip(leaves, xs, strict=True)]
    return leaves


def flatten(ty: Ty, v: Any) -> list[z3.ExprRef]:
    """The Z3 leaves of v, a symbolic or concrete value of type ty."""
    if isinstance(ty, IntT | BoolT | BVT):
        return [_lift_scalar(ty, v)]
    if isinstance(ty, TupT):
        return [ty.pack(v)]
    if isinstance(ty, RecT):
        return [x for name, t in ty.fields for x in flatten(t, getattr(v, name))]
    if isinstance(ty, SeqT):
        if isinstance(v, SSeq):
            return [_lift_scalar(INT, v.length), *v.leaves]
        return [z3.IntVal(len(v)), *_lift_items(ty.elem, list(v))]
    if isinstance(ty, ArrT):
        length = [_lift_scalar(ty.index, v.length if isinstance(v, SArray) else len(v))] if ty.sized else []
        if isinstance(v, SArray):
            return [*length, *v.leaves]
        return [*length, *_lift_items(ty.elem, list(v), ty.index)]
    if isinstance(ty, MapT):
        if isinstance(v, SMap):
            return [v.present, *v.values]
        entries = [(flatten(ty.key, k)[0], flatten(ty.value, v[k])) for k in sorted(v.keys())]
        key_sort = ty.key.sorts()[0]
        present = z3.K(key_sort, z3.BoolVal(False))
        for k, _ in entries:
            present = z3.Store(present, k, True)
        content = [x for k, xs in entries for x in (k, *xs)]
        values = [z3.K(key_sort, unspecified(s, content)) for s in ty.value.sorts()]
        for k, xs in entries:
            values = [z3.Store(a, k, x) for a, x in zip(values, xs, strict=True)]
        return [present, *values]
    raise TypeError(ty)


def unflatten(ty: Ty, leaves: Sequence[z3.ExprRef]) -> Any:
    """The symbolic value of type ty held by these leaves."""
    leaves = list(leaves)
    if isinstance(ty, IntT | BoolT | BVT):
        (x,) = leaves
        return x
    if isinstance(ty, TupT):
        (x,) = leaves
        return ty.unpack(x)
    if isinstance(ty, RecT):
        values = {}
        pos = 0
        for name, t in ty.fields:
            n = len(t.sorts())
            values[name] = unflatten(t, leaves[pos : pos + n])
            pos += n
        return ty.cls(**values)
    if isinstance(ty, SeqT):
        return SSeq(ty, leaves[0], leaves[1:])
    if isinstance(ty, ArrT):
        if ty.sized:
            return SArray(ty, leaves[1:], length=leaves[0])
        return SArray(ty, leaves)
    if isinstance(ty, MapT):
        return SMap(ty, leaves[0], leaves[1:])
    raise TypeError(ty)


def fresh(ty: Ty, name: str) -> Any:
    """A value of type ty with a fresh, unconstrained constant for every leaf."""
    leaves = [z3.Const(f"{name}.{i}" if len(ty.sorts()) > 1 else name, s) for i, s in enumerate(ty.sorts())]
    return unflatten(ty, leaves)


def wellformed(ty: Ty, v: Any) -> z3.BoolRef:
    """What every value of the type satisfies but its leaves alone do not: lengths are >= 0."""
    if isinstance(ty, SeqT):
        length = flatten(ty, v)[0]
        k = z3.Int(fresh_name("k"))
        inner = wellformed(ty.elem, v.get(k))
        if z3.is_true(z3.simplify(inner)):
            return length >= 0
        return z3.And(length >= 0, z3.ForAll([k], z3.Implies(z3.And(0 <= k, k < length), inner)))
    if isinstance(ty, RecT):
        return z3.And([wellformed(t, getattr(v, n)) for n, t in ty.fields])
    if isinstance(ty, MapT):  # every value the map holds
        present, *values = flatten(ty, v)
        k = z3.Const(fresh_name("key"), ty.key.sorts()[0])
        inner = wellformed(ty.value, unflatten(ty.value, [z3.Select(a, k) for a in values]))
        if z3.is_true(z3.simplify(inner)):
            return z3.BoolVal(True)
        return z3.ForAll([k], z3.Implies(z3.Select(present, k), inner))
    return z3.BoolVal(True)


# ---------------------------------------------------------------------------------------
# Merging and equality


def _store_chain(a: z3.ExprRef) -> list[z3.ExprRef]:
    chain = [a]
    while z3.is_store(chain[-1]):
        chain.append(chain[-1].arg(0))
    return chain


def _select(chain: list[z3.ExprRef], i: z3.ExprRef) -> z3.ExprRef:
    """chain[0][i], read through the stores that syntactically decide it."""
    for node in chain[:-1]:
        j = node.arg(1)
        if j.eq(i):
            return node.arg(2)
        if not (z3.is_bv_value(i) or z3.is_int_value(i)) or not (z3.is_bv_value(j) or z3.is_int_value(j)):
            return z3.Select(node, i)
    return z3.Select(chain[-1], i)


def _merge_leaf(c: z3.BoolRef, a: z3.ExprRef, b: z3.ExprRef) -> z3.ExprRef:
    if a.eq(b):
        return a
    if z3.is_array(a):
        # Over a common base, one store per index either side wrote, of If(c, a[i], b[i]):
        # equal to If(c, a, b) everywhere, and proves far faster. One store per index keeps
        # the chain from growing with every merge.
        chain_a, chain_b = _store_chain(a), _store_chain(b)
        ids_a = {n.get_id(): pos for pos, n in enumerate(chain_a)}
        for pos_b, node in enumerate(chain_b):
            if node.get_id() in ids_a:
                written: dict[int, z3.ExprRef] = {}
                for s in [*chain_a[: ids_a[node.get_id()]], *chain_b[:pos_b]]:
                    written.setdefault(s.arg(1).get_id(), s.arg(1))
                out = node
                for i in reversed(list(written.values())):
                    out = z3.Store(out, i, z3.If(c, _select(chain_a, i), _select(chain_b, i)))
                return out
    return z3.If(c, a, b)


def ite(c: Any, ty: Ty, a: Any, b: Any) -> Any:
    """The value that is a where c holds and b elsewhere."""
    if isinstance(c, bool):
        return a if c else b
    if isinstance(ty, IntT | BoolT | BVT) and not isinstance(a, z3.ExprRef) and not isinstance(b, z3.ExprRef):
        if a == b:
            return a
    if isinstance(ty, RecT) and type(a) is type(b) is ty.cls:
        # field by field: a part both sides share (`is`) stays itself, whatever it holds
        return ty.cls(**{n: getattr(a, n) if getattr(a, n) is getattr(b, n)
                         else ite(c, t, getattr(a, n), getattr(b, n)) for n, t in ty.fields})
    leaves = [_merge_leaf(c, x, y) for x, y in zip(flatten(ty, a), flatten(ty, b), strict=True)]
    return unflatten(ty, leaves)


def same_leaf(a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
    """Pointwise equality of two leaves, through every level of array."""
    if z3.is_array(a):
        k = z3.Const(fresh_name("j"), a.domain())
        return z3.ForAll([k], same_leaf(z3.Select(a, k), z3.Select(b, k)))
    return a == b


def equal(ty: Ty, a: Any, b: Any) -> z3.BoolRef:
    """Value equality: pointwise on the visible part, never array extensionality."""
    if isinstance(ty, IntT | BoolT | BVT):
        return _lift_scalar(ty, a) == _lift_scalar(ty, b)
    if isinstance(ty, TupT):
        return ty.pack(a) == ty.pack(b)
    if isinstance(ty, RecT):
        return z3.And([equal(t, getattr(a, n), getattr(b, n)) for n, t in ty.fields])
    if isinstance(ty, SeqT):
        la, *xa = flatten(ty, a)
        lb, *xb = flatten(ty, b)
        k = z3.Int(fresh_name("i"))
        elems = equal(ty.elem, unflatten(ty.elem, [z3.Select(x, k) for x in xa]),
                      unflatten(ty.elem, [z3.Select(x, k) for x in xb]))
        return z3.And(la == lb, z3.ForAll([k], z3.Implies(z3.And(0 <= k, k < la), elems)))
    if isinstance(ty, MapT):
        pa, *va = flatten(ty, a)
        pb, *vb = flatten(ty, b)
        k = z3.Const(fresh_name("key"), ty.key.sorts()[0])
        vals = equal(ty.value, unflatten(ty.value, [z3.Select(x, k) for x in va]),
                     unflatten(ty.value, [z3.Select(x, k) for x in vb]))
        return z3.ForAll([k], z3.And(pa[k] == pb[k], z3.Implies(pa[k], vals)))
    raise TypeError(f"no equality for {ty}")


def _min(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    return z3.If(a <= b, a, b)


def _max(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        return max(a, b)
    return z3.If(a >= b, a, b)
