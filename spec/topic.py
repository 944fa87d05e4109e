"""The topic layer: named topics, subscriptions with bounded queues, and publish's fan-out.

A topic has a name (1..NAME_MAX bytes, no NUL), an owner and, for the reserved system
topics, a mark that only the kernel's privileged publishers may use it. A process
subscribes to a topic with a queue of `qlen` messages and an optional callback address;
publishing copies the message into the queue of every current subscriber of the topic,
never waits, and on a full queue drops the oldest message and counts it. Every message
published gets the next global sequence number.

A queue costs its subscriber `queue_pages(qlen)` pages of quota: container frames taken
from the layer below when it subscribes (`spec.container.alloc_all`; the frames are the
implementation's choice, so subscribe is given them) and given back when the subscription
ends, by unsubscribe or by the topic's destruction (`free_all`, `free_each`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from spec.abi import (
    E_ALREADY_SUBSCRIBED,
    E_EMPTY,
    E_EXCEEDS_QUOTA,
    E_INVAL_ARG,
    E_INVAL_TOPIC,
    E_MSGSIZE,
    E_NOSPACE,
    E_NOT_SUBSCRIBED,
    E_PERM,
    E_SUCC,
    E_TOPIC_EXISTS,
    RESERVED_TOPIC_NAMES,
    SYSTEM_PREFIX,
    Config,
)
from spec.container import Containers, alloc_all, can_consume, free_all, free_each
from spec.map import Map
from spec.message import NO_MESSAGE, Message, Queue, dequeue, empty_queue, enqueue, front

ROOT = 0


@dataclass(frozen=True)
class Topic:
    name: bytes
    owner: int
    reserved: bool


@dataclass(frozen=True)
class Subscription:
    """A process's subscription to a topic: its callback (0: none), its queue (of capacity
    qlen) and the container frames the queue occupies."""

    callback: int
    queue: Queue
    frames: tuple[int, ...]


@dataclass(frozen=True)
class Topics:
    """Every topic by id, every subscription by (pid, topic id), and the sequence number of
    the last message published; with the sizes the ABI makes visible."""

    ntopic: int
    nsub: int
    qlen_max: int
    msg_max: int
    name_max: int
    page_size: int
    topics: Map[int, Topic]
    subs: Map[tuple[int, int], Subscription]
    seq: int


def boot(cfg: Config) -> Topics:
    """The reserved topics, owned by the root process; no subscription."""
    reserved = Map({i: Topic(name=RESERVED_TOPIC_NAMES[i], owner=ROOT, reserved=True)
                    for i in range(cfg.NUM_RESERVED)})
    return Topics(ntopic=cfg.NUM_TOPIC, nsub=cfg.NUM_SUB, qlen_max=cfg.QLEN_MAX, msg_max=cfg.MSG_MAX,
                  name_max=cfg.NAME_MAX, page_size=cfg.PAGE_SIZE, topics=reserved, subs=Map(), seq=0)


# -- names ----------------------------------------------------------------------------------


def name_length_ok(ts: Topics, n: int) -> bool:
    return 1 <= n and n <= ts.name_max


def has_nul(name: bytes) -> bool:
    return 0 in name


def is_system_name(name: bytes) -> bool:
    """Names under "sys." are the kernel's: only a privileged process may create one."""
    return name[:len(SYSTEM_PREFIX)] == SYSTEM_PREFIX


def topic_named(ts: Topics, name: bytes) -> int:
    """The id of the topic of that name, or -1; names are compared byte for byte (and no
    two topics share a name, so there is at most one)."""
    for tid in range(ts.ntopic):
        if tid in ts.topics and ts.topics[tid].name == name:
            return tid
    return -1


def lowest_free_topic(ts: Topics) -> int:
    """The lowest topic id not in use, or ntopic when every id is taken."""
    for tid in range(ts.ntopic):
        if tid not in ts.topics:
            return tid
    return ts.ntopic


def is_topic(ts: Topics, tid: int) -> bool:
    return tid in ts.topics


def name_error(ts: Topics, name: bytes) -> int:
    """E_INVAL_ARG for a name of the wrong length or with a NUL byte, else E_SUCC."""
    if not name_length_ok(ts, len(name)) or has_nul(name):
        return E_INVAL_ARG
    return E_SUCC


# -- topics ---------------------------------------------------------------------------------


def create(ts: Topics, pid: int, privileged: bool, name: bytes) -> tuple[int, int, Topics]:
    """(errno, topic id, topics): a new topic owned by pid, under the lowest free id."""
    err = name_error(ts, name)
    if err != E_SUCC:
        return err, 0, ts
    if is_system_name(name) and not privileged:
        return E_PERM, 0, ts
    if topic_named(ts, name) != -1:
        return E_TOPIC_EXISTS, 0, ts
    tid = lowest_free_topic(ts)
    if tid == ts.ntopic:
        return E_NOSPACE, 0, ts
    return E_SUCC, tid, replace(ts, topics=ts.topics.set(tid, Topic(name=name, owner=pid, reserved=False)))


def lookup(ts: Topics, name: bytes) -> tuple[int, int]:
    """(errno, topic id) of the topic of that name; reserved topics are found too."""
    err = name_error(ts, name)
    if err != E_SUCC:
        return err, 0
    tid = topic_named(ts, name)
    if tid == -1:
        return E_INVAL_TOPIC, 0
    return E_SUCC, tid


def subscriber_count(ts: Topics, tid: int) -> int:
    """How many processes subscribe to topic tid."""
    return sum(1 for key in ts.subs if key[1] == tid)


def destroy(ts: Topics, cs: Containers, pid: int, tid: int) -> tuple[int, Topics, Containers]:
    """Remove topic tid, which pid must own, and every subscription to it: their queued
    messages are discarded and their queue pages go back to their subscribers."""
    if not is_topic(ts, tid):
        return E_INVAL_TOPIC, ts, cs
    topic = ts.topics[tid]
    if topic.reserved or topic.owner != pid:
        return E_PERM, ts, cs
    ended = Map({key[0]: s.frames for key, s in ts.subs.items() if key[1] == tid})
    subs = Map({key: s for key, s in ts.subs.items() if key[1] != tid})
    return E_SUCC, replace(ts, topics=ts.topics.remove(tid), subs=subs), free_each(cs, ended)


# -- subscriptions --------------------------------------------------------------------------


def queue_pages(ts: Topics, qlen: int) -> int:
    """The pages a queue of qlen messages costs: ceil(qlen * MSG_MAX / PAGE_SIZE)."""
    return (qlen * ts.msg_max + ts.page_size - 1) // ts.page_size


def qlen_ok(ts: Topics, qlen: int) -> bool:
    return 1 <= qlen and qlen <= ts.qlen_max


def is_subscribed(ts: Topics, pid: int, tid: int) -> bool:
    return (pid, tid) in ts.subs


def subscribe(ts: Topics, cs: Containers, pid: int, tid: int, qlen: int, callback: int,
              frames: tuple[int, ...]) -> tuple[int, Topics, Containers]:
    """pid subscribes to topic tid with an empty queue of qlen messages, whose
    queue_pages(qlen) pages are `frames`, the implementation's choice of free frames (the
    kernel's frames never run out: docs/topic.md)."""
    if not is_topic(ts, tid):
        return E_INVAL_TOPIC, ts, cs
    if not qlen_ok(ts, qlen):
        return E_INVAL_ARG, ts, cs
    if is_subscribed(ts, pid, tid):
        return E_ALREADY_SUBSCRIBED, ts, cs
    if len(ts.subs) == ts.nsub:
        return E_NOSPACE, ts, cs
    if not can_consume(cs, pid, queue_pages(ts, qlen)):
        return E_EXCEEDS_QUOTA, ts, cs
    sub = Subscription(callback=callback, queue=empty_queue(qlen), frames=frames)
    return E_SUCC, replace(ts, subs=ts.subs.set((pid, tid), sub)), alloc_all(cs, pid, frames)


def unsubscribe(ts: Topics, cs: Containers, pid: int, tid: int) -> tuple[int, Topics, Containers]:
    """End pid's subscription to tid: its queued messages are discarded, its pages go back."""
    if not is_topic(ts, tid):
        return E_INVAL_TOPIC, ts, cs
    if not is_subscribed(ts, pid, tid):
        return E_NOT_SUBSCRIBED, ts, cs
    cs = free_all(cs, pid, ts.subs[(pid, tid)].frames)
    return E_SUCC, replace(ts, subs=ts.subs.remove((pid, tid))), cs


# -- publish and receive ---------------------------------------------------------------------


def publish_error(ts: Topics, privileged: bool, tid: int, n: int) -> int:
    """What publishing n bytes on tid would answer before any byte is read: E_INVAL_TOPIC,
    E_PERM (a reserved topic, an unprivileged publisher), E_MSGSIZE, or E_SUCC."""
    if not is_topic(ts, tid):
        return E_INVAL_TOPIC
    if ts.topics[tid].reserved and not privileged:
        return E_PERM
    if n > ts.msg_max:
        return E_MSGSIZE
    return E_SUCC


def deliver(ts: Topics, tid: int, m: Message) -> Map[tuple[int, int], Subscription]:
    """Every subscription, with m appended to the queue of each subscriber of tid."""
    return Map({key: replace(s, queue=enqueue(s.queue, m)) if key[1] == tid else s
                for key, s in ts.subs.items()})


def publish(ts: Topics, privileged: bool, tid: int, data: bytes) -> tuple[int, int, Topics]:
    """(errno, subscribers reached, topics): data, under the next sequence number, into the
    queue of every current subscriber of tid, the publisher too if it is one."""
    err = publish_error(ts, privileged, tid, len(data))
    if err != E_SUCC:
        return err, 0, ts
    seq = ts.seq + 1
    reached = subscriber_count(ts, tid)
    return E_SUCC, reached, replace(ts, subs=deliver(ts, tid, Message(seq=seq, data=data)), seq=seq)


def subscription_error(ts: Topics, pid: int, tid: int) -> int:
    if not is_topic(ts, tid):
        return E_INVAL_TOPIC
    if not is_subscribed(ts, pid, tid):
        return E_NOT_SUBSCRIBED
    return E_SUCC


def peek(ts: Topics, pid: int, tid: int, cap: int) -> tuple[int, Message]:
    """(errno, the oldest message of pid's queue on tid), if a buffer of cap bytes holds it:
    E_INVAL_TOPIC, E_NOT_SUBSCRIBED, E_EMPTY, E_MSGSIZE. Nothing changes."""
    err = subscription_error(ts, pid, tid)
    if err != E_SUCC:
        return err, NO_MESSAGE
    q = ts.subs[(pid, tid)].queue
    if len(q.items) == 0:
        return E_EMPTY, NO_MESSAGE
    m = front(q)
    if cap < len(m.data):
        return E_MSGSIZE, NO_MESSAGE
    return E_SUCC, m


def receive(ts: Topics, pid: int, tid: int, cap: int) -> tuple[int, Message, Topics]:
    """(errno, message, topics): peek, and on success the message leaves the queue. A
    message refused (E_MSGSIZE) stays at the head."""
    err, m = peek(ts, pid, tid, cap)
    if err != E_SUCC:
        return err, m, ts
    s = ts.subs[(pid, tid)]
    return E_SUCC, m, replace(ts, subs=ts.subs.set((pid, tid), replace(s, queue=dequeue(s.queue))))


def stat(ts: Topics, pid: int, tid: int) -> tuple[int, int, int, int, int]:
    """(errno, queued, dropped, qlen, callback) of pid's subscription to tid."""
    err = subscription_error(ts, pid, tid)
    if err != E_SUCC:
        return err, 0, 0, 0, 0
    s = ts.subs[(pid, tid)]
    return E_SUCC, len(s.queue.items), s.queue.dropped, s.queue.capacity, s.callback
