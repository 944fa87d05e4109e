"""The message layer's proof: impl.message refines spec.message.

The abstraction function and the invariant are ordinary Python, run by the tests and
evaluated symbolically here. Every obligation holds for every table size, every
capacity up to `qlen_max` and every message size: all three are symbolic.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

import impl.message as impl_message
import spec.message as spec_message
from impl.message import MsgTable, ring_index
from spec.abi import DEFAULT, Config
from spec.map import Map
from spec.message import Mailboxes, Message, Queue

from .engine.interp import run
from .engine.values import BOOL, BYTES, INT, ArrT, RecT, equal, flatten, fresh, wellformed
from .harness import Layer, Operation, Setting, as_tuple, errno_only, register
from .layer import differs_only_at
from .obligation import Goal, InvalidCase, Shown, obligation

TABLE = RecT(MsgTable)
BITMAP = ArrT(BOOL)
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


# -- the operations: how each impl result reads as the spec's -----------------------------------


def _message(r: Any) -> tuple[Any, ...]:
    err, seq, data = r
    return err, Message(seq=seq, data=data)


def _op(args: tuple[tuple[str, Any], ...], name: str, observe: Any = errno_only, returns_state: bool = True
        ) -> Operation:
    return Operation(args, getattr(spec_message, f"queue_{name}"), observe, returns_state=returns_state)


OPERATIONS: dict[str, Operation] = {
    "create": _op((("capacity", INT),), "create", as_tuple),
    "destroy": _op((("q", INT),), "destroy"),
    "enqueue": _op((("q", INT), ("seq", INT), ("data", BYTES)), "enqueue"),
    "enqueue_where": _op((("targets", BITMAP), ("seq", INT), ("data", BYTES)), "enqueue_where"),
    "dequeue": _op((("q", INT),), "dequeue", _message),
    "peek": _op((("q", INT),), "peek", _message, returns_state=False),
    "length": _op((("q", INT),), "length", as_tuple, returns_state=False),
    "dropped": _op((("q", INT),), "dropped", as_tuple, returns_state=False),
    "clear": _op((("q", INT),), "clear"),
}
MUTATORS = ("create", "destroy", "enqueue", "enqueue_where", "dequeue", "clear")
ONE_QUEUE = ("create", "destroy", "enqueue", "dequeue", "clear")  # those that change one queue alone


def _sizes(s: Setting) -> list[Any]:
    t = s.pre()
    lengths = [flatten(ty, a)[0] if ty is BYTES else a
               for (_, ty), a in zip(s.operation.args, s.args, strict=True) if ty in (BYTES, INT)]
    return [t.nslots, t.qlen_max, t.msg_max, *lengths]


def _capacity(s: Setting, capacity: int | None) -> list[z3.BoolRef]:
    """With a capacity (the benchmarks'), the queue operated on has that capacity."""
    if capacity is None:
        return []
    t = s.pre()
    fixed = s.args[0] if s.op == "create" else t.cap.get(s.args[0])
    return [t.qlen_max == DEFAULT.QLEN_MAX, fixed == capacity]


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


LAYER = Layer(name="message", impl=impl_message, prefix="queue_", state=TABLE, spec_state=MAILBOXES,
              abstract=abstract, invariant=table_ok, operations=OPERATIONS, size=_table_size,
              sizes=_sizes, extra=_capacity)


def isolated(layer: Layer, op: str, impl: types.ModuleType | None = None,
             capacity: int | None = None) -> Goal:
    """No other descriptor, nor a byte of another queue's ring, changes: rings share nothing."""
    s = Setting(layer, op, impl, capacity)
    given = s.given()
    q = s.out.result[1] if op == "create" else s.args[0]
    return s.goal(given, differs_only_at(TABLE, s.pre(), s.post(), q), replay_isolated)


KINDS = register(LAYER, {"isolation": isolated},
                 only={"isolation": ONE_QUEUE, "unchanged_on_error": MUTATORS})
refines, preserves = KINDS["refines"], KINDS["invariant"]


def _config() -> tuple[Config, list[z3.BoolRef]]:
    n, qmax, mmax = z3.Ints("NUM_SUB QLEN_MAX MSG_MAX")
    return Config(NUM_SUB=n, QLEN_MAX=qmax, MSG_MAX=mmax), [n >= 0, qmax >= 1, mmax >= 0]


def _config_inputs(cfg: Config) -> dict[str, Shown]:
    return {name: Shown(INT, getattr(cfg, name)) for name in ("NUM_SUB", "QLEN_MAX", "MSG_MAX")}


@obligation("message.init.refines")
def init_refines(impl: types.ModuleType = impl_message) -> Goal:
    """The boot table holds no queue, as the spec's boot state."""
    cfg, hyps = _config()
    table = run(impl.msgq_init, lambda: [cfg])
    after = run(abstract, lambda: [table.result])
    want = run(spec_message.mailboxes, lambda: [cfg])
    return Goal([*hyps, *table.assumptions, *after.assumptions], equal(MAILBOXES, after.result, want.result),
                _config_inputs(cfg))


@obligation("message.init.invariant")
def init_invariant(impl: types.ModuleType = impl_message) -> Goal:
    cfg, hyps = _config()
    table = run(impl.msgq_init, lambda: [cfg])
    ok = run(table_ok, lambda: [table.result])
    return Goal([*hyps, *table.assumptions, *ok.assumptions], ok.result, _config_inputs(cfg))


def replay_isolated(impl: types.ModuleType | None, layer: str, op: str, table: MsgTable, **kw: Any) -> None:
    """No descriptor but the one operated on changes."""
    if not table_ok(table):
        raise InvalidCase("the table breaks the invariant")
    before = copy.deepcopy(table)
    args = [kw[n] for n in OPERATIONS[op].names]
    got = OPERATIONS[op].observe(LAYER.impl_function(impl, op)(table, *args))
    q = got[1] if op == "create" else kw["q"]
    for other in range(table.nslots):
        if other != q:
            for field in ("used", "head", "count", "cap", "dropped", "ent_seq", "ent_len", "ent_data"):
                assert getattr(table, field)[other] == getattr(before, field)[other], (field, other)


# -- what the spec itself promises ------------------------------------------------------------

QUEUE = RecT(Queue)
MESSAGE = RecT(Message)


def _fresh_queue() -> tuple[Queue, Message, list[z3.BoolRef]]:
    q = fresh(QUEUE, "q")
    m = fresh(MESSAGE, "m")
    n = flatten(QUEUE, q)[1]
    return q, m, [wellformed(QUEUE, q), wellformed(MESSAGE, m), q.capacity >= 1, n <= q.capacity]


@obligation("message.enqueue.bounded")
def enqueue_bounded(impl: types.ModuleType = impl_message) -> Goal:
    """A queue never holds more than its capacity."""
    q, m, hyps = _fresh_queue()
    after = run(spec_message.enqueue, lambda: [q, m]).result
    return Goal(hyps, flatten(QUEUE, after)[1] <= after.capacity,
                {"queue": Shown(QUEUE, q), "message": Shown(MESSAGE, m)})


@obligation("message.enqueue.drops_oldest")
def enqueue_drops_oldest(impl: types.ModuleType = impl_message) -> Goal:
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


# -- the layer's interface over its spec, for the layers above ---------------------------------


@dataclass
class SpecMailboxes:
    """The message layer as the layer above holds it, abstractly: the spec's state."""

    mb: Mailboxes


def spec_queue_create(lower: SpecMailboxes, capacity: int) -> tuple[int, int]:
    err, q, lower.mb = spec_message.queue_create(lower.mb, capacity)
    return err, q


def spec_queue_destroy(lower: SpecMailboxes, q: int) -> int:
    err, lower.mb = spec_message.queue_destroy(lower.mb, q)
    return err


def spec_queue_enqueue_where(lower: SpecMailboxes, targets: list[bool], seq: int, data: bytes) -> int:
    err, lower.mb = spec_message.queue_enqueue_where(lower.mb, targets, seq, data)
    return err


def spec_queue_peek(lower: SpecMailboxes, q: int) -> tuple[int, int, bytes]:
    err, m = spec_message.queue_peek(lower.mb, q)
    return err, m.seq, m.data


def spec_queue_dequeue(lower: SpecMailboxes, q: int) -> tuple[int, int, bytes]:
    err, m, lower.mb = spec_message.queue_dequeue(lower.mb, q)
    return err, m.seq, m.data


def spec_queue_length(lower: SpecMailboxes, q: int) -> tuple[int, int]:
    return spec_message.queue_length(lower.mb, q)


def spec_queue_dropped(lower: SpecMailboxes, q: int) -> tuple[int, int]:
    return spec_message.queue_dropped(lower.mb, q)


INTERFACE = {"queue_create": spec_queue_create, "queue_destroy": spec_queue_destroy,
             "queue_enqueue_where": spec_queue_enqueue_where, "queue_peek": spec_queue_peek,
             "queue_dequeue": spec_queue_dequeue, "queue_length": spec_queue_length,
             "queue_dropped": spec_queue_dropped}
