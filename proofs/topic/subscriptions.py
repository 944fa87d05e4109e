"""The operations that reach only the message layer below, proved to refine the spec's:
stat, peek, receive (one subscription) and publish (every subscription to a topic).

`topic.<op>.refines`: for every topic table and every state of the message layer's spec
below it in which a slot is used exactly when its queue is and no two used slots hold
one (pid, topic) (`abstraction.slots_ok`), and the topic's count of subscribers is right
(`count_ok`; parts of the invariant), the impl's operation,
run over the message layer's spec, answers what the spec's operation answers on the
abstract state (errno and every result), and the abstract state after it is the spec's
after state: the subscriptions, keyed by (pid, topic), included. That map is the
abstraction's own comprehension over the slots (`abstract_over`), which the engine takes
as a map keyed by a function of the slot: its keys one to one is an obligation of the
goal, proved from `slots_ok`. Publish answers the number of subscribers reached: the
impl reads the topic's count, the spec counts the subscriptions (the cardinality of a set
of keys, which the engine pins by a bijection with [0, n)), and `count_ok` ties the two.
"""

from __future__ import annotations

import copy
import types
from dataclasses import fields
from typing import Any

import z3

import impl.topic as impl_topic
import spec.topic as spec_topic
from impl.topic import TopicTable
from spec.abi import Config
from spec.message import mailboxes
from spec.topic import Topics

from ..engine.interp import run
from ..engine.values import BOOL, BYTES, INT, RecT, equal, flatten, fresh, unflatten, wellformed
from ..layer import equal_results, over, same_leaf
from ..message import INTERFACE as MESSAGE_INTERFACE
from ..message import SpecMailboxes
from ..obligation import Goal, InvalidCase, Shown, obligation
from .abstraction import abstract_over, count_ok, mailboxes_ok, queues_kept, slots_ok
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


def spec_publish(ts: Topics, privileged: bool, tid: int, data: bytes) -> tuple[tuple[int, int], Topics]:
    err, reached, after = spec_topic.publish(ts, privileged, tid, data)
    return (err, reached), after


def case(t: TopicTable, lower: SpecMailboxes, tid: int) -> bool:
    """The part of the invariant these goals take: the slots against the queues below, and
    the queues as the message layer's spec keeps them."""
    return slots_ok(t, lower.mb) and mailboxes_ok(lower.mb)


def counted_case(t: TopicTable, lower: SpecMailboxes, tid: int) -> bool:
    """The case, and topic tid's count of subscribers (what publish answers)."""
    return case(t, lower, tid) and count_ok(t, lower.mb, tid)


# operation: (the spec's, its arguments after the state with their types, the case it takes)
OPERATIONS: dict[str, tuple[Any, tuple[tuple[str, Any], ...], Any]] = {
    "stat": (spec_stat, (("pid", INT), ("tid", INT)), case),
    "peek": (spec_peek, (("pid", INT), ("tid", INT), ("cap", INT)), case),
    "receive": (spec_receive, (("pid", INT), ("tid", INT), ("cap", INT)), case),
    "publish": (spec_publish, (("privileged", BOOL), ("tid", INT), ("data", BYTES)), counted_case),
}


def refines(op: str, impl: types.ModuleType = impl_topic) -> Goal:
    """impl's topic_<op> over the message layer's spec answers the spec's <op> of the
    abstract state and leaves the abstract state the spec's after it."""
    spec_op, names, op_case = OPERATIONS[op]
    t_leaves = flatten(TOPIC_TABLE, fresh(TOPIC_TABLE, "t"))
    low_leaves = flatten(LOWER, fresh(LOWER, "mq"))
    args = [fresh(ty, name) for name, ty in names]
    t0, low0 = unflatten(TOPIC_TABLE, t_leaves), unflatten(LOWER, low_leaves)
    given = run(op_case, lambda: [t0, low0, args[[name for name, _ in names].index("tid")]])
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
            *[wellformed(ty, a) for (_, ty), a in zip(names, args, strict=True)],
            *out.assumptions, *before.assumptions, *after.assumptions, *want.assumptions]
    size = table_size(t0)
    inputs = {"t": Shown(TOPIC_TABLE, t0, size), "mq": Shown(LOWER, low0, size)}
    inputs.update({name: Shown(ty, a) for (name, ty), a in zip(names, args, strict=True)})
    return Goal(hyps, conclusion, inputs, replay=replay_refines, replay_module=impl.__name__,
                replay_extra={"op": op}, sizes=[t0.ntopic, t0.nsub, low0.mb.msg_max],
                admissible=lambda v: op_case(v["t"], v["mq"], v["tid"]), example=boot_example(op))


for _op in OPERATIONS:
    obligation(f"topic.{_op}.refines")(lambda impl=impl_topic, _op=_op: refines(_op, impl))


def keeps(op: str, impl: types.ModuleType = impl_topic) -> Goal:
    """impl's topic_<op> over the message layer's spec keeps the invariant's part over the
    message layer (`queues_kept`) and changes no field of the topic table but seq: the
    rest of the invariant (the registry, the descriptors, the slots' frames) reads only
    fields it leaves as they were, and the container table, which it does not take."""
    _, names, _ = OPERATIONS[op]
    t_leaves = flatten(TOPIC_TABLE, fresh(TOPIC_TABLE, "t"))
    low_leaves = flatten(LOWER, fresh(LOWER, "mq"))
    args = [fresh(ty, name) for name, ty in names]
    t0, low0 = unflatten(TOPIC_TABLE, t_leaves), unflatten(LOWER, low_leaves)
    given = run(queues_kept, lambda: [t0, low0.mb])
    with over(impl, MESSAGE_INTERFACE):
        out = run(getattr(impl, f"topic_{op}"),
                  lambda: [unflatten(TOPIC_TABLE, t_leaves), unflatten(LOWER, low_leaves), *args])
    t1, low1 = out.args[0], out.args[1]
    kept = run(queues_kept, lambda: [t1, low1.mb])
    unchanged = [same_leaf(a, b) for name, ty in TOPIC_TABLE.fields if name != "seq"
                 for a, b in zip(flatten(ty, getattr(t0, name)), flatten(ty, getattr(t1, name)), strict=True)]
    # the case's own obligations (its abstraction's keys one to one) are proved, from the case
    conclusion = z3.And(*given.obligations, *out.obligations, *kept.obligations, kept.result, *unchanged)
    hyps = [given.result, *given.assumptions, wellformed(TOPIC_TABLE, t0),
            wellformed(LOWER, low0), *[wellformed(ty, a) for (_, ty), a in zip(names, args, strict=True)],
            *out.assumptions, *kept.assumptions]
    size = table_size(t0)
    inputs = {"t": Shown(TOPIC_TABLE, t0, size), "mq": Shown(LOWER, low0, size)}
    inputs.update({name: Shown(ty, a) for (name, ty), a in zip(names, args, strict=True)})
    return Goal(hyps, conclusion, inputs, replay=replay_keeps, replay_module=impl.__name__,
                replay_extra={"op": op}, sizes=[t0.ntopic, t0.nsub, low0.mb.msg_max],
                admissible=lambda v: queues_kept(v["t"], v["mq"].mb), example=boot_example(op))


def boot_example(op: str) -> dict[str, Any]:
    """The tables at boot over the message layer's spec at boot, the arguments zero: a
    case of every goal here (what shows their hypotheses satisfiable at once)."""
    cfg = Config()
    _, names, _ = OPERATIONS[op]
    zero = {INT: 0, BOOL: False, BYTES: b""}
    return {"t": impl_topic.topic_init(cfg), "mq": SpecMailboxes(mailboxes(cfg)),
            **{name: zero[ty] for name, ty in names}}


for _op in OPERATIONS:
    obligation(f"topic.{_op}.invariant")(lambda impl=impl_topic, _op=_op: keeps(_op, impl))


def replay_keeps(impl: types.ModuleType | None, op: str, t: TopicTable, mq: SpecMailboxes, **kw: Any) -> None:
    module = impl or impl_topic
    if not queues_kept(t, mq.mb):
        raise InvalidCase("the invariant's part over the message layer does not hold before")
    _, names, _ = OPERATIONS[op]
    before = copy.deepcopy(t)
    with over(module, MESSAGE_INTERFACE):
        getattr(module, f"topic_{op}")(t, mq, *[kw[name] for name, _ in names])
    assert queues_kept(t, mq.mb), f"{op} broke the invariant's part over the message layer"
    changed = [f.name for f in fields(t) if f.name != "seq" and getattr(t, f.name) != getattr(before, f.name)]
    assert not changed, f"{op} changed {changed}"


def replay_refines(impl: types.ModuleType | None, op: str, t: TopicTable, mq: SpecMailboxes,
                   **kw: Any) -> None:
    """The case natively: the impl over the message layer's spec, against the spec."""
    module = impl or impl_topic
    spec_op, names, op_case = OPERATIONS[op]
    if not op_case(t, mq, kw["tid"]):
        raise InvalidCase("a slot and its queue disagree, two slots hold one subscription, a queue "
                          "is not as the spec keeps it, or a count of subscribers is wrong")
    args = [kw[name] for name, _ in names]
    want_results, want_after = spec_op(abstract_over(copy.deepcopy(t), copy.deepcopy(mq.mb)), *args)
    with over(module, MESSAGE_INTERFACE):
        got = getattr(module, f"topic_{op}")(t, mq, *args)
    assert tuple(got) == tuple(want_results), f"{op} answered {got}, the spec {want_results}"
    got_after = abstract_over(t, mq.mb)
    assert got_after == want_after, f"after {op}: {got_after}, the spec's {want_after}"
