"""The message layer: bounded FIFO queues of messages that never block the sender.

A queue holds at most `capacity` messages. Adding to a full queue drops the oldest
message and counts it; nothing ever waits. The kernel holds up to `slots` queues, named
by small integers; creating one takes the lowest free name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from spec.abi import E_EMPTY, E_INVAL_ARG, E_MSGSIZE, E_NOSPACE, E_SUCC, Config
from spec.map import Map


@dataclass(frozen=True)
class Message:
    """One published message: its global publish sequence number and its bytes."""

    seq: int
    data: bytes


NO_MESSAGE = Message(seq=0, data=b"")


@dataclass(frozen=True)
class Queue:
    """A bounded FIFO: `items` oldest first, `dropped` counts messages lost to overflow."""

    capacity: int
    items: tuple[Message, ...]
    dropped: int


@dataclass(frozen=True)
class Mailboxes:
    """Every queue of the kernel, by name, and the bounds the ABI makes visible."""

    slots: int
    qlen_max: int
    msg_max: int
    queues: Map[int, Queue]


# -- one queue ----------------------------------------------------------------------------


def empty_queue(capacity: int) -> Queue:
    return Queue(capacity=capacity, items=(), dropped=0)


def is_full(q: Queue) -> bool:
    return len(q.items) == q.capacity


def enqueue(q: Queue, m: Message) -> Queue:
    """Append m; when the queue is full its oldest message makes room and is counted.

    pre: 1 <= q.capacity
    pre: len(q.items) <= q.capacity
    post: len(__return__.items) <= q.capacity
    post: __return__.items[-1] == m
    post: __return__.dropped + len(__return__.items) == q.dropped + len(q.items) + 1
    """
    if is_full(q):
        return replace(q, items=q.items[1:] + (m,), dropped=q.dropped + 1)
    return replace(q, items=q.items + (m,))


def front(q: Queue) -> Message:
    """The oldest message; NO_MESSAGE for an empty queue."""
    return q.items[0] if len(q.items) > 0 else NO_MESSAGE


def dequeue(q: Queue) -> Queue:
    """The queue without its oldest message; an empty queue stays empty."""
    return replace(q, items=q.items[1:])


def clear(q: Queue) -> Queue:
    """No messages; the drop count is history and stays."""
    return replace(q, items=())


# -- the kernel's queues -------------------------------------------------------------------


def mailboxes(cfg: Config) -> Mailboxes:
    return Mailboxes(slots=cfg.NUM_SUB, qlen_max=cfg.QLEN_MAX, msg_max=cfg.MSG_MAX, queues=Map())


def is_live(mb: Mailboxes, qid: int) -> bool:
    return qid in mb.queues


def lowest_free(mb: Mailboxes) -> int:
    """The lowest name not in use, or `slots` when every name is taken."""
    for qid in range(mb.slots):
        if qid not in mb.queues:
            return qid
    return mb.slots


def queue_create(mb: Mailboxes, capacity: int) -> tuple[int, int, Mailboxes]:
    """(errno, name, mailboxes): a new empty queue under the lowest free name."""
    if capacity < 1 or capacity > mb.qlen_max:
        return E_INVAL_ARG, 0, mb
    qid = lowest_free(mb)
    if qid == mb.slots:
        return E_NOSPACE, 0, mb
    return E_SUCC, qid, replace(mb, queues=mb.queues.set(qid, empty_queue(capacity)))


def queue_destroy(mb: Mailboxes, qid: int) -> tuple[int, Mailboxes]:
    if not is_live(mb, qid):
        return E_INVAL_ARG, mb
    return E_SUCC, replace(mb, queues=mb.queues.remove(qid))


def queue_enqueue(mb: Mailboxes, qid: int, seq: int, data: bytes) -> tuple[int, Mailboxes]:
    if not is_live(mb, qid):
        return E_INVAL_ARG, mb
    if len(data) > mb.msg_max:
        return E_MSGSIZE, mb
    q = enqueue(mb.queues[qid], Message(seq=seq, data=data))
    return E_SUCC, replace(mb, queues=mb.queues.set(qid, q))


def queue_enqueue_where(mb: Mailboxes, targets: list[bool], seq: int, data: bytes) -> tuple[int, Mailboxes]:
    """The same message into every queue whose name is set in targets: publish's fan-out."""
    if len(data) > mb.msg_max:
        return E_MSGSIZE, mb
    m = Message(seq=seq, data=data)
    return E_SUCC, replace(mb, queues=Map({qid: enqueue(mb.queues[qid], m) if targets[qid] else mb.queues[qid]
                                           for qid in mb.queues}))


def queue_dequeue(mb: Mailboxes, qid: int) -> tuple[int, Message, Mailboxes]:
    """(errno, the oldest message, mailboxes without it)."""
    if not is_live(mb, qid):
        return E_INVAL_ARG, NO_MESSAGE, mb
    q = mb.queues[qid]
    if len(q.items) == 0:
        return E_EMPTY, NO_MESSAGE, mb
    return E_SUCC, front(q), replace(mb, queues=mb.queues.set(qid, dequeue(q)))


def queue_peek(mb: Mailboxes, qid: int) -> tuple[int, Message]:
    if not is_live(mb, qid):
        return E_INVAL_ARG, NO_MESSAGE
    q = mb.queues[qid]
    if len(q.items) == 0:
        return E_EMPTY, NO_MESSAGE
    return E_SUCC, front(q)


def queue_length(mb: Mailboxes, qid: int) -> tuple[int, int]:
    if not is_live(mb, qid):
        return E_INVAL_ARG, 0
    return E_SUCC, len(mb.queues[qid].items)


def queue_dropped(mb: Mailboxes, qid: int) -> tuple[int, int]:
    if not is_live(mb, qid):
        return E_INVAL_ARG, 0
    return E_SUCC, mb.queues[qid].dropped


def queue_clear(mb: Mailboxes, qid: int) -> tuple[int, Mailboxes]:
    if not is_live(mb, qid):
        return E_INVAL_ARG, mb
    return E_SUCC, replace(mb, queues=mb.queues.set(qid, clear(mb.queues[qid])))
