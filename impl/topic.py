"""Topics and subscriptions as a C kernel holds them.

- The name registry: an open-addressing hash table of `ntopic` slots (linear probing,
  FNV-1a over the name's bytes), each slot HT_EMPTY, HT_TOMB (a deleted entry, which a
  probe must step over) or a topic id. Deletion leaves a tombstone, so that a name
  inserted past the deleted one is still found; insertion reuses the first tombstone
  on its probe path. A descriptor remembers its name's hash and its registry slot, so
  that deletion goes straight to the slot.
- The topic descriptor table, `ntopic` entries (struct of arrays): flags (T_USED,
  T_RESERVED), owner, name bytes and length, number of subscribers, name hash and
  registry slot.
- The subscription table, `nsub` entries: used, pid, topic, qlen, callback, and the
  container frames its queue occupies. Subscription slot s owns the message layer's
  queue s: there are as many queues as slots, and a slot is used exactly when its queue
  is, so the message layer's choice of the lowest free queue is the lowest free slot.

Queues live in the message layer and are reached only through its interface
(queue_create, queue_destroy, queue_enqueue_where, queue_peek, queue_dequeue,
queue_length, queue_dropped); queue pages are taken from and given back to the subscriber's container
through the container layer's (container_can_consume, container_alloc, container_free).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from impl.container import ContainerTable, container_alloc, container_can_consume, container_free
from impl.message import (
    MsgTable,
    queue_create,
    queue_dequeue,
    queue_destroy,
    queue_dropped,
    queue_enqueue_where,
    queue_length,
    queue_peek,
)
from spec.abi import (
    E_ALREADY_SUBSCRIBED,
    E_EMPTY,
    E_EXCEEDS_QUOTA,
    E_INVAL_ARG,
    E_INVAL_TOPIC,
    E_MEM,
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
from spec.x86 import u32

HT_EMPTY = -1
HT_TOMB = -2

T_USED = 0x1
T_RESERVED = 0x2
Flags = Annotated[int, 8]  # a descriptor's bit field, a byte as in C

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193


@dataclass
class TopicTable:
    ntopic: int
    nsub: int
    qlen_max: int
    msg_max: int
    name_max: int
    page_size: int
    ht: list[int]
    t_flags: list[Flags]
    t_owner: list[int]
    t_name: list[bytearray]
    t_name_len: list[int]
    t_nsubs: list[int]
    t_hash: list[int]
    t_slot: list[int]
    s_used: list[bool]
    s_pid: list[int]
    s_topic: list[int]
    s_qlen: list[int]
    s_callback: list[int]
    s_npages: list[int]
    s_frames: list[list[int]]
    seq: int


def queue_pages(t: TopicTable, qlen: int) -> int:
    """ceil(qlen * MSG_MAX / PAGE_SIZE): the pages a queue of qlen messages costs."""
    return (qlen * t.msg_max + t.page_size - 1) // t.page_size


def topic_init(cfg: Config) -> TopicTable:
    """Empty tables, then the reserved topics, owned by pid 0, under ids 0..NUM_RESERVED-1."""
    n, m = cfg.NUM_TOPIC, cfg.NUM_SUB
    t = TopicTable(
        ntopic=n, nsub=m, qlen_max=cfg.QLEN_MAX, msg_max=cfg.MSG_MAX, name_max=cfg.NAME_MAX,
        page_size=cfg.PAGE_SIZE, ht=[HT_EMPTY] * n,
        t_flags=[0] * n, t_owner=[0] * n, t_name=[bytearray(cfg.NAME_MAX) for _ in range(n)],
        t_name_len=[0] * n, t_nsubs=[0] * n, t_hash=[0] * n, t_slot=[0] * n,
        s_used=[False] * m, s_pid=[0] * m, s_topic=[0] * m, s_qlen=[0] * m,
        s_callback=[0] * m, s_npages=[0] * m,
        s_frames=[[0] * queue_pages_max(cfg) for _ in range(m)], seq=0,
    )
    for tid in range(cfg.NUM_RESERVED):
        install(t, tid, 0, RESERVED_TOPIC_NAMES[tid], T_USED | T_RESERVED)
    return t


def queue_pages_max(cfg: Config) -> int:
    return (cfg.QLEN_MAX * cfg.MSG_MAX + cfg.PAGE_SIZE - 1) // cfg.PAGE_SIZE


# -- the name registry -----------------------------------------------------------------------


def name_hash(name: bytes) -> int:
    """FNV-1a, 32 bits."""
    h = FNV_OFFSET
    for b in name:
        h = u32((h ^ b) * FNV_PRIME)
    return h


def name_is(t: TopicTable, tid: int, name: bytes) -> bool:
    n = t.t_name_len[tid]
    return n == len(name) and bytes(t.t_name[tid][:n]) == name


def probe_ends(t: TopicTable, slot: int, name: bytes) -> bool:
    """A probe for name stops here: the slot is empty, or it records name."""
    return t.ht[slot] == HT_EMPTY or (t.ht[slot] >= 0 and name_is(t, t.ht[slot], name))


def found(t: TopicTable, slot: int) -> int:
    """Where a probe stopped: the slot, if it records a name, else -1."""
    return slot if t.ht[slot] >= 0 else -1


def ht_lookup(t: TopicTable, name: bytes, h: int) -> int:
    """The registry slot that records name, whose hash is h, or -1. A probe runs from slot
    h mod ntopic to the end of the table and on from its start, steps over tombstones and
    other names, and stops at the first empty slot, or after every slot."""
    start = h % t.ntopic
    for slot in range(start, t.ntopic):
        if probe_ends(t, slot, name):
            return found(t, slot)
    for slot in range(0, start):
        if probe_ends(t, slot, name):
            return found(t, slot)
    return -1


def ht_find(t: TopicTable, name: bytes) -> int:
    return ht_lookup(t, name, name_hash(name))


def ht_insert(t: TopicTable, tid: int, h: int) -> None:
    """Record tid, whose name hashes to h, in the first empty or tombstone slot of its probe
    sequence, and remember the hash and the slot in its descriptor. The caller has checked
    that the name is not recorded, and a topic id is free: fewer than ntopic names are
    recorded, so such a slot exists."""
    start = h % t.ntopic
    for slot in range(start, t.ntopic):
        if t.ht[slot] < 0:
            return record(t, tid, h, slot)
    for slot in range(0, start):
        if t.ht[slot] < 0:
            return record(t, tid, h, slot)


def record(t: TopicTable, tid: int, h: int, slot: int) -> None:
    t.ht[slot] = tid
    t.t_slot[tid] = slot
    t.t_hash[tid] = h


def ht_remove(t: TopicTable, tid: int) -> None:
    """Forget tid's entry. It becomes a tombstone, not an empty slot: a probe for a name
    recorded past it must step over it."""
    t.ht[t.t_slot[tid]] = HT_TOMB


# -- topics ----------------------------------------------------------------------------------


def topic_live(t: TopicTable, tid: int) -> bool:
    return 0 <= tid and tid < t.ntopic and (t.t_flags[tid] & T_USED) != 0


def install(t: TopicTable, tid: int, owner: int, name: bytes, flags: int) -> None:
    """Describe topic tid and record its name in the registry."""
    t.t_flags[tid] = flags
    t.t_owner[tid] = owner
    t.t_name_len[tid] = len(name)
    for i in range(len(name)):
        t.t_name[tid][i] = name[i]
    t.t_nsubs[tid] = 0
    ht_insert(t, tid, name_hash(name))


def uninstall(t: TopicTable, tid: int) -> None:
    """Topic tid leaves the registry and its id is free again."""
    ht_remove(t, tid)
    t.t_flags[tid] = 0


def name_error(t: TopicTable, name: bytes) -> int:
    """E_INVAL_ARG for a length outside 1..NAME_MAX or a NUL byte in the name."""
    if len(name) < 1 or len(name) > t.name_max:
        return E_INVAL_ARG
    for i in range(len(name)):
        if name[i] == 0:
            return E_INVAL_ARG
    return E_SUCC


def is_system_name(name: bytes) -> bool:
    return name[:len(SYSTEM_PREFIX)] == SYSTEM_PREFIX


def topic_create(t: TopicTable, pid: int, privileged: bool, name: bytes) -> tuple[int, int]:
    """(errno, topic id): a new topic owned by pid under the lowest free id."""
    err = name_error(t, name)
    if err != E_SUCC:
        return err, 0
    if is_system_name(name) and not privileged:
        return E_PERM, 0
    if ht_find(t, name) >= 0:
        return E_TOPIC_EXISTS, 0
    tid = lowest_free_topic(t)
    if tid == t.ntopic:
        return E_NOSPACE, 0
    install(t, tid, pid, name, T_USED)
    return E_SUCC, tid


def lowest_free_topic(t: TopicTable) -> int:
    """The lowest unused topic id, or ntopic when every descriptor is in use."""
    for tid in range(t.ntopic):
        if (t.t_flags[tid] & T_USED) == 0:
            return tid
    return t.ntopic


def topic_lookup(t: TopicTable, name: bytes) -> tuple[int, int]:
    err = name_error(t, name)
    if err != E_SUCC:
        return err, 0
    slot = ht_find(t, name)
    if slot < 0:
        return E_INVAL_TOPIC, 0
    return E_SUCC, t.ht[slot]


def free_frames(c: ContainerTable, pid: int, frames: list[int], n: int) -> None:
    """Give frames[0 .. n) back to pid's container, one by one."""
    for i in range(n):
        container_free(c, pid, frames[i])


def end_subscription(t: TopicTable, mq: MsgTable, c: ContainerTable, s: int) -> None:
    """Free subscription slot s: its queue is destroyed, its frames go back to its pid."""
    free_frames(c, t.s_pid[s], t.s_frames[s], t.s_npages[s])
    queue_destroy(mq, s)
    t.s_npages[s] = 0
    t.s_used[s] = False


def drop_subscription(t: TopicTable, mq: MsgTable, c: ContainerTable, s: int) -> None:
    """End subscription slot s, one subscriber fewer for its topic."""
    t.t_nsubs[t.s_topic[s]] -= 1
    end_subscription(t, mq, c, s)


def end_subscriptions(t: TopicTable, mq: MsgTable, c: ContainerTable, tid: int) -> None:
    """End every subscription to tid (its count is the caller's)."""
    for s in range(t.nsub):
        if t.s_used[s] and t.s_topic[s] == tid:
            end_subscription(t, mq, c, s)


def topic_destroy(t: TopicTable, mq: MsgTable, c: ContainerTable, pid: int, tid: int) -> int:
    """Remove topic tid, which pid owns, and every subscription to it."""
    if not topic_live(t, tid):
        return E_INVAL_TOPIC
    if (t.t_flags[tid] & T_RESERVED) != 0 or t.t_owner[tid] != pid:
        return E_PERM
    end_subscriptions(t, mq, c, tid)
    t.t_nsubs[tid] = 0
    uninstall(t, tid)
    return E_SUCC


# -- subscriptions ---------------------------------------------------------------------------


def find_subscription(t: TopicTable, pid: int, tid: int) -> int:
    """The slot of pid's subscription to tid, or -1."""
    for s in range(t.nsub):
        if t.s_used[s] and t.s_pid[s] == pid and t.s_topic[s] == tid:
            return s
    return -1


def alloc_frames(t: TopicTable, c: ContainerTable, pid: int, s: int, n: int) -> None:
    """Charge frames to pid for slot s's queue, one container_alloc for each of the first
    n pages, until the container layer refuses one: s_npages[s] counts those taken (the
    caller has set it to 0), so the slot always records exactly the frames it holds."""
    for i in range(n):
        if t.s_npages[s] == i:
            err, frame = container_alloc(c, pid)
            if err == E_SUCC:
                t.s_frames[s][i] = frame
                t.s_npages[s] = i + 1


def take_frames(t: TopicTable, c: ContainerTable, pid: int, s: int, n: int) -> int:
    """Charge n frames to pid for slot s's queue, all or none."""
    if not container_can_consume(c, pid, n):
        return E_EXCEEDS_QUOTA
    t.s_npages[s] = 0
    alloc_frames(t, c, pid, s, n)
    if t.s_npages[s] != n:
        # within its quota, a frame is refused only when none is free (docs/topic.md: it
        # cannot happen); give back those taken
        free_frames(c, pid, t.s_frames[s], t.s_npages[s])
        t.s_npages[s] = 0
        return E_MEM
    return E_SUCC


def topic_subscribe(t: TopicTable, mq: MsgTable, c: ContainerTable, pid: int, tid: int, qlen: int,
                    callback: int) -> int:
    """pid subscribes to tid with an empty queue of qlen messages."""
    if not topic_live(t, tid):
        return E_INVAL_TOPIC
    if qlen < 1 or qlen > t.qlen_max:
        return E_INVAL_ARG
    if find_subscription(t, pid, tid) >= 0:
        return E_ALREADY_SUBSCRIBED
    err, s = queue_create(mq, qlen)
    if err != E_SUCC:
        return E_NOSPACE
    err = take_frames(t, c, pid, s, queue_pages(t, qlen))
    if err != E_SUCC:
        queue_destroy(mq, s)
        return err
    t.s_used[s] = True
    t.s_pid[s] = pid
    t.s_topic[s] = tid
    t.s_qlen[s] = qlen
    t.s_callback[s] = callback
    t.t_nsubs[tid] += 1
    return E_SUCC


def topic_unsubscribe(t: TopicTable, mq: MsgTable, c: ContainerTable, pid: int, tid: int) -> int:
    if not topic_live(t, tid):
        return E_INVAL_TOPIC
    s = find_subscription(t, pid, tid)
    if s < 0:
        return E_NOT_SUBSCRIBED
    drop_subscription(t, mq, c, s)
    return E_SUCC


# -- publish and receive ---------------------------------------------------------------------


def topic_publish_error(t: TopicTable, privileged: bool, tid: int, n: int) -> int:
    """What publishing n bytes on tid answers before a byte is read."""
    if not topic_live(t, tid):
        return E_INVAL_TOPIC
    if (t.t_flags[tid] & T_RESERVED) != 0 and not privileged:
        return E_PERM
    if n > t.msg_max:
        return E_MSGSIZE
    return E_SUCC


def topic_publish(t: TopicTable, mq: MsgTable, privileged: bool, tid: int, data: bytes) -> tuple[int, int]:
    """(errno, subscribers reached): data into every subscriber's queue of tid."""
    err = topic_publish_error(t, privileged, tid, len(data))
    if err != E_SUCC:
        return err, 0
    t.seq += 1
    # a bitmap of the subscribers' queues (slot s owns queue s), then one fan-out
    targets = [False] * t.nsub
    for s in range(t.nsub):
        targets[s] = t.s_used[s] and t.s_topic[s] == tid
    queue_enqueue_where(mq, targets, t.seq, data)
    return E_SUCC, t.t_nsubs[tid]


def subscription_error(t: TopicTable, pid: int, tid: int) -> tuple[int, int]:
    """(errno, slot) of pid's subscription to tid."""
    if not topic_live(t, tid):
        return E_INVAL_TOPIC, -1
    s = find_subscription(t, pid, tid)
    if s < 0:
        return E_NOT_SUBSCRIBED, -1
    return E_SUCC, s


def topic_peek(t: TopicTable, mq: MsgTable, pid: int, tid: int, cap: int) -> tuple[int, int, bytes]:
    """(errno, seq, bytes) of the oldest message of pid's queue on tid, if cap bytes hold it."""
    err, s = subscription_error(t, pid, tid)
    if err != E_SUCC:
        return err, 0, b""
    err, seq, data = queue_peek(mq, s)
    if err != E_SUCC:
        return E_EMPTY, 0, b""
    if cap < len(data):
        return E_MSGSIZE, 0, b""
    return E_SUCC, seq, data


def topic_receive(t: TopicTable, mq: MsgTable, pid: int, tid: int, cap: int) -> tuple[int, int, bytes]:
    """topic_peek, and on success the message leaves the queue."""
    err, seq, data = topic_peek(t, mq, pid, tid, cap)
    if err != E_SUCC:
        return err, seq, data
    _, s = subscription_error(t, pid, tid)
    queue_dequeue(mq, s)
    return E_SUCC, seq, data


def topic_stat(t: TopicTable, mq: MsgTable, pid: int, tid: int) -> tuple[int, int, int, int, int]:
    """(errno, queued, dropped, qlen, callback) of pid's subscription to tid."""
    err, s = subscription_error(t, pid, tid)
    if err != E_SUCC:
        return err, 0, 0, 0, 0
    _, queued = queue_length(mq, s)
    _, dropped = queue_dropped(mq, s)
    return E_SUCC, queued, dropped, t.s_qlen[s], t.s_callback[s]
