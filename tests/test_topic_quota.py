"""Quota through subscribe, unsubscribe and destroy: each obligation fails, with a failing
replay, where the spec charges or gives back a page more or fewer than a subscription
holds; and the property holds of native runs of the spec."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import spec.container as spec_container
import spec.topic as spec_topic
from proofs.topic.quota import quota, quota_kept
from spec.abi import Config
from spec.container import Containers
from spec.map import Map
from tests.checking import spec_bug_caught


def free_all_but_the_first(cs: Containers, pid: int, frames: tuple[int, ...]) -> Containers:
    """The frames given back, one short of what the subscription held."""
    return spec_container.free_all(cs, pid, frames[1:])


def free_none(cs: Containers, frames: Map[int, tuple[int, ...]]) -> Containers:
    """Destroy keeps every subscriber's queue pages charged."""
    return cs


def alloc_all_and_one_more(cs: Containers, pid: int, frames: tuple[int, ...]) -> Containers:
    """The frames taken, and one page more charged than the queue holds."""
    cs = spec_container.alloc_all(cs, pid, frames)
    c = cs.live[pid]
    return replace(cs, live=cs.live.set(pid, replace(c, usage=c.usage + 1)))


SPEC_BUGS: dict[str, tuple[str, str, Any]] = {
    "unsubscribe_gives_back_one_page_short": ("unsubscribe", "free_all", free_all_but_the_first),
    "destroy_keeps_the_queue_pages_charged": ("destroy", "free_each", free_none),
    "subscribe_charges_a_page_more": ("subscribe", "alloc_all", alloc_all_and_one_more),
}


@pytest.mark.parametrize("bug", sorted(SPEC_BUGS))
def test_a_spec_that_mischarges_queue_pages_fails_its_quota_obligation_and_replay(
        bug: str, monkeypatch: pytest.MonkeyPatch) -> None:
    op, name, broken = SPEC_BUGS[bug]
    monkeypatch.setattr(spec_topic, name, broken)
    spec_bug_caught(f"topic.{op}.quota", quota(op), ["ts = Topics(", "cs = Containers("], op=op)


def test_queue_pages_follow_usage_through_subscribe_unsubscribe_and_destroy() -> None:
    """Natively, at every pid and topic of a small run: two subscribers, one topic destroyed."""
    cfg = Config(NUM_PROC=4, ROOT_QUOTA=12, NUM_TOPIC=4, NUM_SUB=4, QLEN_MAX=4, MSG_MAX=6, NAME_MAX=8,
                 PAGE_SIZE=8)
    ts = spec_topic.boot(cfg)
    cs = spec_container.boot(cfg, 12)
    err, child, cs = spec_container.split(cs, 0, 6)
    assert err == 0
    _, tid, ts = spec_topic.create(ts, 0, False, b"news")
    frames = iter(range(12))
    steps: list[tuple[str, list[Any]]] = []
    for pid, t, qlen in ((0, tid, 3), (child, tid, 2), (child, 0, 1)):
        pages = spec_topic.queue_pages(ts, qlen)
        steps.append(("subscribe", [pid, t, qlen, 0, tuple(next(frames) for _ in range(pages))]))
    steps += [("unsubscribe", [child, 0]), ("destroy", [0, tid])]
    for op, args in steps:
        for p in (0, child, 3):
            for q in (0, 1, tid):
                assert quota_kept(op, ts, cs, p, q, args), (op, args, p, q)
        _, ts, cs = {"subscribe": spec_topic.subscribe, "unsubscribe": spec_topic.unsubscribe,
                     "destroy": spec_topic.destroy}[op](ts, cs, *args)
    assert cs.live[0].usage == 6 and cs.live[child].usage == 0  # the child's quota, nothing else
