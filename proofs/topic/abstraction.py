"""The topic layer's abstraction over the message layer's spec, and the parts of its
invariant that the proofs take as hypotheses (executable, and checked after every step
of the differential tests as part of `proofs.topic.table_ok`)."""

from __future__ import annotations

from impl.topic import TopicTable, topic_live
from spec.map import Map
from spec.message import Mailboxes
from spec.topic import Subscription, Topics, subscriber_count

from .registry import abstract_topics


def subscription_over(t: TopicTable, mb: Mailboxes, s: int) -> Subscription:
    """Slot s's subscription, its queue as the message layer's spec holds queue s."""
    frames = tuple(t.s_frames[s][i] for i in range(t.s_npages[s]))
    return Subscription(callback=t.s_callback[s], queue=mb.queues[s], frames=frames)


def abstract_over(t: TopicTable, mb: Mailboxes) -> Topics:
    """The live topics by id and the subscriptions by (pid, topic id), over the message
    layer's spec: what the proofs run, the layer below being its spec there."""
    subs = Map({(t.s_pid[s], t.s_topic[s]): subscription_over(t, mb, s)
                for s in range(t.nsub) if t.s_used[s]})
    return Topics(ntopic=t.ntopic, nsub=t.nsub, qlen_max=t.qlen_max, msg_max=t.msg_max,
                  name_max=t.name_max, page_size=t.page_size, topics=abstract_topics(t), subs=subs, seq=t.seq)


def slots_ok(t: TopicTable, mb: Mailboxes) -> bool:
    """The subscription table against the queues below: the two layers agree on the number
    of slots and the largest message, a slot is used exactly when its queue is, a used
    slot's queue holds its qlen (at least 1) messages, and no two used slots hold one
    (pid, topic)."""
    return (t.nsub == mb.slots and t.msg_max == mb.msg_max
            and all(t.s_used[s] == (s in mb.queues) for s in range(t.nsub))
            and all(1 <= t.s_qlen[s] and mb.queues[s].capacity == t.s_qlen[s]
                    for s in range(t.nsub) if t.s_used[s])
            and all(all(not (t.s_used[b] and t.s_pid[a] == t.s_pid[b] and t.s_topic[a] == t.s_topic[b])
                        for b in range(a + 1, t.nsub))
                    for a in range(t.nsub) if t.s_used[a]))


def queue_ok(mb: Mailboxes, q: int) -> bool:
    """A queue of the message layer's spec as its operations keep it: within its capacity,
    every message within MSG_MAX bytes."""
    items = mb.queues[q].items
    return (0 <= len(items) and len(items) <= mb.queues[q].capacity
            and all(len(items[i].data) <= mb.msg_max for i in range(len(items))))


def mailboxes_ok(mb: Mailboxes) -> bool:
    return 0 <= mb.msg_max and all(queue_ok(mb, q) for q in mb.queues)


def count_ok(t: TopicTable, mb: Mailboxes, tid: int) -> bool:
    """Topic tid, if live, counts its subscriptions right."""
    return not topic_live(t, tid) or t.t_nsubs[tid] == subscriber_count(abstract_over(t, mb), tid)


def counts_ok(t: TopicTable, mb: Mailboxes) -> bool:
    """Every live topic counts its subscriptions right (`count_ok` at every id)."""
    ts = abstract_over(t, mb)
    return all(not topic_live(t, tid) or t.t_nsubs[tid] == subscriber_count(ts, tid)
               for tid in range(t.ntopic))


def seqs_ok(t: TopicTable, mb: Mailboxes) -> bool:
    """No queued message has a sequence number above the last one given out."""
    return all(all(mb.queues[s].items[i].seq <= t.seq for i in range(len(mb.queues[s].items)))
               for s in range(t.nsub) if t.s_used[s])


def queues_kept(t: TopicTable, mb: Mailboxes) -> bool:
    """The invariant's part over the message layer's spec: the slots against the queues,
    the queues as the message spec keeps them, the topics' counts, the sequence numbers."""
    return slots_ok(t, mb) and mailboxes_ok(mb) and counts_ok(t, mb) and seqs_ok(t, mb)
