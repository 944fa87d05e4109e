"""The topic layer's proof: impl.topic refines spec.topic over the message and container
layers.

The abstraction reads the descriptor and subscription tables, a subscription's queue
through the message layer's abstraction, and its frames from its slot. The invariant ties
the registry to the descriptors (the hash table finds exactly the live names), every
subscription to a live topic, a live queue of its qlen and frames its pid owns, and the
per-topic subscriber counts to the subscription table.
"""

from __future__ import annotations

import copy
import types
from typing import Any

import z3

import impl.topic as impl_topic
from impl.container import ContainerTable
from impl.message import MsgTable
from impl.topic import TopicTable, queue_pages, topic_live
from spec.abi import E_SUCC
from spec.message import Mailboxes, Message, Queue, enqueue
from spec.topic import Topics

from ..engine.interp import run
from ..engine.values import (
    BOOL,
    BYTES,
    INT,
    RecT,
    equal,
    flatten,
    fresh,
    unflatten,
    wellformed,
)
from ..layer import over, same_leaf
from ..message import INTERFACE as MESSAGE_INTERFACE
from ..message import SpecMailboxes
from ..message import abstract as abstract_mailboxes
from ..message import table_ok as queues_ok
from ..obligation import Goal, InvalidCase, Shown, obligation
from . import delivery, frames, kept, privilege, quota, refines, subscriptions  # noqa: F401 - their obligations are the layer's
from .abstraction import abstract_over, mailboxes_ok, queues_kept
from .registry import TOPIC_TABLE, errno_of, hashes_ok, registry_ok, table_size

# -- abstraction and invariant (executable) --------------------------------------------------


def abstract(t: TopicTable, mq: MsgTable) -> Topics:
    """The spec state of the tables over the message layer's impl: abstract_over its spec."""
    return abstract_over(t, abstract_mailboxes(mq))


def subscription_ok(t: TopicTable, mq: MsgTable, c: ContainerTable, s: int) -> bool:
    """A used slot: a live topic, the frames of a queue of its qlen, owned by its pid (its
    queue holds qlen messages: `slots_ok`)."""
    pid = t.s_pid[s]
    n = t.s_npages[s]
    return (topic_live(t, t.s_topic[s]) and n == queue_pages(t, t.s_qlen[s])
            and all(0 <= t.s_frames[s][i] < c.nframes and c.at_used[t.s_frames[s][i]]
                    and c.at_owner[t.s_frames[s][i]] == pid for i in range(n)))


def table_ok(t: TopicTable, mq: MsgTable, c: ContainerTable) -> bool:
    """The representation invariant of the topic layer over the layers below."""
    used = [s for s in range(t.nsub) if t.s_used[s]]
    queue_frames = [t.s_frames[s][i] for s in used for i in range(t.s_npages[s])]
    # queues_ok first: abstracting the queues reads them; queues_kept begins with slots_ok
    return (1 <= t.ntopic and 0 <= t.nsub and t.qlen_max == mq.qlen_max and 1 <= t.page_size
            and queues_ok(mq) and queues_kept(t, abstract_mailboxes(mq))
            and registry_ok(t) and hashes_ok(t)
            and all(subscription_ok(t, mq, c, s) for s in used)
            and len(set(queue_frames)) == len(queue_frames))


# -- obligations over the layers' specs ------------------------------------------------------

LOWER = RecT(SpecMailboxes)
QUEUE = RecT(Queue)


def fanned_out(t: TopicTable, mb: Mailboxes, tid: int, m: Message, q: int) -> Queue:
    """Queue q after m is published on tid: m appended (the oldest dropped if it is full)
    where q's slot subscribes to tid, as it was elsewhere."""
    subscribed = 0 <= q and q < t.nsub and t.s_used[q] and t.s_topic[q] == tid
    return enqueue(mb.queues[q], m) if subscribed else mb.queues[q]


def publish_over(impl: types.ModuleType, t: TopicTable, lower: SpecMailboxes, privileged: bool, tid: int,
                 data: bytes) -> tuple[int, int]:
    """impl's topic_publish over the message layer's spec."""
    return impl.topic_publish(t, lower, privileged, tid, data)


@obligation("topic.publish.fan_out")
def publish_fan_out(impl: types.ModuleType = impl_topic) -> Goal:
    """Publish, over the message layer's spec, appends the message under the next sequence
    number to the queue of every slot subscribed to the topic and to no other, answers the
    topic's subscriber count, and on an error changes nothing. Of the invariant, only that
    the two layers agree on the number of slots and the largest message is assumed."""
    t_leaves = flatten(TOPIC_TABLE, fresh(TOPIC_TABLE, "t"))
    low_leaves = flatten(LOWER, fresh(LOWER, "mq"))
    privileged, tid, q = z3.Bool("privileged"), z3.Int("tid"), z3.Int("q")
    data = fresh(BYTES, "data")
    with over(impl, MESSAGE_INTERFACE):
        out = run(publish_over, lambda: [impl, unflatten(TOPIC_TABLE, t_leaves), unflatten(LOWER, low_leaves),
                                         privileged, tid, data])
    t0, low0 = unflatten(TOPIC_TABLE, t_leaves), unflatten(LOWER, low_leaves)
    t1, low1 = out.args[1], out.args[2]
    err, reached = out.result
    m = Message(seq=t0.seq + 1, data=data)
    want = run(fanned_out, lambda: [t0, low0.mb, tid, m, q])
    q0, q1 = low0.mb.queues, low1.mb.queues
    success = z3.And(t1.seq == t0.seq + 1, reached == t0.t_nsubs.get(tid),
                     z3.Select(q1.present, q) == z3.Select(q0.present, q),
                     z3.Implies(z3.Select(q0.present, q), equal(QUEUE, q1.get(q), want.result)))
    unchanged = z3.And([a == b for a, b in zip(flatten(LOWER, low0), flatten(LOWER, low1), strict=True)]
                       + [t1.seq == t0.seq])
    conclusion = z3.And(*out.obligations, z3.Implies(err == E_SUCC, success),
                        z3.Implies(err != E_SUCC, unchanged))
    # the sizes the two layers share (the invariant's part that this claim needs)
    agreed = [t0.nsub == low0.mb.slots, t0.msg_max == low0.mb.msg_max]
    hyps = [*agreed, wellformed(BYTES, data), wellformed(LOWER, low0), *out.assumptions, *want.assumptions]
    size = table_size(t0)
    inputs = {"t": Shown(TOPIC_TABLE, t0, size), "mq": Shown(LOWER, low0, size),
              "privileged": Shown(BOOL, privileged), "tid": Shown(INT, tid), "data": Shown(BYTES, data),
              "q": Shown(INT, q)}
    return Goal(hyps, conclusion, inputs, replay=replay_fan_out, replay_module=impl.__name__,
                sizes=[t0.ntopic, t0.nsub, flatten(BYTES, data)[0]], points=[q])


def replay_fan_out(impl: types.ModuleType | None, t: TopicTable, mq: SpecMailboxes, privileged: bool,
                   tid: int, data: bytes, q: int) -> None:
    """The case natively: publish over the message layer's spec, then queue q as claimed."""
    module = impl or impl_topic
    before_t, before = copy.deepcopy(t), copy.deepcopy(mq)
    if t.nsub != mq.mb.slots or t.msg_max != mq.mb.msg_max:
        raise InvalidCase("the two layers disagree on their sizes")
    with over(module, MESSAGE_INTERFACE):
        err, reached = publish_over(module, t, mq, privileged, tid, data)
    if err != E_SUCC:
        assert mq == before and t.seq == before_t.seq, "an error changed the queues"
        return
    assert t.seq == before_t.seq + 1 and reached == before_t.t_nsubs[tid]
    assert (q in mq.mb.queues) == (q in before.mb.queues)
    if q in before.mb.queues:
        want = fanned_out(before_t, before.mb, tid, Message(seq=t.seq, data=data), q)
        assert mq.mb.queues[q] == want, f"queue {q}: {mq.mb.queues[q]!r}, want {want!r}"


# operations that reach only the message layer below: (argument names and types)
OVER_MESSAGES: dict[str, tuple[tuple[str, Any], ...]] = {
    "publish": (("privileged", BOOL), ("tid", INT), ("data", BYTES)),
    "peek": (("pid", INT), ("tid", INT), ("cap", INT)),
    "receive": (("pid", INT), ("tid", INT), ("cap", INT)),
    "stat": (("pid", INT), ("tid", INT)),
}


def unchanged_on_error(op: str, impl: types.ModuleType = impl_topic) -> Goal:
    """An error leaves the topic tables and every queue as they were: a message receive
    refuses (E_MSGSIZE) stays at the head of its queue."""
    t_leaves = flatten(TOPIC_TABLE, fresh(TOPIC_TABLE, "t"))
    low_leaves = flatten(LOWER, fresh(LOWER, "mq"))
    args = [fresh(ty, name) for name, ty in OVER_MESSAGES[op]]
    with over(impl, MESSAGE_INTERFACE):
        out = run(getattr(impl, f"topic_{op}"),
                  lambda: [unflatten(TOPIC_TABLE, t_leaves), unflatten(LOWER, low_leaves), *args])
    before = [*t_leaves, *low_leaves]
    after = [*flatten(TOPIC_TABLE, out.args[0]), *flatten(LOWER, out.args[1])]
    same = z3.And([same_leaf(a, b) for a, b in zip(before, after, strict=True)])
    t0, low0 = unflatten(TOPIC_TABLE, t_leaves), unflatten(LOWER, low_leaves)
    ok = run(mailboxes_ok, lambda: [low0.mb])
    hyps = [ok.result, *ok.assumptions, t0.nsub == low0.mb.slots, t0.msg_max == low0.mb.msg_max,
            wellformed(LOWER, low0),
            *[wellformed(ty, a) for (_, ty), a in zip(OVER_MESSAGES[op], args, strict=True)],
            *out.assumptions]
    size = table_size(t0)
    inputs = {"t": Shown(TOPIC_TABLE, t0, size), "mq": Shown(LOWER, low0, size)}
    inputs.update({name: Shown(ty, a) for (name, ty), a in zip(OVER_MESSAGES[op], args, strict=True)})
    conclusion = z3.And(*out.obligations, z3.Implies(errno_of(out.result) != E_SUCC, same))
    return Goal(hyps, conclusion, inputs, replay=replay_unchanged_on_error, replay_module=impl.__name__,
                replay_extra={"op": op}, sizes=[t0.ntopic, t0.nsub, low0.mb.msg_max])


for _op in OVER_MESSAGES:
    obligation(f"topic.{_op}.unchanged_on_error")(
        lambda impl=impl_topic, _op=_op: unchanged_on_error(_op, impl))


def replay_unchanged_on_error(impl: types.ModuleType | None, op: str, t: TopicTable, mq: SpecMailboxes,
                              **kw: Any) -> None:
    module = impl or impl_topic
    if t.nsub != mq.mb.slots or t.msg_max != mq.mb.msg_max or not mailboxes_ok(mq.mb):
        raise InvalidCase("the two layers disagree on their sizes, or a queue is not as the spec keeps it")
    before_t, before = copy.deepcopy(t), copy.deepcopy(mq)
    with over(module, MESSAGE_INTERFACE):
        result = getattr(module, f"topic_{op}")(t, mq, *[kw[name] for name, _ in OVER_MESSAGES[op]])
    if errno_of(result) != E_SUCC:
        assert t == before_t and mq == before, "an error changed the tables or the queues"
