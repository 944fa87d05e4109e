"""The delivery obligations fail where the spec breaks delivery: each planted spec bug
gets a counterexample, and its replay, run natively with the same bug, fails."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import spec.topic as spec_topic
from proofs.topic.delivery import delivers
from spec.container import Containers
from spec.map import Map
from spec.message import Message, Queue, empty_queue, enqueue, is_full
from spec.topic import Subscription, Topics, destroy
from tests.checking import spec_bug_caught


def deliver_dropping_the_newest(ts: Topics, tid: int, m: Message) -> Map[tuple[int, int], Subscription]:
    """A full queue keeps its messages and loses the new one."""
    return Map({key: s if is_full(s.queue) or key[1] != tid else replace(s, queue=enqueue(s.queue, m))
                for key, s in ts.subs.items()})


def deliver_on_every_topic(ts: Topics, tid: int, m: Message) -> Map[tuple[int, int], Subscription]:
    return Map({key: replace(s, queue=enqueue(s.queue, m)) for key, s in ts.subs.items()})


def front_newest(q: Queue) -> Message:
    """The newest message where the oldest is due."""
    return q.items[len(q.items) - 1] if len(q.items) > 0 else Message(seq=0, data=b"")


def empty_queue_of_one_more(qlen: int) -> Queue:
    """A new subscription's queue one message longer than asked (and a message dropped)."""
    return Queue(capacity=qlen + 1, items=(), dropped=1)


def destroy_emptying_every_queue(ts: Topics, cs: Containers, pid: int,
                                 tid: int) -> tuple[int, Topics, Containers]:
    """Destroy, and every other subscription's queued messages discarded too."""
    err, after, cs = destroy(ts, cs, pid, tid)
    subs = Map({key: replace(s, queue=empty_queue(s.queue.capacity)) for key, s in after.subs.items()})
    return err, replace(after, subs=subs), cs


SPEC_BUGS: dict[str, tuple[str, str, Any]] = {
    "destroy_empties_every_queue": ("destroy", "destroy", destroy_emptying_every_queue),
    "subscribe_starts_with_a_drop": ("subscribe", "empty_queue", empty_queue_of_one_more),
    "drop_newest": ("publish", "deliver", deliver_dropping_the_newest),
    "deliver_on_every_topic": ("publish", "deliver", deliver_on_every_topic),
    "receive_the_newest": ("receive", "front", front_newest),
}


@pytest.mark.parametrize("bug", sorted(SPEC_BUGS))
def test_a_spec_that_breaks_delivery_fails_its_obligation_and_replay(
        bug: str, monkeypatch: pytest.MonkeyPatch) -> None:
    op, name, broken = SPEC_BUGS[bug]
    monkeypatch.setattr(spec_topic, name, broken)
    spec_bug_caught(f"topic.{op}.delivers", delivers(op), ["ts = Topics(", "sent = Map("], op=op)
