"""The message layer: impl.message behaves as spec.message, step by step."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import impl.message as impl_message
import spec.message as spec_message
from proofs.harness import step
from proofs.message import LAYER, abstract, table_ok
from spec.abi import DEFAULT, E_EMPTY, E_INVAL_ARG, E_MSGSIZE, E_NOSPACE, E_SUCC, Config
from spec.message import Message, Queue, empty_queue, enqueue
from tests.tables import SMALL


class Differential(RuleBasedStateMachine):
    """Runs every operation on the spec and the impl and compares all they show."""

    cfg: Config = SMALL

    def __init__(self) -> None:
        super().__init__()
        self.spec = spec_message.mailboxes(self.cfg)
        self.impl = impl_message.msgq_init(self.cfg)
        self.seq = 0
        self.steps = 0

    def apply(self, op: str, *args: Any) -> tuple[Any, ...]:
        got, want, self.spec = step(LAYER, op, None, self.impl, self.spec, list(args))
        assert got == want, f"{op}{args}: impl {got!r}, spec {want!r}"
        self.steps += 1
        return got

    @rule(cap=st.one_of(st.integers(1, 4), st.integers(-1, 2000)))
    def create(self, cap: int) -> None:
        self.apply("create", cap)

    @rule(q=st.integers(-1, 8), data=st.binary(max_size=70))
    def enqueue(self, q: int, data: bytes) -> None:
        self.seq += 1
        self.apply("enqueue", q, self.seq, data)

    @rule(q=st.integers(-1, 8))
    def dequeue(self, q: int) -> None:
        self.apply("dequeue", q)

    @rule(q=st.integers(-1, 8))
    def peek(self, q: int) -> None:
        self.apply("peek", q)

    @rule(q=st.integers(-1, 8))
    def length(self, q: int) -> None:
        self.apply("length", q)

    @rule(q=st.integers(-1, 8))
    def dropped(self, q: int) -> None:
        self.apply("dropped", q)

    @rule(q=st.integers(-1, 8))
    def clear(self, q: int) -> None:
        self.apply("clear", q)

    @precondition(lambda self: self.steps % 7 == 6)
    @rule(q=st.integers(-1, 8))
    def destroy(self, q: int) -> None:
        self.apply("destroy", q)

    @invariant()
    def abstraction_matches_spec(self) -> None:
        assert abstract(self.impl) == self.spec

    @invariant()
    def representation_invariant_holds(self) -> None:
        assert table_ok(self.impl)


class DifferentialDefaultConfig(Differential):
    cfg = DEFAULT


TestDifferentialSmall = Differential.TestCase
TestDifferentialSmall.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestDifferentialDefault = DifferentialDefaultConfig.TestCase
TestDifferentialDefault.settings = settings(max_examples=40, stateful_step_count=60, deadline=None)


def test_full_queue_drops_oldest_and_counts() -> None:
    q = empty_queue(2)
    for seq in (1, 2, 3):
        q = enqueue(q, Message(seq, bytes([seq])))
    assert [m.seq for m in q.items] == [2, 3]
    assert q.dropped == 1


def test_errors_are_reported_in_abi_order() -> None:
    t = impl_message.msgq_init(Config(NUM_SUB=1, QLEN_MAX=4, MSG_MAX=2))
    assert impl_message.queue_create(t, 0) == (E_INVAL_ARG, 0)
    assert impl_message.queue_create(t, 5) == (E_INVAL_ARG, 0)
    assert impl_message.queue_create(t, 4) == (E_SUCC, 0)
    assert impl_message.queue_create(t, 4) == (E_NOSPACE, 0)
    assert impl_message.queue_enqueue(t, 1, 1, b"") == E_INVAL_ARG
    assert impl_message.queue_enqueue(t, 0, 1, b"abc") == E_MSGSIZE
    assert impl_message.queue_dequeue(t, 0) == (E_EMPTY, 0, b"")


def test_a_refused_message_changes_nothing() -> None:
    t = impl_message.msgq_init(SMALL)
    impl_message.queue_create(t, 2)
    impl_message.queue_enqueue(t, 0, 1, b"x")
    before = abstract(t)
    assert impl_message.queue_enqueue(t, 0, 2, bytes(SMALL.MSG_MAX + 1)) == E_MSGSIZE
    assert abstract(t) == before


def test_queues_own_separate_rings() -> None:
    t = impl_message.msgq_init(SMALL)
    impl_message.queue_create(t, 1)
    impl_message.queue_create(t, 1)
    for seq in range(5):
        impl_message.queue_enqueue(t, 0, seq, b"a")
    assert abstract(t).queues[1] == Queue(capacity=1, items=(), dropped=0)
    assert t.ent_data[0] is not t.ent_data[1]


@pytest.mark.parametrize("cap", [1, 2, 3, 7, 1024])
def test_ring_index_wraps_like_modulo(cap: int) -> None:
    for head in range(cap):
        for k in range(0, cap, max(1, cap // 16)):
            assert impl_message.ring_index(head, k, cap) == (head + k) % cap
        assert impl_message.ring_next(head, cap) == (head + 1) % cap
