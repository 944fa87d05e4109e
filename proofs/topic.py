"""The topic layer's proof: impl.topic refines spec.topic over the message and container
layers.

The abstraction reads the descriptor and subscription tables, a subscription's queue
through the message layer's abstraction, and its frames from its slot. The invariant ties
the registry to the descriptors (the hash table finds exactly the live names), every
subscription to a live topic, a live queue of its qlen and frames its pid owns, and the
per-topic subscriber counts to the subscription table.
"""

from __future__ import annotations

from impl.container import ContainerTable
from impl.message import MsgTable
from impl.topic import (
    HT_EMPTY,
    HT_TOMB,
    T_RESERVED,
    T_USED,
    TopicTable,
    ht_find,
    queue_pages,
    topic_live,
)
from spec.map import Map
from spec.topic import Subscription, Topic, Topics

from .message import abstract_queue
from .message import table_ok as queues_ok

# -- abstraction and invariant (executable) --------------------------------------------------


def topic_name(t: TopicTable, tid: int) -> bytes:
    return bytes(t.t_name[tid][:t.t_name_len[tid]])


def abstract_topic(t: TopicTable, tid: int) -> Topic:
    return Topic(name=topic_name(t, tid), owner=t.t_owner[tid], reserved=(t.t_flags[tid] & T_RESERVED) != 0)


def abstract_subscription(t: TopicTable, mq: MsgTable, s: int) -> Subscription:
    frames = tuple(t.s_frames[s][i] for i in range(t.s_npages[s]))
    return Subscription(callback=t.s_callback[s], queue=abstract_queue(mq, s), frames=frames)


def abstract(t: TopicTable, mq: MsgTable) -> Topics:
    """The live topics by id and the subscriptions by (pid, topic id)."""
    topics = Map({tid: abstract_topic(t, tid) for tid in range(t.ntopic) if t.t_flags[tid] & T_USED})
    subs = Map({(t.s_pid[s], t.s_topic[s]): abstract_subscription(t, mq, s)
                for s in range(t.nsub) if t.s_used[s]})
    return Topics(ntopic=t.ntopic, nsub=t.nsub, qlen_max=t.qlen_max, msg_max=t.msg_max,
                  name_max=t.name_max, page_size=t.page_size, topics=topics, subs=subs, seq=t.seq)


def name_ok(t: TopicTable, tid: int) -> bool:
    n = t.t_name_len[tid]
    return 1 <= n and n <= t.name_max and all(t.t_name[tid][i] != 0 for i in range(n))


def registry_ok(t: TopicTable) -> bool:
    """The hash table refines the map from live names to ids: each live topic's name is
    found, at a slot that holds its id, and every other slot is empty or a tombstone."""
    recorded = [t.ht[slot] for slot in range(t.ntopic) if t.ht[slot] >= 0]
    live = [tid for tid in range(t.ntopic) if topic_live(t, tid)]
    return (all(t.ht[slot] >= 0 or t.ht[slot] in (HT_EMPTY, HT_TOMB) for slot in range(t.ntopic))
            and sorted(recorded) == live
            and all(name_ok(t, tid) and found_at(t, ht_find(t, topic_name(t, tid)), tid) for tid in live))


def found_at(t: TopicTable, slot: int, tid: int) -> bool:
    """The probe found a slot, and it holds tid."""
    return 0 <= slot and slot < t.ntopic and t.ht[slot] == tid


def subscription_ok(t: TopicTable, mq: MsgTable, c: ContainerTable, s: int) -> bool:
    """A used slot: a live topic, its queue of its qlen, the frames of such a queue, owned
    by its pid."""
    pid = t.s_pid[s]
    n = t.s_npages[s]
    return (topic_live(t, t.s_topic[s]) and mq.cap[s] == t.s_qlen[s] and n == queue_pages(t, t.s_qlen[s])
            and all(0 <= t.s_frames[s][i] < c.nframes and c.at_used[t.s_frames[s][i]]
                    and c.at_owner[t.s_frames[s][i]] == pid for i in range(n)))


def table_ok(t: TopicTable, mq: MsgTable, c: ContainerTable) -> bool:
    """The representation invariant of the topic layer over the layers below."""
    used = [s for s in range(t.nsub) if t.s_used[s]]
    keys = [(t.s_pid[s], t.s_topic[s]) for s in used]
    frames = [t.s_frames[s][i] for s in used for i in range(t.s_npages[s])]
    return (1 <= t.ntopic and 0 <= t.nsub and t.nsub == mq.nslots and t.qlen_max == mq.qlen_max
            and t.msg_max == mq.msg_max and 1 <= t.page_size and queues_ok(mq) and registry_ok(t)
            and all(subscription_ok(t, mq, c, s) for s in used)
            and len(set(keys)) == len(keys) and len(set(frames)) == len(frames)
            and all(mq.used[s] == t.s_used[s] for s in range(t.nsub))
            and all(t.t_nsubs[tid] == sum(1 for s in used if t.s_topic[s] == tid)
                    for tid in range(t.ntopic) if topic_live(t, tid))
            and all(m.seq <= t.seq for s in used for m in abstract_queue(mq, s).items))
