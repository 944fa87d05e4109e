"""The invariant kept by the operations that take queue frames or give them back:
subscribe, unsubscribe and destroy, over the message and container layers' specs.

`topic.<op>.invariant`: from every state in which the invariant over the two specs holds
(`held`: the slots against the queues, the counts and sequence numbers, every used slot
on a live topic with as many frames as its queue needs, frames its pid owns and no frame
in two slots, and the registry), the operation leaves a state in which it holds again.
Subscribe and unsubscribe write no field of the registry or of the topic descriptors but
the counts, which is what the registry's part (`registry_ok`, `hashes_ok`) reads; destroy
removes its topic from the registry, which keeps `registry_ok` (proved here of the state
after), and every topic live after it was live before under the same name and hash, which
keeps `hashes_ok` (`hashes_kept`).

The goals run the operation as `frames.Run` does (its loops by their summaries); the
claims about every slot and every pair of slots are the solver's to take apart.
"""

from __future__ import annotations

import copy
import dataclasses
import types
from collections.abc import Callable
from typing import Any

import z3

import impl.topic as impl_topic
from impl.topic import TopicTable, queue_pages, topic_live

from ..container import SpecContainers
from ..engine import counting
from ..engine.interp import Outcome, run
from ..engine.values import INT, flatten
from ..layer import over, same_leaf
from ..message import SpecMailboxes
from ..obligation import Goal, InvalidCase, Shown, obligation
from .abstraction import count_ok, counts_ok, seqs_ok
from .frames import OPERATIONS, Run, case, in_case, interface
from .registry import TOPIC_TABLE, registry_ok

# what subscribe and unsubscribe leave as it was: the registry and the descriptors but
# their counts of subscribers
REGISTRY_FIELDS = ("ht", "t_flags", "t_owner", "t_name", "t_name_len", "t_hash", "t_slot")


def slot_held(t: TopicTable, s: int) -> bool:
    """Used slot s subscribes to a live topic and holds as many frames as its queue needs."""
    return topic_live(t, t.s_topic[s]) and t.s_npages[s] == queue_pages(t, t.s_qlen[s])


def frames_apart(t: TopicTable) -> bool:
    """No frame is in two used slots."""
    return all(all(all(all(t.s_frames[a][i] != t.s_frames[b][j] for j in range(t.s_npages[b]))
                       for i in range(t.s_npages[a]))
                   for b in range(t.nsub) if t.s_used[b] and b != a)
               for a in range(t.nsub) if t.s_used[a])


def slots_live(t: TopicTable, mq: SpecMailboxes, c: SpecContainers) -> bool:
    return all(slot_held(t, s) for s in range(t.nsub) if t.s_used[s])


def sequenced(t: TopicTable, mq: SpecMailboxes, c: SpecContainers) -> bool:
    return seqs_ok(t, mq.mb)


def apart(t: TopicTable, mq: SpecMailboxes, c: SpecContainers) -> bool:
    return frames_apart(t)


# the invariant's parts besides `frames.case` (which the goals take before) and the
# counts and the registry: each is claimed after from itself before
PARTS = (sequenced, slots_live, apart)


def held(t: TopicTable, mq: SpecMailboxes, c: SpecContainers) -> bool:
    """The topic layer's invariant over the two specs (`proofs.topic.table_ok` with the
    message layer's spec below it and the container layer's spec beside it)."""
    return (case(t, mq, c) and all(part(t, mq, c) for part in PARTS) and counts_ok(t, mq.mb)
            and registry_ok(t))


def hashes_kept(before: TopicTable, t: TopicTable) -> bool:
    """Every topic live in t was live before, under the same name and remembered hash."""
    return all(topic_live(before, tid) and t.t_hash[tid] == before.t_hash[tid]
               and t.t_name_len[tid] == before.t_name_len[tid]
               and all(t.t_name[tid][i] == before.t_name[tid][i] for i in range(t.t_name_len[tid]))
               for tid in range(t.ntopic) if topic_live(t, tid))


def kept(op: str, impl: types.ModuleType = impl_topic) -> Goal:
    """impl's topic_<op> over the two specs keeps the invariant. The goal takes the case
    (`frames.case`, the invariant's first part) before; each other part is claimed after
    from itself before (a stronger claim than from the whole invariant, and a smaller
    question for the solver); the count of subscribers at a topic x, any topic."""
    r = Run.of(op, impl)
    (t0, mq0, c0), (t1, mq1, c1) = r.before, r.after
    x = z3.Int("x")
    built: list[z3.BoolRef] = []  # what the definitions need proved, before and after

    def kept_from(claim: Outcome, *premises: Outcome, extra: tuple[z3.BoolRef, ...] = ()) -> z3.BoolRef:
        built.extend([*claim.obligations, *[e for p in premises for e in p.obligations]])
        given = [e for p in premises for e in (p.result, *p.assumptions)]
        return z3.Implies(z3.And(*given, *extra, *claim.assumptions), claim.result)

    def before(part: Callable[..., bool]) -> Outcome:
        return run(part, lambda: [t0, mq0, c0])

    def after(part: Callable[..., bool]) -> Outcome:
        return run(part, lambda: [t1, mq1, c1])

    # the case after: a slot's frames stay its own where frames are given back, as no
    # frame is in two slots; subscribe takes free frames
    claims = [kept_from(after(case), *([] if op == "subscribe" else [before(apart)]))]
    claims += [kept_from(after(part), before(part)) for part in PARTS]
    counted, recounted = run(count_ok, lambda: [t0, mq0.mb, x]), run(count_ok, lambda: [t1, mq1.mb, x])
    # how the count at x changes with the slots that subscribe to x: the counting lemmas
    # at the two counts (ground: x is a point)
    pairs = counting.pair_facts([e for o in (counted, recounted) for e in (o.result, *o.assumptions)])
    claims.append(kept_from(recounted, counted, extra=tuple(pairs)))
    if op == "destroy":
        claims.append(kept_from(run(registry_ok, lambda: [t1]), run(registry_ok, lambda: [t0])))
        claims.append(kept_from(run(hashes_kept, lambda: [t0, t1])))
    else:
        types_of = dict(TOPIC_TABLE.fields)
        claims += [same_leaf(a, b) for name in REGISTRY_FIELDS
                   for a, b in zip(flatten(types_of[name], getattr(t0, name)),
                                   flatten(types_of[name], getattr(t1, name)), strict=True)]
    # x is any topic id: the invariant counts at every id of the table
    goal = r.goal(z3.And(*built, *claims), [0 <= x, x < t0.ntopic], replay_kept)
    return dataclasses.replace(
        goal, inputs={**goal.inputs, "x": Shown(INT, x)}, example={**goal.example, "x": 0},
        admissible=lambda v: in_case(op, v["t"], v["mq"], v["c"], v) and 0 <= v["x"] < v["t"].ntopic)


# subscribe's is not registered yet: its frames' claims (a new slot's frames owned and
# apart from every other slot's) are left unknown by the solver in some runs
KEPT = ("unsubscribe", "destroy")
for _op in KEPT:
    obligation(f"topic.{_op}.invariant")(lambda impl=impl_topic, _op=_op: kept(_op, impl))


def replay_kept(impl: types.ModuleType | None, op: str, t: TopicTable, mq: SpecMailboxes,
                c: SpecContainers, **kw: Any) -> None:
    """The case natively: each part of the invariant that held before (with what its claim
    takes beside it) holds after the impl over the two specs."""
    module = impl or impl_topic
    if not in_case(op, t, mq, c, kw):
        raise InvalidCase("a slot and its queue disagree, a slot's frames are not its pid's, or the "
                          "frames handed out next are not free")
    x = kw["x"]
    if not 0 <= x < t.ntopic:
        raise InvalidCase("x is no topic id of the table")
    states = copy.deepcopy((t, mq, c))
    was = {part.__name__: part(*states) for part in PARTS}
    was_apart, was_counted, was_registry = frames_apart(t), count_ok(t, mq.mb, x), registry_ok(t)
    with over(module, interface(module)):
        getattr(module, f"topic_{op}")(t, mq, c, *[kw[name] for name, _ in OPERATIONS[op][1]])
    assert not ((op == "subscribe" or was_apart) and not case(t, mq, c)), f"{op} broke the case"
    broken = [part.__name__ for part in PARTS if was[part.__name__] and not part(t, mq, c)]
    assert not broken, f"{op} broke the invariant's parts {broken}"
    assert not was_counted or count_ok(t, mq.mb, x), f"{op} miscounted the subscribers of topic {x}"
    if op == "destroy":
        assert not was_registry or registry_ok(t), "destroy broke the registry"
        assert hashes_kept(states[0], t), "destroy changed a live topic's name or hash"
    else:
        wrote = [f for f in REGISTRY_FIELDS if getattr(t, f) != getattr(states[0], f)]
        assert not wrote, f"{op} wrote {wrote}"
