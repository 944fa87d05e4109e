"""The operations on one subscription, proved to refine the spec's: stat, peek, receive.

`topic.<op>.refines`: for every topic table and every state of the message layer's spec
below it in which a slot is used exactly when its queue is and no two used slots hold
one (pid, topic) (`abstraction.slots_ok`, part of the invariant), the impl's operation,
run over the message layer's spec, answers what the spec's operation answers on the
abstract state (errno and every result), and the abstract state after it is the spec's
after state: the subscriptions, keyed by (pid, topic), included. That map is the
abstraction's own comprehension over the slots (`abstract_over`), which the engine takes
as a map keyed by a function of the slot: its keys one to one is an obligation of the
goal, proved from `slots_ok`.
"""

from __future__ import annotations

import copy
import types
from typing import Any

import z3

import impl.topic as impl_topic
import spec.topic as spec_topic
from impl.topic import TopicTable
from spec.topic import Topics

from ..engine.interp import run
from ..engine.values import INT, RecT, equal, flatten, fresh, unflatten, wellformed
from ..layer import equal_results, over
from ..message import INTERFACE as MESSAGE_INTERFACE
from ..message import SpecMailboxes
from ..obligation import Goal, InvalidCase, Shown, obligation
from .abstraction import abstract_over, mailboxes_ok, slots_ok
from .registry import TOPIC_TABLE, table_size

LOWER = RecT(SpecMailboxes)
TOPICS = RecT(Topics)


# -- the spec's operations, their results as the impl's --------------------------------------


def spec_stat(ts: Topics, pid: int, tid: int) -> tuple[tuple[int, int, int, int, int], Topics]:
    return spec_topic.stat(ts, pid, tid), ts


def spec_peek(ts: Topics, pid: int, tid: int, cap: int) -> tuple[tuple[int, int, bytes], Topics]:
    err, m = spec_topic.peek(ts, pid, tid, cap)
    return (err, m.seq, m.data), ts


def spec_receive(ts: Topics, pid: int, tid: int, cap: int) -> tuple[tuple[int, int, bytes], Topics]:
    err, m, after = spec_topic.receive(ts, pid, tid, cap)
    return (err, m.seq, m.data), after


# operation: (the spec's, its arguments after the state)
OPERATIONS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "stat": (spec_stat, ("pid", "tid")),
    "peek": (spec_peek, ("pid", "tid", "cap")),
    "receive": (spec_receive, ("pid", "tid", "cap")),
}


def case(t: TopicTable, lower: SpecMailboxes) -> bool:
    """The part of the invariant these goals take: the slots against the queues below, and
    the queues as the message layer's spec keeps them."""
    return slots_ok(t, lower.mb) and mailboxes_ok(lower.mb)


def refines(op: str, impl: types.ModuleType = impl_topic) -> Goal:
    """impl's topic_<op> over the message layer's spec answers the spec's <op> of the
    abstract state and leaves the abstract state the spec's after it."""
    spec_op, names = OPERATIONS[op]
    t_leaves = flatten(TOPIC_TABLE, fresh(TOPIC_TABLE, "t"))
    low_leaves = flatten(LOWER, fresh(LOWER, "mq"))
    args = [z3.Int(name) for name in names]
    t0, low0 = unflatten(TOPIC_TABLE, t_leaves), unflatten(LOWER, low_leaves)
    given = run(case, lambda: [t0, low0])
    with over(impl, MESSAGE_INTERFACE):
        out = run(getattr(impl, f"topic_{op}"),
                  lambda: [unflatten(TOPIC_TABLE, t_leaves), unflatten(LOWER, low_leaves), *args])
    t1, low1 = out.args[0], out.args[1]
    before = run(abstract_over, lambda: [t0, low0.mb])
    after = run(abstract_over, lambda: [t1, low1.mb])
    want = run(spec_op, lambda: [before.result, *args])
    want_results, want_after = want.result
    conclusion = z3.And(*out.obligations, *before.obligations, *after.obligations, *want.obligations,
                        equal_results(tuple(out.result), tuple(want_results)),
                        equal(TOPICS, after.result, want_after))
    hyps = [given.result, *given.assumptions, wellformed(TOPIC_TABLE, t0), wellformed(LOWER, low0),
            *out.assumptions, *before.assumptions, *after.assumptions, *want.assumptions]
    size = table_size(t0)
    inputs = {"t": Shown(TOPIC_TABLE, t0, size), "mq": Shown(LOWER, low0, size)}
    inputs.update({name: Shown(INT, a) for name, a in zip(names, args, strict=True)})
    return Goal(hyps, conclusion, inputs, replay=replay_refines, replay_module=impl.__name__,
                replay_extra={"op": op}, sizes=[t0.ntopic, t0.nsub, low0.mb.msg_max])


for _op in OPERATIONS:
    obligation(f"topic.{_op}.refines")(lambda impl=impl_topic, _op=_op: refines(_op, impl))


def replay_refines(impl: types.ModuleType | None, op: str, t: TopicTable, mq: SpecMailboxes,
                   **kw: Any) -> None:
    """The case natively: the impl over the message layer's spec, against the spec."""
    module = impl or impl_topic
    if not case(t, mq):
        raise InvalidCase("a slot and its queue disagree, two slots hold one subscription, or a queue "
                          "is not as the spec keeps it")
    spec_op, names = OPERATIONS[op]
    args = [kw[name] for name in names]
    want_results, want_after = spec_op(abstract_over(copy.deepcopy(t), copy.deepcopy(mq.mb)), *args)
    with over(module, MESSAGE_INTERFACE):
        got = getattr(module, f"topic_{op}")(t, mq, *args)
    assert tuple(got) == tuple(want_results), f"{op} answered {got}, the spec {want_results}"
    got_after = abstract_over(t, mq.mb)
    assert got_after == want_after, f"after {op}: {got_after}, the spec's {want_after}"
