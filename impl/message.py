"""Message queues as a C kernel holds them.

A fixed table of `nslots` queue descriptors (struct-of-arrays: used, head, count, cap,
dropped). A descriptor owns a ring of `cap` entries, allocated when the queue is created
(the pages the ABI charges to the subscriber): per entry a sequence number, a length and
a buffer of `msg_max` bytes. One ring per queue, so no queue's overflow touches another.
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.abi import E_EMPTY, E_INVAL_ARG, E_MSGSIZE, E_NOSPACE, E_SUCC, Config


@dataclass
class MsgTable:
    nslots: int
    qlen_max: int
    msg_max: int
    used: list[bool]
    head: list[int]
    count: list[int]
    cap: list[int]
    dropped: list[int]
    ent_seq: list[list[int]]
    ent_len: list[list[int]]
    ent_data: list[list[bytearray]]


def msgq_init(cfg: Config) -> MsgTable:
    n = cfg.NUM_SUB
    return MsgTable(
        nslots=n,
        qlen_max=cfg.QLEN_MAX,
        msg_max=cfg.MSG_MAX,
        used=[False] * n,
        head=[0] * n,
        count=[0] * n,
        cap=[0] * n,
        dropped=[0] * n,
        ent_seq=[[] for _ in range(n)],
        ent_len=[[] for _ in range(n)],
        ent_data=[[] for _ in range(n)],
    )


def ring_next(i: int, cap: int) -> int:
    """The slot after i in a ring of cap slots.

    pre: 0 <= i < cap
    post: __return__ == (i + 1) % cap
    """
    return 0 if i + 1 == cap else i + 1


def ring_index(head: int, k: int, cap: int) -> int:
    """The slot of the k-th oldest entry of a ring whose oldest entry is at head.

    pre: 0 <= head < cap
    pre: 0 <= k < cap
    post: __return__ == (head + k) % cap
    """
    i = head + k
    return i - cap if i >= cap else i


def valid_queue(t: MsgTable, q: int) -> bool:
    return 0 <= q and q < t.nslots and t.used[q]


def queue_create(t: MsgTable, cap: int) -> tuple[int, int]:
    """(errno, descriptor): take the lowest free descriptor and give it an empty ring."""
    if cap < 1 or cap > t.qlen_max:
        return E_INVAL_ARG, 0
    for q in range(t.nslots):
        if not t.used[q]:
            t.used[q] = True
            t.head[q] = 0
            t.count[q] = 0
            t.cap[q] = cap
            t.dropped[q] = 0
            t.ent_seq[q] = [0] * cap
            t.ent_len[q] = [0] * cap
            t.ent_data[q] = [bytearray(t.msg_max) for _ in range(cap)]
            return E_SUCC, q
    return E_NOSPACE, 0


def queue_destroy(t: MsgTable, q: int) -> int:
    if not valid_queue(t, q):
        return E_INVAL_ARG
    t.used[q] = False
    t.count[q] = 0
    return E_SUCC


def queue_enqueue(t: MsgTable, q: int, seq: int, data: bytes) -> int:
    """Copy data into the ring; a full ring first gives up its oldest entry."""
    if not valid_queue(t, q):
        return E_INVAL_ARG
    if len(data) > t.msg_max:
        return E_MSGSIZE
    ring_put(t, q, seq, data)
    return E_SUCC


def queue_enqueue_where(t: MsgTable, targets: list[bool], seq: int, data: bytes) -> int:
    """The same message into every queue in use whose bit is set in targets (a bitmap of
    nslots bits): publish's fan-out. Each queue's ring is its own, so the walk touches
    descriptor q alone at step q."""
    if len(data) > t.msg_max:
        return E_MSGSIZE
    for q in range(t.nslots):
        if targets[q] and t.used[q]:
            ring_put(t, q, seq, data)
    return E_SUCC


def ring_put(t: MsgTable, q: int, seq: int, data: bytes) -> None:
    """Copy data into q's ring; a full ring first gives up its oldest entry."""
    n = len(data)
    cap = t.cap[q]
    if t.count[q] == cap:
        t.head[q] = ring_next(t.head[q], cap)
        t.count[q] = t.count[q] - 1
        t.dropped[q] = t.dropped[q] + 1
    slot = ring_index(t.head[q], t.count[q], cap)
    t.ent_seq[q][slot] = seq
    t.ent_len[q][slot] = n
    buf = t.ent_data[q][slot]
    for b in range(n):
        buf[b] = data[b]
    t.count[q] = t.count[q] + 1


def queue_peek(t: MsgTable, q: int) -> tuple[int, int, bytes]:
    """(errno, seq, bytes) of the oldest entry; (errno, 0, b"") when there is none."""
    if not valid_queue(t, q):
        return E_INVAL_ARG, 0, b""
    if t.count[q] == 0:
        return E_EMPTY, 0, b""
    slot = t.head[q]
    return E_SUCC, t.ent_seq[q][slot], bytes(t.ent_data[q][slot][: t.ent_len[q][slot]])


def queue_dequeue(t: MsgTable, q: int) -> tuple[int, int, bytes]:
    err, seq, data = queue_peek(t, q)
    if err != E_SUCC:
        return err, seq, data
    t.head[q] = ring_next(t.head[q], t.cap[q])
    t.count[q] = t.count[q] - 1
    return E_SUCC, seq, data


def queue_length(t: MsgTable, q: int) -> tuple[int, int]:
    if not valid_queue(t, q):
        return E_INVAL_ARG, 0
    return E_SUCC, t.count[q]


def queue_dropped(t: MsgTable, q: int) -> tuple[int, int]:
    if not valid_queue(t, q):
        return E_INVAL_ARG, 0
    return E_SUCC, t.dropped[q]


def queue_clear(t: MsgTable, q: int) -> int:
    if not valid_queue(t, q):
        return E_INVAL_ARG
    t.head[q] = 0
    t.count[q] = 0
    return E_SUCC
