"""The topic layer: impl.topic over impl.message and impl.container behaves as spec.topic
over spec.container, step by step, and keeps its invariant."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import impl.container as impl_container
import impl.message as impl_message
import impl.topic as impl_topic
import spec.container as spec_container
import spec.topic as spec_topic
from proofs.container import abstract as abstract_containers
from proofs.topic import abstract, table_ok
from proofs.topic.delivery import Sent, delivery_ok, received_one, sent_to
from spec.abi import (
    DEFAULT,
    E_ALREADY_SUBSCRIBED,
    E_EMPTY,
    E_INVAL_ARG,
    E_INVAL_TOPIC,
    E_MSGSIZE,
    E_NOT_SUBSCRIBED,
    E_PERM,
    E_SUCC,
    E_TOPIC_EXISTS,
    Config,
)
from spec.map import Map
from spec.message import Message

# four topic ids (two reserved), so the registry is full and collides often; queues of up to
# five messages of six bytes on pages of eight bytes cost 1 to 4 pages
SMALL = Config(NUM_PROC=13, ROOT_QUOTA=40, NUM_TOPIC=4, NUM_SUB=5, QLEN_MAX=5, MSG_MAX=6, NAME_MAX=9,
               PAGE_SIZE=8)
NAMES = [b"a", b"b", b"ab", b"ba", b"sys.", b"sys.kbd", b"sys.timer", b"abcdefghi", b"abcdefghij", b"",
         b"a\0"]


def boot(cfg: Config, it: Any = impl_topic) -> tuple[Any, ...]:
    """Spec and impl of the topic layer and the container layer below, booted; the frames
    are as many as the root's quota, so an allocation within quota always finds one."""
    nframes = cfg.ROOT_QUOTA
    return (spec_topic.boot(cfg), spec_container.boot(cfg, nframes), it.topic_init(cfg),
            impl_message.msgq_init(cfg), impl_container.container_init(cfg, nframes))


class Differential(RuleBasedStateMachine):
    """Every topic operation on the spec and the impl, with valid and invalid arguments."""

    cfg: Config = SMALL
    it: Any = impl_topic  # the impl module under test (a planted bug's copy in test_planted_bugs)

    def __init__(self) -> None:
        super().__init__()
        self.ts, self.cs, self.t, self.mq, self.c = boot(self.cfg, self.it)
        self.pids = [0]
        # the delivery ghost (proofs.topic.delivery): per subscription, every message
        # published on its topic since it subscribed, and how many it has received
        self.sent: Map[tuple[int, int], Sent] = Map()

    def track(self) -> None:
        """Subscriptions that began or ended: a new one has been sent nothing yet."""
        self.sent = Map({key: self.sent.get(key, Sent(log=(), received=0)) for key in self.ts.subs})

    def same(self, got: Any, want: Any, what: str) -> None:
        assert got == want, f"{what}: impl {got!r}, spec {want!r}"

    pid = st.one_of(st.sampled_from([0, 0, 1, 2]), st.integers(-1, 13))  # mostly live ones
    tid = st.one_of(st.sampled_from([2, 2, 3, 0]), st.integers(-1, 5))  # mostly ids a topic may have
    name = st.one_of(st.sampled_from(NAMES), st.binary(max_size=10))

    @rule(parent=st.integers(0, 4), quota=st.integers(0, 12))
    def spawn(self, parent: int, quota: int) -> None:
        err, child = impl_container.container_split(self.c, parent, quota)
        want_err, want_child, self.cs = spec_container.split(self.cs, parent, quota)
        self.same((err, child), (want_err, want_child), "split")
        if err == E_SUCC:
            self.pids.append(child)

    @rule(pid=pid, privileged=st.booleans(), name=name)
    def create(self, pid: int, privileged: bool, name: bytes) -> None:
        got = self.it.topic_create(self.t, pid, privileged, name)
        want_err, want_tid, self.ts = spec_topic.create(self.ts, pid, privileged, name)
        self.same(got, (want_err, want_tid), f"create{(pid, privileged, name)}")

    @rule(name=name)
    def lookup(self, name: bytes) -> None:
        self.same(self.it.topic_lookup(self.t, name), spec_topic.lookup(self.ts, name),
                  f"lookup({name!r})")

    @precondition(lambda self: len(self.ts.topics) > 2)
    @rule(pid=pid, tid=tid)
    def destroy(self, pid: int, tid: int) -> None:
        got = self.it.topic_destroy(self.t, self.mq, self.c, pid, tid)
        want, self.ts, self.cs = spec_topic.destroy(self.ts, self.cs, pid, tid)
        self.same(got, want, f"destroy{(pid, tid)}")
        self.track()

    @rule(tid=st.integers(2, 3))
    def destroy_as_owner(self, tid: int) -> None:
        """Destroy as the topic's owner, so that topics with subscribers go often."""
        if tid in self.ts.topics:
            self.destroy(self.ts.topics[tid].owner, tid)

    @rule(which=st.integers(0, 12), tid=tid, qlen=st.integers(-1, 6),
          callback=st.sampled_from([0, 0x40000000, 7]))
    def subscribe(self, which: int, tid: int, qlen: int, callback: int) -> None:
        pid = self.pids[which % len(self.pids)]  # the caller is alive: it is charged
        got = self.it.topic_subscribe(self.t, self.mq, self.c, pid, tid, qlen, callback)
        frames: tuple[int, ...] = ()
        if got == E_SUCC:
            s = self.it.find_subscription(self.t, pid, tid)
            frames = tuple(self.t.s_frames[s][: self.t.s_npages[s]])
        want, self.ts, self.cs = spec_topic.subscribe(self.ts, self.cs, pid, tid, qlen, callback, frames)
        self.same(got, want, f"subscribe{(pid, tid, qlen)}")
        self.track()

    @rule(pid=pid, tid=tid)
    def unsubscribe(self, pid: int, tid: int) -> None:
        got = self.it.topic_unsubscribe(self.t, self.mq, self.c, pid, tid)
        want, self.ts, self.cs = spec_topic.unsubscribe(self.ts, self.cs, pid, tid)
        self.same(got, want, f"unsubscribe{(pid, tid)}")
        self.track()

    @rule(privileged=st.booleans(), tid=tid, data=st.binary(max_size=8))
    def publish(self, privileged: bool, tid: int, data: bytes) -> None:
        got = self.it.topic_publish(self.t, self.mq, privileged, tid, data)
        want_err, want_n, self.ts = spec_topic.publish(self.ts, privileged, tid, data)
        self.same(got, (want_err, want_n), f"publish{(privileged, tid, data)}")
        if want_err == E_SUCC:
            self.sent = sent_to(self.sent, tid, Message(seq=self.ts.seq, data=data))

    @rule(k=st.integers(0, 4), data=st.binary(max_size=6))
    def publish_where_subscribed(self, k: int, data: bytes) -> None:
        """Publish on a topic somebody subscribes to, so that queues fill and overflow often."""
        keys = sorted(self.ts.subs)
        if keys:
            self.publish(True, keys[k % len(keys)][1], data)

    @rule(pid=pid, tid=tid, cap=st.integers(-1, 8))
    def receive(self, pid: int, tid: int, cap: int) -> None:
        err, seq, data = self.it.topic_receive(self.t, self.mq, pid, tid, cap)
        want_err, m, self.ts = spec_topic.receive(self.ts, pid, tid, cap)
        self.same((err, seq, data), (want_err, m.seq, m.data), f"receive{(pid, tid, cap)}")
        if want_err == E_SUCC:
            self.sent = received_one(self.sent, (pid, tid))

    @rule(pid=pid, tid=tid, cap=st.integers(-1, 8))
    def peek(self, pid: int, tid: int, cap: int) -> None:
        err, seq, data = self.it.topic_peek(self.t, self.mq, pid, tid, cap)
        want_err, m = spec_topic.peek(self.ts, pid, tid, cap)
        self.same((err, seq, data), (want_err, m.seq, m.data), f"peek{(pid, tid, cap)}")

    @rule(pid=pid, tid=tid)
    def stat(self, pid: int, tid: int) -> None:
        self.same(self.it.topic_stat(self.t, self.mq, pid, tid), spec_topic.stat(self.ts, pid, tid),
                  f"stat{(pid, tid)}")

    @rule(privileged=st.booleans(), tid=tid, n=st.integers(0, 8))
    def publish_error(self, privileged: bool, tid: int, n: int) -> None:
        self.same(self.it.topic_publish_error(self.t, privileged, tid, n),
                  spec_topic.publish_error(self.ts, privileged, tid, n), "publish_error")

    @invariant()
    def abstraction_matches_spec(self) -> None:
        assert abstract(self.t, self.mq) == self.ts
        assert abstract_containers(self.c) == self.cs

    @invariant()
    def representation_invariant_holds(self) -> None:
        assert table_ok(self.t, self.mq, self.c)

    @invariant()
    def every_subscriber_holds_the_newest_messages_published_since_it_subscribed(self) -> None:
        """Delivery (ABI): a queue holds, in publish order, the newest of the messages
        published on its topic since it subscribed, and every older one was received or
        dropped and counted."""
        assert delivery_ok(self.ts, self.sent), (self.ts.subs, self.sent)

    @invariant()
    def each_container_is_charged_its_queue_pages(self) -> None:
        """Quota: a container holds its queues' pages (at this layer no process maps pages)."""
        for pid, c in self.cs.live.items():
            pages = sum(spec_topic.queue_pages(self.ts, sub.queue.capacity)
                        for (p, _), sub in self.ts.subs.items() if p == pid)
            lent = sum(x.quota for q, x in self.cs.live.items() if x.parent == pid and q != pid)
            assert c.usage == pages + lent, pid


class DifferentialDefaultConfig(Differential):
    cfg = DEFAULT


TestDifferentialSmall = Differential.TestCase
TestDifferentialSmall.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestDifferentialDefault = DifferentialDefaultConfig.TestCase
TestDifferentialDefault.settings = settings(max_examples=25, stateful_step_count=40, deadline=None)


# -- the semantics, case by case ---------------------------------------------------------------


def booted() -> tuple[Any, ...]:
    return boot(SMALL)


def test_reserved_topics_exist_from_boot_and_are_found_by_name() -> None:
    ts, _, t, _, _ = booted()
    for tid, name in enumerate((b"sys.kbd", b"sys.timer")):
        assert spec_topic.lookup(ts, name) == (E_SUCC, tid) == impl_topic.topic_lookup(t, name)
        assert ts.topics[tid].reserved and ts.topics[tid].owner == 0


def test_create_answers_errors_in_abi_order() -> None:
    ts, *_ = booted()
    assert spec_topic.create(ts, 1, False, b"")[0] == E_INVAL_ARG
    assert spec_topic.create(ts, 1, False, b"sys.\0")[0] == E_INVAL_ARG  # NUL before the prefix
    assert spec_topic.create(ts, 1, False, b"sys.")[0] == E_PERM
    assert spec_topic.create(ts, 1, True, b"sys.kbd")[0] == E_TOPIC_EXISTS
    assert spec_topic.create(ts, 1, False, b"abcdefghij")[0] == E_INVAL_ARG


def test_a_name_inserted_past_a_deleted_one_is_still_found() -> None:
    """Deleting leaves a tombstone: a probe for a name that collided steps over it."""
    _, _, t, mq, c = booted()
    a = b"a"
    b = next(bytes([x]) for x in range(1, 256)
             if impl_topic.name_hash(bytes([x])) % 4 == impl_topic.name_hash(a) % 4 and bytes([x]) != a)
    assert impl_topic.topic_create(t, 0, False, a) == (E_SUCC, 2)
    assert impl_topic.topic_create(t, 0, False, b) == (E_SUCC, 3)
    assert impl_topic.topic_destroy(t, mq, c, 0, 2) == E_SUCC
    assert impl_topic.topic_lookup(t, b) == (E_SUCC, 3)
    assert impl_topic.topic_lookup(t, a) == (E_INVAL_TOPIC, 0)
    assert impl_topic.topic_create(t, 0, False, a) == (E_SUCC, 2)
    assert impl_topic.topic_lookup(t, a) == (E_SUCC, 2)


def test_publish_reaches_every_subscriber_and_a_full_queue_drops_its_oldest() -> None:
    ts, cs, *_ = booted()
    _, tid, ts = spec_topic.create(ts, 0, False, b"t")
    _, ts, cs = spec_topic.subscribe(ts, cs, 0, tid, 2, 0, (0, 1))
    for i in range(3):
        err, reached, ts = spec_topic.publish(ts, False, tid, bytes([i]))
        assert (err, reached) == (E_SUCC, 1)
    assert spec_topic.stat(ts, 0, tid) == (E_SUCC, 2, 1, 2, 0)
    assert spec_topic.receive(ts, 0, tid, 8)[1].data == b"\x01"


def test_a_message_too_large_for_the_buffer_stays_at_the_head() -> None:
    ts, cs, *_ = booted()
    _, tid, ts = spec_topic.create(ts, 0, False, b"t")
    _, ts, cs = spec_topic.subscribe(ts, cs, 0, tid, 1, 0, (0,))
    _, _, ts = spec_topic.publish(ts, False, tid, b"abc")
    err, _, after = spec_topic.receive(ts, 0, tid, 2)
    assert err == E_MSGSIZE and after == ts
    assert spec_topic.receive(ts, 0, tid, 3)[1].data == b"abc"


def test_queue_pages_are_charged_on_subscribe_and_given_back_on_destroy() -> None:
    ts, cs, t, mq, c = booted()
    impl_topic.topic_create(t, 0, False, b"t")
    before = c.usage[0]
    assert impl_topic.topic_subscribe(t, mq, c, 0, 2, SMALL.QLEN_MAX, 0) == E_SUCC
    assert c.usage[0] == before + impl_topic.queue_pages(t, SMALL.QLEN_MAX) == before + 4
    assert impl_topic.topic_subscribe(t, mq, c, 0, 2, 1, 0) == E_ALREADY_SUBSCRIBED
    assert impl_topic.topic_destroy(t, mq, c, 0, 2) == E_SUCC
    assert c.usage[0] == before
    assert impl_topic.topic_stat(t, mq, 0, 2)[0] == E_INVAL_TOPIC


@pytest.mark.parametrize("tid", [0, 1])
def test_reserved_topics_are_never_destroyed_and_take_only_privileged_publishers(tid: int) -> None:
    ts, cs, *_ = booted()
    assert spec_topic.destroy(ts, cs, 0, tid)[0] == E_PERM
    assert spec_topic.publish(ts, False, tid, b"x")[0] == E_PERM
    assert spec_topic.publish(ts, True, tid, b"x")[:2] == (E_SUCC, 0)


def test_receive_and_stat_answer_errors_in_abi_order() -> None:
    ts, cs, *_ = booted()
    assert spec_topic.receive(ts, 0, 3, 8)[0] == E_INVAL_TOPIC
    assert spec_topic.receive(ts, 0, 0, 8)[0] == E_NOT_SUBSCRIBED
    _, ts, cs = spec_topic.subscribe(ts, cs, 0, 0, 1, 0, (0,))
    assert spec_topic.receive(ts, 0, 0, -1)[0] == E_EMPTY
    assert spec_topic.stat(ts, 1, 0)[0] == E_NOT_SUBSCRIBED
