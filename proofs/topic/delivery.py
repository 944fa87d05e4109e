"""Delivery: what a subscriber's queue holds, stated over a ghost log beside the spec state.

Beside each subscription the proof keeps what it has been sent (`Sent`): every message
published on its topic since it subscribed, in publish order, and how many of them it has
received. The property (`delivered`): the queue holds, in publish order, the last messages
of that log, at most qlen of them; and `dropped` counts exactly the others that it neither
received nor holds. So no message is lost without being counted, none is delivered twice
or out of order, and none published before the subscription or on another topic arrives.

`topic.publish.delivers` and `topic.receive.delivers`: the two operations that move
messages keep the property of every subscription, the log growing by the message
published on its topic, and the received count by the message received, which is the
oldest it had not received. Both are about the spec alone (`spec.topic`), whose queues are
`spec.message`'s.
"""

from __future__ import annotations

import copy
import types
from dataclasses import dataclass
from typing import Any

import z3

import impl.topic as impl_topic
import spec.topic as spec_topic
from spec.abi import E_SUCC
from spec.container import Containers
from spec.map import Map
from spec.message import Message, Queue
from spec.topic import Subscription, Topics

from ..engine.interp import run
from ..engine.values import BOOL, BYTES, INT, MapT, RecT, SeqT, TupT, flatten, fresh, wellformed
from ..obligation import Goal, InvalidCase, Shown, obligation

# -- the ghost and the property (executable) ---------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """What one subscription has been sent: the messages published on its topic since it
    subscribed, in publish order, and how many of them it has received."""

    log: tuple[Message, ...]
    received: int


def delivered(s: Subscription, g: Sent) -> bool:
    """The queue holds, in order, the last messages of the log, at most qlen (and qlen >= 1);
    dropped counts exactly the messages of the log neither received nor held."""
    q = s.queue
    first = g.received + q.dropped  # the first of the log the queue holds
    n = len(q.items)
    return (1 <= q.capacity and n <= q.capacity and 0 <= g.received and 0 <= q.dropped
            and first + n == len(g.log)
            and all(q.items[i] == g.log[first + i] for i in range(n)))


def delivery_ok(ts: Topics, sent: Map[tuple[int, int], Sent]) -> bool:
    """Every subscription has a ghost, and its queue is as it has been sent (what the
    differential tests check after every step)."""
    return all(key in sent and delivered(ts.subs[key], sent[key]) for key in ts.subs)


def sent_to(sent: Map[tuple[int, int], Sent], tid: int, m: Message) -> Map[tuple[int, int], Sent]:
    """m, published on tid, added to the log of every subscription to tid."""
    return Map({key: Sent(log=g.log + (m,), received=g.received) if key[1] == tid else g
                for key, g in sent.items()})


def received_one(sent: Map[tuple[int, int], Sent], key: tuple[int, int]) -> Map[tuple[int, int], Sent]:
    """One more message received by the subscription of that key."""
    g = sent[key]
    return sent.set(key, Sent(log=g.log, received=g.received + 1))


def publish_step(ts: Topics, sent: Map[tuple[int, int], Sent], privileged: bool, tid: int,
                 data: bytes) -> tuple[Topics, Map[tuple[int, int], Sent]]:
    """The spec's publish, and the message it publishes sent to every subscription of tid."""
    err, _, after = spec_topic.publish(ts, privileged, tid, data)
    if err != E_SUCC:
        return after, sent
    return after, sent_to(sent, tid, Message(seq=after.seq, data=data))


def receive_step(ts: Topics, sent: Map[tuple[int, int], Sent], pid: int, tid: int,
                 cap: int) -> tuple[Topics, Map[tuple[int, int], Sent], bool]:
    """The spec's receive, the message counted as received; and whether the message
    received is the oldest of the log that was neither received nor dropped."""
    err, m, after = spec_topic.receive(ts, pid, tid, cap)
    if err != E_SUCC:
        return after, sent, True
    g = sent[(pid, tid)]
    oldest = g.log[g.received + ts.subs[(pid, tid)].queue.dropped]
    return after, received_one(sent, (pid, tid)), m == oldest


def subscribe_step(ts: Topics, sent: Map[tuple[int, int], Sent], cs: Containers, pid: int, tid: int,
                   qlen: int, callback: int,
                   frames: tuple[int, ...]) -> tuple[Topics, Map[tuple[int, int], Sent]]:
    """The spec's subscribe; a new subscription has been sent nothing yet."""
    err, after, _ = spec_topic.subscribe(ts, cs, pid, tid, qlen, callback, frames)
    if err != E_SUCC:
        return after, sent
    return after, sent.set((pid, tid), Sent(log=(), received=0))


def unsubscribe_step(ts: Topics, sent: Map[tuple[int, int], Sent], cs: Containers, pid: int,
                     tid: int) -> tuple[Topics, Map[tuple[int, int], Sent]]:
    """The spec's unsubscribe; the subscription's ghost ends with it."""
    err, after, _ = spec_topic.unsubscribe(ts, cs, pid, tid)
    if err != E_SUCC:
        return after, sent
    return after, sent.remove((pid, tid))


def destroy_step(ts: Topics, sent: Map[tuple[int, int], Sent], cs: Containers, pid: int,
                 tid: int) -> tuple[Topics, Map[tuple[int, int], Sent]]:
    """The spec's destroy; the ghosts of the topic's subscriptions end with them."""
    err, after, _ = spec_topic.destroy(ts, cs, pid, tid)
    if err != E_SUCC:
        return after, sent
    return after, Map({key: g for key, g in sent.items() if key[1] != tid})


# -- obligations --------------------------------------------------------------------------------


def delivered_at(ts: Topics, sent: Map[tuple[int, int], Sent], key: tuple[int, int]) -> bool:
    """The subscription of that key, if any, has a ghost and is as it has been sent."""
    return key not in ts.subs or (key in sent and delivered(ts.subs[key], sent[key]))


TOPICS = RecT(Topics)
QUEUE = RecT(Queue)
LOG = SeqT(RecT(Message))
FRAMES = SeqT(INT)
SENT = MapT(RecT(Sent), key=TupT((INT, INT)))
CONTAINERS = RecT(Containers)
def distinct(frames: tuple[int, ...]) -> bool:
    """No frame twice (subscribe is given distinct frames)."""
    return all(all(frames[i] != frames[j] for j in range(i + 1, len(frames))) for i in range(len(frames)))


def nothing_given(ts: Topics, *args: Any) -> bool:
    return True


def subscriber_given(ts: Topics, cs: Containers, pid: int, tid: int, *args: Any) -> bool:
    """The subscriber has a container (the caller is a live process)."""
    return pid in cs.live


def frames_given(ts: Topics, cs: Containers, pid: int, tid: int, qlen: int, callback: int,
                 frames: tuple[int, ...]) -> bool:
    """The subscriber has a container, pages have a size, and the frames are distinct."""
    return pid in cs.live and 1 <= ts.page_size and distinct(frames)


def subscribers_given(ts: Topics, cs: Containers, pid: int, tid: int) -> bool:
    """Every subscriber of the topic has a container."""
    return all(key[0] in cs.live for key in ts.subs if key[1] == tid)


# step: (its function, its arguments after the state, the subscriptions it reads besides the
# point's, what it is given of the state and its arguments: what makes it run natively)
STEPS: dict[str, tuple[Any, tuple[tuple[str, Any], ...], Any, Any]] = {
    "publish": (publish_step, (("privileged", BOOL), ("tid", INT), ("data", BYTES)), lambda args: [],
                nothing_given),
    "receive": (receive_step, (("pid", INT), ("tid", INT), ("cap", INT)),
                lambda args: [(args[0], args[1])], nothing_given),
    "subscribe": (subscribe_step, (("cs", CONTAINERS), ("pid", INT), ("tid", INT), ("qlen", INT),
                                   ("callback", INT), ("frames", FRAMES)), lambda args: [],
                  frames_given),
    "unsubscribe": (unsubscribe_step, (("cs", CONTAINERS), ("pid", INT), ("tid", INT)), lambda args: [],
                    subscriber_given),
    "destroy": (destroy_step, (("cs", CONTAINERS), ("pid", INT), ("tid", INT)), lambda args: [],
                subscribers_given),
}


def delivers(op: str, impl: types.ModuleType = impl_topic) -> Goal:
    """Key by key: for every subscription (p, q) as it has been sent, the step leaves it
    so (and a message received is the oldest not yet received). The step changes each
    subscription by itself, so this is the property of every subscription kept."""
    step, names, reads, requires = STEPS[op]
    ts, sent = fresh(TOPICS, "ts"), fresh(SENT, "sent")
    args = [fresh(ty, name) for name, ty in names]
    given = run(requires, lambda: [ts, *args])
    point = (z3.Int("p"), z3.Int("q"))
    keys = [point, *reads(args)]
    before = [run(delivered_at, lambda key=key: [ts, sent, key]) for key in keys]
    out = run(step, lambda: [ts, sent, *args])
    ts1, sent1, *oldest = out.result
    after = run(delivered_at, lambda: [ts1, sent1, point])
    hyps = [z3.BoolVal(given.result) if isinstance(given.result, bool) else given.result,
            *given.assumptions, *[b.result for b in before],
            *[a for b in before for a in b.assumptions],
            wellformed(TOPICS, ts), wellformed(SENT, sent),
            *[wellformed(ty, a) for (_, ty), a in zip(names, args, strict=True)],
            *out.assumptions, *after.assumptions]
    conclusion = z3.And(*out.obligations, *after.obligations, after.result, *oldest)
    # the keys the goal reads: subscriptions at the point and the step's, the topic published
    shown = [*keys, *[a for (name, _), a in zip(names, args, strict=True) if name == "tid"]]
    inputs = {"ts": Shown(TOPICS, ts, keys=shown), "sent": Shown(SENT, sent, keys=shown),
              "p": Shown(INT, point[0]), "q": Shown(INT, point[1])}
    # the containers at the caller's pid and at the pids of the subscriptions shown
    pids = [a for (name, _), a in zip(names, args, strict=True) if name == "pid"] + [key[0] for key in keys]
    inputs.update({name: Shown(ty, a, keys=pids if name == "cs" else None)
                   for (name, ty), a in zip(names, args, strict=True)})
    return Goal(hyps, conclusion, inputs, replay=replay_delivers, replay_extra={"op": op},
                sizes=[size for key in keys for size in sizes_at(ts, sent, key)]
                + [flatten(ty, a)[0] for (_, ty), a in zip(names, args, strict=True) if ty == BYTES])


def sizes_at(ts: Topics, sent: Any, key: tuple[Any, Any]) -> list[Any]:
    """The lengths and counts of the subscription of that key and of its ghost, which a
    counterexample keeps small."""
    s, g = ts.subs.get(key), sent.get(key)
    return [flatten(QUEUE, s.queue)[1], s.queue.capacity, s.queue.dropped, flatten(FRAMES, s.frames)[0],
            flatten(LOG, g.log)[0], g.received]


for _op in STEPS:
    obligation(f"topic.{_op}.delivers")(lambda impl=impl_topic, _op=_op: delivers(_op, impl))


def replay_delivers(impl: types.ModuleType | None, op: str, ts: Topics, sent: Map[tuple[int, int], Sent],
                    p: int, q: int, **kw: Any) -> None:
    """The case natively: the maps as shown (at the keys the goal reads), the step, and
    the point's subscription after it."""
    step, names, reads, requires = STEPS[op]
    args = [kw[name] for name, _ in names]
    if not all(delivered_at(ts, sent, key) for key in [(p, q), *reads(args)]) or not requires(ts, *args):
        raise InvalidCase("a subscription the step reads is not as it has been sent, or an argument "
                          "is not as the step is given it")
    ts1, sent1, *oldest = step(copy.deepcopy(ts), copy.deepcopy(sent), *args)
    assert all(oldest), "the message received is not the oldest not yet received"
    assert delivered_at(ts1, sent1, (p, q)), f"after {op}: {ts1.subs} as sent {sent1}"
