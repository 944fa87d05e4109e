"""The message layer's proof: impl.message refines spec.message.

The abstraction function and the invariant are ordinary Python, run by the tests and
evaluated symbolically here. Every obligation holds for every table size, every
capacity up to `qlen_max` and every message size: all three are symbolic.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from typing import Any

import z3

import impl.message as impl_message
import spec.message as spec_message
from impl.message import MsgTable, ring_index
from spec.abi import DEFAULT, E_SUCC, Config
from spec.map import Map
from spec.message import Mailboxes, Message, Queue

from .engine.interp import run
from .engine.values import BYTES, INT, RecT, equal, flatten, fresh, unflatten, wellformed
from .layer import differs_only_at, equal_results, same_leaf
from .obligation import Goal, InvalidCase, Shown, obligation

TABLE = RecT(MsgTable)
MAILBOXES = RecT(Mailboxes)


# -- abstraction and invariant (executable) --------------------------------------------------


def abstract_message(t: MsgTable, q: int, slot: int) -> Message:
    return Message(seq=t.ent_seq[q][slot], data=bytes(t.ent_data[q][slot][: t.ent_len[q][slot]]))


def abstract_queue(t: MsgTable, q: int) -> Queue:
    cap = t.cap[q]
    head = t.head[q]
    items = tuple(abstract_message(t, q, ring_index(head, k, cap)) for k in range(t.count[q]))
    return Queue(capacity=cap, items=items, dropped=t.dropped[q])


def abstract(t: MsgTable) -> Mailboxes:
    """The queues a table holds: one per descriptor in use, oldest entry first."""
    queues = Map({q: abstract_queue(t, q) for q in range(t.nslots) if t.used[q]})
    return Mailboxes(slots=t.nslots, qlen_max=t.qlen_max, msg_max=t.msg_max, queues=queues)


def queue_ok(t: MsgTable, q: int) -> bool:
    cap = t.cap[q]
    return (1 <= cap and cap <= t.qlen_max
            and 0 <= t.head[q] and t.head[q] < cap
            and 0 <= t.count[q] and t.count[q] <= cap
            and 0 <= t.dropped[q]
            and all(0 <= t.ent_len[q][i] and t.ent_len[q][i] <= t.msg_max for i in range(cap)))


def table_ok(t: MsgTable) -> bool:
    """The representation invariant: every ring in use is well formed."""
    return (0 <= t.nslots and 1 <= t.qlen_max and 0 <= t.msg_max
            and all(queue_ok(t, q) for q in range(t.nslots) if t.used[q]))


# -- how each impl operation's results read as the spec's --------------------------------------

Observe = Callable[[Any], tuple[Any, ...]]


def _errno(r: Any) -> tuple[Any, ...]:
    return (r,)


def _as_tuple(r: Any) -> tuple[Any, ...]:
    return tuple(r)


def _message(r: Any) -> tuple[Any, ...]:
    err, seq, data = r
    return err, Message(seq=seq, data=data)


# name: (argument types, impl result as the spec's results, spec result carries a new state)
OPERATIONS: dict[str, tuple[list[Any], Observe, bool]] = {
    "create": ([INT], _as_tuple, True),
    "destroy": ([INT], _errno, True),
    "enqueue": ([INT, INT, BYTES], _errno, True),
    "dequeue": ([INT], _message, True),
    "peek": ([INT], _message, False),
    "length": ([INT], _as_tuple, False),
    "dropped": ([INT], _as_tuple, False),
    "clear": ([INT], _errno, True),
}


def split_results(op: str, out: tuple[Any, ...], mb: Mailboxes) -> tuple[tuple[Any, ...], Mailboxes]:
    """The spec's results apart from its new state (the old one where it keeps it)."""
    return (tuple(out[:-1]), out[-1]) if OPERATIONS[op][2] else (tuple(out), mb)


def spec_results(op: str, mb: Mailboxes, args: list[Any]) -> tuple[tuple[Any, ...], Mailboxes]:
    return split_results(op, getattr(spec_message, f"queue_{op}")(mb, *args), mb)


# -- building goals -------------------------------------------------------------------------


class Setting:
    """A symbolic pre-state and arguments for one operation, with their hypotheses."""

    def __init__(self, op: str, capacity: int | None = None) -> None:
        self.op = op
        self.table = fresh(TABLE, "t")
        self.leaves = flatten(TABLE, self.table)
        self.args = [fresh(ty, f"arg{i}") for i, ty in enumerate(OPERATIONS[op][0])]
        ok = run(table_ok, lambda: [self.pre()])
        self.hypotheses: list[z3.BoolRef] = [ok.result, *ok.assumptions]
        self.hypotheses += [wellformed(ty, a) for ty, a in zip(OPERATIONS[op][0], self.args, strict=True)]
        if capacity is not None:
            fixed = self.args[0] if op == "create" else self.table.cap.get(self.args[0])
            self.hypotheses += [self.table.qlen_max == DEFAULT.QLEN_MAX, fixed == capacity]

    def pre(self) -> MsgTable:
        return unflatten(TABLE, self.leaves)

    def abstract(self, table: MsgTable) -> tuple[Mailboxes, list[z3.BoolRef]]:
        out = run(abstract, lambda: [table])
        return out.result, out.assumptions

    def sizes(self) -> list[z3.ArithRef]:
        t = self.table
        lengths = [flatten(ty, a)[0] if ty is BYTES else a
                   for ty, a in zip(OPERATIONS[self.op][0], self.args, strict=True)]
        return [t.nslots, t.qlen_max, t.msg_max, *lengths]

    def inputs(self) -> dict[str, Shown]:
        shown = {"table": Shown(TABLE, self.pre(), _table_size(self.pre()))}
        for i, ty in enumerate(OPERATIONS[self.op][0]):
            shown[_arg_names(self.op)[i]] = Shown(ty, self.args[i])
        return shown


def _arg_names(op: str) -> list[str]:
    return {"create": ["capacity"], "enqueue": ["q", "seq", "data"]}.get(op, ["q"])


def _table_size(t: MsgTable) -> Callable[[Any, z3.ModelRef], int]:
    def size(arr: Any, model: z3.ModelRef) -> int:
        def ev(x: Any) -> Any:
            return model.eval(x, model_completion=True)

        depth, index = 0, None
        node = arr
        while node.parent is not None:
            node, index = node.parent[0], node.parent[1]
            depth += 1
        n = ev(t.nslots).as_long()
        if depth == 0:
            return max(n, 0)
        if depth == 1:
            return ev(t.cap.get(index)).as_long() if z3.is_true(ev(t.used.get(index))) else 0
        return max(ev(t.msg_max).as_long(), 0)

    return size


def _impl_outcome(setting: Setting, impl: types.ModuleType) -> Any:
    fn = getattr(impl, f"queue_{setting.op}")
    return run(fn, lambda: [setting.pre(), *setting.args])


def refines(op: str, impl: types.ModuleType = impl_message, capacity: int | None = None) -> Goal:
    """Same results, errors included, and the abstraction of the new table is the spec's state."""
    s = Setting(op, capacity)
    out = _impl_outcome(s, impl)
    before, assume_before = s.abstract(s.pre())
    after, assume_after = s.abstract(out.args[0])
    spec_out = run(getattr(spec_message, f"queue_{op}"), lambda: [before, *s.args])
    want_results, want_state = split_results(op, spec_out.result, before)
    got = OPERATIONS[op][1](out.result)
    conclusion = z3.And(equal_results(got, want_results), _equal_state(after, want_state))
    hyps = [*s.hypotheses, *out.assumptions, *assume_before, *assume_after, *spec_out.assumptions]
    return Goal(hyps, conclusion, s.inputs(), replay=replay_refines, replay_module=impl.__name__,
                replay_extra={"op": op},
                compare=lambda v: compare_refines(op, impl, v), sizes=s.sizes())


def _equal_state(a: Mailboxes, b: Mailboxes) -> z3.BoolRef:
    return equal(MAILBOXES, a, b)


def preserves(op: str, impl: types.ModuleType = impl_message, capacity: int | None = None) -> Goal:
    """The invariant holds afterwards."""
    s = Setting(op, capacity)
    out = _impl_outcome(s, impl)
    ok = run(table_ok, lambda: [out.args[0]])
    return Goal([*s.hypotheses, *out.assumptions, *ok.assumptions], ok.result, s.inputs(),
                sizes=s.sizes(), replay=replay_preserves, replay_module=impl.__name__,
                replay_extra={"op": op})


def isolated(op: str, impl: types.ModuleType = impl_message, capacity: int | None = None) -> Goal:
    """No other descriptor, nor a byte of another queue's ring, changes: rings share nothing."""
    s = Setting(op, capacity)
    out = _impl_outcome(s, impl)
    q = out.result[1] if op == "create" else s.args[0]
    frame = differs_only_at(TABLE, s.pre(), out.args[0], q)
    return Goal([*s.hypotheses, *out.assumptions], frame, s.inputs(), sizes=s.sizes(),
                replay=replay_isolated, replay_module=impl.__name__, replay_extra={"op": op})


def unchanged_on_error(op: str, impl: types.ModuleType = impl_message,
                       capacity: int | None = None) -> Goal:
    """An operation that returns an error leaves every field and byte of the table as it was."""
    s = Setting(op, capacity)
    out = _impl_outcome(s, impl)
    errno = out.result if isinstance(out.result, z3.ExprRef | int) else out.result[0]
    same = z3.And([same_leaf(a, b) for a, b in
                   zip(flatten(TABLE, s.pre()), flatten(TABLE, out.args[0]), strict=True)])
    return Goal([*s.hypotheses, *out.assumptions], z3.Implies(errno != E_SUCC, same), s.inputs(),
                sizes=s.sizes(), replay=replay_unchanged_on_error, replay_module=impl.__name__,
                replay_extra={"op": op})


MUTATORS = ("create", "destroy", "enqueue", "dequeue", "clear")

for _op in OPERATIONS:
    for _kind, _builder in (("refines", refines), ("invariant", preserves), ("isolation", isolated),
                            ("unchanged_on_error", unchanged_on_error)):
        if _kind in ("isolation", "unchanged_on_error") and _op not in MUTATORS:
            continue
        obligation(f"message.{_op}.{_kind}")(
            lambda impl=impl_message, capacity=None, _op=_op, _b=_builder: _b(_op, impl, capacity))


def _config() -> tuple[Config, list[z3.BoolRef]]:
    n, qmax, mmax = z3.Ints("NUM_SUB QLEN_MAX MSG_MAX")
    return Config(NUM_SUB=n, QLEN_MAX=qmax, MSG_MAX=mmax), [n >= 0, qmax >= 1, mmax >= 0]


def _config_inputs(cfg: Config) -> dict[str, Shown]:
    return {name: Shown(INT, getattr(cfg, name)) for name in ("NUM_SUB", "QLEN_MAX", "MSG_MAX")}


@obligation("message.init.refines")
def init_refines(impl: types.ModuleType = impl_message, capacity: int | None = None) -> Goal:
    """The boot table holds no queue, as the spec's boot state."""
    cfg, hyps = _config()
    table = run(impl.msgq_init, lambda: [cfg])
    after = run(abstract, lambda: [table.result])
    want = run(spec_message.mailboxes, lambda: [cfg])
    return Goal([*hyps, *table.assumptions, *after.assumptions], _equal_state(after.result, want.result),
                _config_inputs(cfg))


@obligation("message.init.invariant")
def init_invariant(impl: types.ModuleType = impl_message, capacity: int | None = None) -> Goal:
    cfg, hyps = _config()
    table = run(impl.msgq_init, lambda: [cfg])
    ok = run(table_ok, lambda: [table.result])
    return Goal([*hyps, *table.assumptions, *ok.assumptions], ok.result,
                _config_inputs(cfg))


# -- replays: the same checks, natively, on one concrete case ------------------------------------


def _native(op: str, impl: types.ModuleType | None, table: MsgTable, args: list[Any]) -> tuple[Any, ...]:
    """Run op on the impl and on the spec; a table outside the invariant is no valid case."""
    impl = impl or impl_message
    if not table_ok(table):
        raise InvalidCase("the table breaks the invariant")
    before = abstract(table)
    result = getattr(impl, f"queue_{op}")(table, *args)
    return OPERATIONS[op][1](result), spec_results(op, before, args)


def _args(op: str, kw: dict[str, Any]) -> list[Any]:
    return [kw[n] for n in _arg_names(op)]


def compare_refines(op: str, impl: types.ModuleType, values: dict[str, Any]) -> str:
    table = copy.deepcopy(values["table"])
    try:
        got, (want, want_state) = _native(op, impl, table, _args(op, values))
    except Exception as exc:  # noqa: BLE001 - shown to the reader, not swallowed
        return f"  replay raised {exc!r}"
    return (f"  spec: results {want!r}\n        state   {want_state!r}\n"
            f"  impl: results {got!r}\n        state   {abstract(table)!r}")


def replay_refines(impl: types.ModuleType | None, op: str, table: MsgTable, **kw: Any) -> None:
    got, (want, want_state) = _native(op, impl, table, _args(op, kw))
    assert got == want, f"impl results {got!r} != spec results {want!r}"
    assert abstract(table) == want_state, "impl state does not abstract to the spec's"


def replay_preserves(impl: types.ModuleType | None, op: str, table: MsgTable, **kw: Any) -> None:
    _native(op, impl, table, _args(op, kw))
    assert table_ok(table), "the invariant is broken"


def replay_isolated(impl: types.ModuleType | None, op: str, table: MsgTable, **kw: Any) -> None:
    before = copy.deepcopy(table)
    got, _ = _native(op, impl, table, _args(op, kw))
    q = got[1] if op == "create" else kw["q"]
    for other in range(table.nslots):
        if other != q:
            for field in ("used", "head", "count", "cap", "dropped", "ent_seq", "ent_len", "ent_data"):
                assert getattr(table, field)[other] == getattr(before, field)[other], (field, other)


def replay_unchanged_on_error(impl: types.ModuleType | None, op: str, table: MsgTable, **kw: Any) -> None:
    before = copy.deepcopy(table)
    got, _ = _native(op, impl, table, _args(op, kw))
    if got[0] != E_SUCC:
        assert table == before, "an error changed the table"




# -- what the spec itself promises ------------------------------------------------------------

QUEUE = RecT(Queue)
MESSAGE = RecT(Message)


def _fresh_queue() -> tuple[Queue, Message, list[z3.BoolRef]]:
    q = fresh(QUEUE, "q")
    m = fresh(MESSAGE, "m")
    n = flatten(QUEUE, q)[1]
    return q, m, [wellformed(QUEUE, q), wellformed(MESSAGE, m), q.capacity >= 1, n <= q.capacity]


@obligation("message.enqueue.bounded")
def enqueue_bounded(impl: types.ModuleType = impl_message, capacity: int | None = None) -> Goal:
    """A queue never holds more than its capacity."""
    q, m, hyps = _fresh_queue()
    after = run(spec_message.enqueue, lambda: [q, m]).result
    return Goal(hyps, flatten(QUEUE, after)[1] <= after.capacity,
                {"queue": Shown(QUEUE, q), "message": Shown(MESSAGE, m)})


@obligation("message.enqueue.drops_oldest")
def enqueue_drops_oldest(impl: types.ModuleType = impl_message, capacity: int | None = None) -> Goal:
    """Enqueue keeps the newest messages, m last, and counts exactly those it let go."""
    q, m, hyps = _fresh_queue()
    after = run(spec_message.enqueue, lambda: [q, m]).result
    old = q.items.append(m)
    n_old, n_new = old.length, after.items.length
    k = z3.Int("k")
    kept = z3.ForAll([k], z3.Implies(z3.And(0 <= k, k < n_new),
                                     equal(MESSAGE, after.items.get(k), old.get(n_old - n_new + k))))
    conclusion = z3.And(n_new >= 1, equal(MESSAGE, after.items.get(n_new - 1), m), kept,
                        after.dropped == q.dropped + (n_old - n_new))
    return Goal(hyps, conclusion, {"queue": Shown(QUEUE, q), "message": Shown(MESSAGE, m)})
