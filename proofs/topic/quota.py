"""Quota: a container is charged for exactly the queue pages of its subscriptions.

A container's usage counts its pages, its page tables and its queue pages
(docs/topic.md). Of these the topic layer moves only the last, so the property is stated
per subscriber p and topic q, for subscribe, unsubscribe and destroy on topic t:

- `charged_as_held`: p's container stays, with its quota, and its usage moves by exactly
  as many pages as p's queue pages for t (gained by subscribe, given back by unsubscribe
  and destroy); no other container changes;
- `held_elsewhere_kept`: for q other than t, p's queue pages for q stay as they were;
- `priced`: a subscription holds the pages its queue costs, queue_pages(qlen).

Summed over q, usage minus the queue pages p holds is the same before and after: its pages
and page tables, which the topic layer does not touch. Subscribe is given its frames by the
implementation (`spec.topic.subscribe`): the property is stated of a choice of
queue_pages(qlen) distinct frames, the choice the implementation makes (the differential
tests compare the frames it takes). All three goals are about the spec alone.
"""

from __future__ import annotations

import copy
import types
from typing import Any

import z3

import impl.topic as impl_topic
import spec.topic as spec_topic
from spec.container import Containers
from spec.topic import Topics, queue_pages

from ..engine.interp import run
from ..engine.values import INT, flatten, fresh, wellformed
from ..obligation import Goal, InvalidCase, Shown, obligation
from .delivery import CONTAINERS, FRAMES, TOPICS, distinct, subscriber_given, subscribers_given


def held(ts: Topics, pid: int, tid: int) -> int:
    """The queue pages pid holds for its subscription to tid (none if it has none)."""
    return len(ts.subs[(pid, tid)].frames) if (pid, tid) in ts.subs else 0


def priced(ts: Topics, key: tuple[int, int]) -> bool:
    """The subscription of that key, if any, holds queue_pages(qlen) pages."""
    return key not in ts.subs or len(ts.subs[key].frames) == queue_pages(ts, ts.subs[key].queue.capacity)


def charged_as_held(ts: Topics, cs: Containers, ts1: Topics, cs1: Containers, p: int, tid: int) -> bool:
    """p's container is there after as before, with its quota, and its usage moved by the
    queue pages it holds for tid."""
    if p not in cs.live:
        return p not in cs1.live
    before, after = cs.live[p], cs1.live[p]
    return (p in cs1.live and after.quota == before.quota and after.parent == before.parent
            and after.usage - held(ts1, p, tid) == before.usage - held(ts, p, tid))


def held_elsewhere_kept(ts: Topics, ts1: Topics, p: int, q: int, tid: int) -> bool:
    return q == tid or held(ts1, p, q) == held(ts, p, q)


def frames_priced(ts: Topics, cs: Containers, pid: int, tid: int, qlen: int, callback: int,
                  frames: tuple[int, ...]) -> bool:
    """Subscribe's choice: queue_pages(qlen) distinct frames, for a subscriber with a
    container."""
    return (pid in cs.live and distinct(frames)
            and (not spec_topic.qlen_ok(ts, qlen) or len(frames) == queue_pages(ts, qlen)))


# operation: (the spec's step, its arguments after the state (pid, tid first), what it is given)
STEPS: dict[str, tuple[Any, tuple[tuple[str, Any], ...], Any]] = {
    "subscribe": (spec_topic.subscribe, (("pid", INT), ("tid", INT), ("qlen", INT), ("callback", INT),
                                         ("frames", FRAMES)), frames_priced),
    "unsubscribe": (spec_topic.unsubscribe, (("pid", INT), ("tid", INT)), subscriber_given),
    "destroy": (spec_topic.destroy, (("pid", INT), ("tid", INT)), subscribers_given),
}


def given_to(op: str, ts: Topics, cs: Containers, args: list[Any]) -> bool:
    """What the step is given, on pages that have a size."""
    return 1 <= ts.page_size and STEPS[op][2](ts, cs, *args)


def quota_kept(op: str, ts: Topics, cs: Containers, p: int, q: int, args: list[Any]) -> bool:
    """The step, and the property at pid p and topic q after it."""
    step, _, _ = STEPS[op]
    tid = args[1]  # every step's arguments begin with pid, tid
    _, ts1, cs1 = step(ts, cs, *args)
    return (charged_as_held(ts, cs, ts1, cs1, p, tid) and held_elsewhere_kept(ts, ts1, p, q, tid)
            and priced(ts1, (p, q)))


def quota(op: str, impl: types.ModuleType = impl_topic) -> Goal:
    """At every pid p and topic q: p's usage follows its queue pages for the step's topic,
    its other queue pages stay, and its subscription to q is priced right, given it was."""
    _, names, _ = STEPS[op]
    ts, cs = fresh(TOPICS, "ts"), fresh(CONTAINERS, "cs")
    args = [fresh(ty, name) for name, ty in names]
    p, q = z3.Int("p"), z3.Int("q")
    given = run(given_to, lambda: [op, ts, cs, args])
    before = run(priced, lambda: [ts, (p, q)])
    out = run(quota_kept, lambda: [op, ts, cs, p, q, args])
    hyps = [z3.BoolVal(given.result) if isinstance(given.result, bool) else given.result,
            *given.assumptions, before.result, *before.assumptions,
            wellformed(TOPICS, ts), wellformed(CONTAINERS, cs),
            *[wellformed(ty, a) for (_, ty), a in zip(names, args, strict=True)], *out.assumptions]
    tid, pid = args[1], args[0]
    keys = [(p, q), (p, tid), (pid, tid)]
    inputs = {"ts": Shown(TOPICS, ts, keys=[*keys, tid]), "cs": Shown(CONTAINERS, cs, keys=[p, pid]),
              "p": Shown(INT, p), "q": Shown(INT, q),
              **{name: Shown(ty, a) for (name, ty), a in zip(names, args, strict=True)}}
    sizes = [flatten(FRAMES, ts.subs.get(key).frames)[0] for key in keys]
    if op == "subscribe":
        sizes.append(flatten(FRAMES, args[4])[0])
    return Goal(hyps, z3.And(*out.obligations, out.result), inputs, replay=replay_quota,
                replay_extra={"op": op}, sizes=sizes)


for _op in STEPS:
    obligation(f"topic.{_op}.quota")(lambda impl=impl_topic, _op=_op: quota(_op, impl))


def replay_quota(impl: types.ModuleType | None, op: str, ts: Topics, cs: Containers, p: int, q: int,
                 **kw: Any) -> None:
    """The case natively: the maps as shown, the step, the property at (p, q)."""
    args = [kw[name] for name, _ in STEPS[op][1]]
    if not given_to(op, ts, cs, args) or not priced(ts, (p, q)):
        raise InvalidCase("an argument is not as the step is given it, or (p, q) was not priced right")
    assert quota_kept(op, copy.deepcopy(ts), copy.deepcopy(cs), p, q, args), \
        f"after {op}{tuple(args)}: the quota at pid {p}, topic {q} does not follow its queue pages"
