"""The operations that take queue frames from the container layer or give them back,
proved over the message and container layers' specs: subscribe, unsubscribe and destroy.

`topic.<op>.refines`: for every topic table, every state of the message layer's spec and
every state of the container layer's spec below it in which the slots agree with the
queues (`abstraction.slots_ok`, `mailboxes_ok`, the layers' sizes) and every used slot's
frames are distinct frames its pid owns (`frames_owned`), `topic_<op>` answers the spec's
errno, and the abstract topics and the containers after it are the spec's after it.
`topic.<op>.unchanged_on_error`: in the same case, an error changes nothing.

The impl takes a queue's frames one `container_alloc` at a time (`alloc_frames`), gives
them back one `container_free` at a time (`free_frames`), and destroy ends the
subscriptions to its topic one slot at a time (`end_subscriptions`); the spec takes and
gives back the frames at once (`spec.container.alloc_all`, `free_all`, `free_each`). The
loops are taken by induction (`engine.standins.ByInduction`) with their summaries,
`frames_taken`, `frames_freed` and `subscriptions_ended`: what their first i iterations
leave, at once. Each call proves the summary's base and step in its own state; no loop is
unrolled.

Subscribe's spec takes the frames the implementation chose; here, the container layer's
spec hands out its `choices` in order, and the spec is given the next queue_pages(qlen) of
them. Its case adds that pid has a container and that those frames are distinct free
frames (`choices_free`: the kernel's frames never run out, docs/topic.md), distinct as a
ghost `position` (an input of the goal) tells where each is among them.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import z3

import impl.topic as impl_topic
import spec.container as spec_container
import spec.topic as spec_topic
from impl.topic import TopicTable, queue_pages
from spec.abi import E_SUCC, Config
from spec.container import Containers
from spec.map import Map
from spec.message import mailboxes
from spec.topic import Topics

from ..container import INTERFACE as CONTAINER_INTERFACE
from ..container import SpecContainers
from ..engine.interp import Outcome, run
from ..engine.standins import ByInduction, same_arguments
from ..engine.values import INT, ArrT, RecT, equal, flatten, fresh, unflatten, wellformed
from ..layer import over
from ..message import INTERFACE as MESSAGE_INTERFACE
from ..message import SpecMailboxes
from ..obligation import Goal, InvalidCase, Shown, obligation
from .abstraction import abstract_over, mailboxes_ok, slots_ok
from .registry import TOPIC_TABLE, table_size

MAILBOXES = RecT(SpecMailboxes)
CONTAINERS = RecT(SpecContainers)
TOPICS = RecT(Topics)
CONTAINER_STATE = RecT(Containers)


def frames_owned(t: TopicTable, cs: Containers) -> bool:
    """Every used slot's pid has a container, and the slot's frames are distinct frames
    that pid owns (the invariant's `subscription_ok`, over the container layer's spec)."""
    return all(t.s_pid[s] in cs.live
               and all(t.s_frames[s][i] in cs.owner and cs.owner[t.s_frames[s][i]] == t.s_pid[s]
                       for i in range(t.s_npages[s]))
               and all(all(t.s_frames[s][i] != t.s_frames[s][j] for j in range(i + 1, t.s_npages[s]))
                       for i in range(t.s_npages[s]))
               for s in range(t.nsub) if t.s_used[s])


def case(t: TopicTable, mq: SpecMailboxes, c: SpecContainers) -> bool:
    """The part of the invariant these goals take."""
    return (0 <= t.nsub and 1 <= t.page_size and t.qlen_max == mq.mb.qlen_max
            and slots_ok(t, mq.mb) and mailboxes_ok(mq.mb) and frames_owned(t, c.cs)
            and all(0 <= t.s_npages[s] for s in range(t.nsub) if t.s_used[s]))


def frames_freed(i: int, c: SpecContainers, pid: int, frames: list[int], n: int) -> None:
    """`free_frames` after its first i iterations: frames[0 .. i) given back at once."""
    c.cs = spec_container.free_all(c.cs, pid, tuple(frames[j] for j in range(i)))


def ending(t: TopicTable, i: int, tid: int, s: int) -> bool:
    """Slot s is one `end_subscriptions(t, ..., tid)` has ended in its first i iterations."""
    return 0 <= s and s < i and t.s_used[s] and t.s_topic[s] == tid


def subscriptions_ended(i: int, t: TopicTable, mq: SpecMailboxes, c: SpecContainers, tid: int) -> None:
    """`end_subscriptions` after its first i iterations: every subscription to tid in a slot
    below i ended, its frames given back (all at once), its queue destroyed, its slot free."""
    ended = Map({t.s_pid[s]: tuple(t.s_frames[s][j] for j in range(t.s_npages[s]))
                 for s in range(i) if ending(t, i, tid, s)})
    c.cs = spec_container.free_each(c.cs, ended)
    mq.mb = replace(mq.mb, queues=Map({q: x for q, x in mq.mb.queues.items() if not ending(t, i, tid, q)}))
    for s in range(t.nsub):
        t.s_npages[s] = 0 if ending(t, i, tid, s) else t.s_npages[s]
        t.s_used[s] = t.s_used[s] and not ending(t, i, tid, s)


def frames_taken(i: int, t: TopicTable, c: SpecContainers, pid: int, s: int, n: int) -> None:
    """`alloc_frames` after its first i iterations, where every allocation succeeds (the
    choices are free: `choices_free`): the next i choices charged to pid at once, recorded
    as slot s's first i frames and counted."""
    first = c.taken
    c.cs = spec_container.alloc_all(c.cs, pid, tuple(c.choices[first + j] for j in range(i)))
    c.taken = first + i
    for j in range(i):
        t.s_frames[s][j] = c.choices[first + j]
    t.s_npages[s] = i


def choices_free(t: TopicTable, c: SpecContainers, pid: int, qlen: int, position: list[int]) -> bool:
    """pid has a container, and the frames the container layer hands out next, as many as a
    queue of qlen messages needs, are distinct free frames: the kernel's frames never run
    out (docs/topic.md). They are distinct as `position` tells where each is among them."""
    n = queue_pages(t, qlen)
    first = c.taken
    return (pid in c.cs.live and 0 <= first
            and all(0 <= c.choices[first + j] and c.choices[first + j] < c.cs.nframes
                    and c.choices[first + j] not in c.cs.owner and position[c.choices[first + j]] == j
                    for j in range(n)))


def interface(impl: types.ModuleType) -> dict[str, Any]:
    """The layers below as their specs, and impl's loops over frames and over slots by
    their summaries."""
    containers = {name: f for name, f in CONTAINER_INTERFACE.items() if name in impl.__dict__}
    return {**MESSAGE_INTERFACE, **containers, "free_frames": ByInduction(impl.free_frames, frames_freed),
            "alloc_frames": ByInduction(impl.alloc_frames, frames_taken),
            "end_subscriptions": ByInduction(impl.end_subscriptions, subscriptions_ended)}


def spec_unsubscribe(ts: Topics, c: SpecContainers, pid: int, tid: int) -> tuple[int, Topics, Containers]:
    return spec_topic.unsubscribe(ts, c.cs, pid, tid)


def spec_subscribe(ts: Topics, c: SpecContainers, pid: int, tid: int, qlen: int,
                   callback: int) -> tuple[int, Topics, Containers]:
    """The spec's subscribe, its frames the container layer's next choices."""
    frames = tuple(c.choices[c.taken + j] for j in range(spec_topic.queue_pages(ts, qlen)))
    return spec_topic.subscribe(ts, c.cs, pid, tid, qlen, callback, frames)


def subscribe_case(t: TopicTable, mq: SpecMailboxes, c: SpecContainers, pid: int, tid: int, qlen: int,
                   callback: int, position: list[int]) -> bool:
    return choices_free(t, c, pid, qlen, position)


def no_case(t: TopicTable, mq: SpecMailboxes, c: SpecContainers, *args: Any) -> bool:
    return True


def spec_destroy(ts: Topics, c: SpecContainers, pid: int, tid: int) -> tuple[int, Topics, Containers]:
    return spec_topic.destroy(ts, c.cs, pid, tid)


# operation: (the spec's, its arguments after the states with their types, the case it
# takes beyond `case`)
OPERATIONS: dict[str, tuple[Any, tuple[tuple[str, Any], ...], Callable[..., bool]]] = {
    "subscribe": (spec_subscribe, (("pid", INT), ("tid", INT), ("qlen", INT), ("callback", INT)),
                  subscribe_case),
    "unsubscribe": (spec_unsubscribe, (("pid", INT), ("tid", INT)), no_case),
    "destroy": (spec_destroy, (("pid", INT), ("tid", INT)), no_case),
}
# the values a case states (beyond the operation's arguments), with their types
GHOSTS: dict[str, tuple[tuple[str, Any], ...]] = {"subscribe": (("position", ArrT(INT)),)}


@dataclass
class Run:
    """One run of topic_<op> over the specs below, from fresh states in the goals' case."""

    op: str
    impl: types.ModuleType
    args: list[Any]
    ghosts: list[Any]
    before: tuple[Any, Any, Any]  # t, mq, c
    after: tuple[Any, Any, Any]
    out: Outcome
    given: list[z3.BoolRef]  # the case
    given_obligations: list[z3.BoolRef]  # what its definitions need proved

    @staticmethod
    def of(op: str, impl: types.ModuleType) -> Run:
        _, names, extra = OPERATIONS[op]
        leaves = [flatten(ty, fresh(ty, name)) for name, ty in LOWERS]
        args = [fresh(ty, name) for name, ty in names]
        ghosts = [fresh(ty, name) for name, ty in GHOSTS.get(op, ())]

        def states() -> list[Any]:
            return [unflatten(ty, xs) for (_, ty), xs in zip(LOWERS, leaves, strict=True)]

        t0, mq0, c0 = states()
        cases = [run(case, lambda: [t0, mq0, c0]), run(extra, lambda: [t0, mq0, c0, *args, *ghosts])]
        given = [z3.BoolVal(x) if isinstance(x, bool) else x
                 for o in cases for x in (o.result, *o.assumptions)]
        with over(impl, interface(impl)):
            out = run(getattr(impl, f"topic_{op}"), lambda: [*states(), *args], assume=given)
        return Run(op, impl, args, ghosts, (t0, mq0, c0), tuple(out.args[:3]), out, given,
                   [x for o in cases for x in o.obligations])

    def goal(self, conclusion: z3.BoolRef, facts: list[z3.BoolRef], replay: Callable[..., None]) -> Goal:
        """The goal of this run: the case, the run's facts and these, shown as the case."""
        _, names, _ = OPERATIONS[self.op]
        t0, mq0, c0 = self.before
        hyps = [*self.given,
                *[wellformed(ty, v) for (_, ty), v in zip(LOWERS, self.before, strict=True)],
                *[wellformed(ty, a) for (_, ty), a in zip(names, self.args, strict=True)],
                *self.out.assumptions, *facts]
        size = frames_size(t0)
        keys = lambda model: [*self.args, *owners_and_frames(t0, model)]  # noqa: E731
        inputs = {"t": Shown(TOPIC_TABLE, t0, size), "mq": Shown(MAILBOXES, mq0, size),
                  "c": Shown(CONTAINERS, c0, size, keys=keys)}
        inputs.update({name: Shown(ty, a) for (name, ty), a in zip(names, self.args, strict=True)})
        frames = lambda arr, model: max(0, min(_value(model, c0.cs.nframes), SHOWN_FRAMES))  # noqa: E731
        inputs.update({name: Shown(ty, g, frames) for (name, ty), g in
                       zip(GHOSTS.get(self.op, ()), self.ghosts, strict=True)})
        return Goal(hyps, z3.And(*self.given_obligations, *self.out.obligations, conclusion), inputs,
                    replay=replay, replay_module=self.impl.__name__, replay_extra={"op": self.op},
                    # each slot's pages too: a small case then shows every frame it holds
                    sizes=[t0.ntopic, t0.nsub, mq0.mb.msg_max, t0.s_npages.leaves[0]],
                    admissible=lambda v: in_case(self.op, v["t"], v["mq"], v["c"], v),
                    example=boot_example(self.op))


LOWERS = (("t", TOPIC_TABLE), ("mq", MAILBOXES), ("c", CONTAINERS))


def refines(op: str, impl: types.ModuleType = impl_topic) -> Goal:
    """impl's topic_<op> over the two specs below answers the spec's errno, and leaves the
    abstract topics and the containers as the spec's <op> leaves them."""
    spec_op, _, _ = OPERATIONS[op]
    r = Run.of(op, impl)
    (t0, mq0, c0), (t1, mq1, c1) = r.before, r.after
    before = run(abstract_over, lambda: [t0, mq0.mb])
    after = run(abstract_over, lambda: [t1, mq1.mb])
    want = run(spec_op, lambda: [before.result, c0, *r.args])
    err, want_ts, want_cs = want.result
    conclusion = z3.And(*before.obligations, *after.obligations, *want.obligations, r.out.result == err,
                        equal(TOPICS, after.result, want_ts), equal(CONTAINER_STATE, c1.cs, want_cs))
    return r.goal(conclusion, [*before.assumptions, *after.assumptions, *want.assumptions], replay_refines)


def unchanged_on_error(op: str, impl: types.ModuleType = impl_topic) -> Goal:
    """An error leaves the topic tables (every field, every entry), the queues and the
    containers (as values: a map's keys and their values) as they were."""
    r = Run.of(op, impl)
    same = same_arguments(r.before, r.after)
    return r.goal(z3.Implies(r.out.result != E_SUCC, same), [], replay_unchanged_on_error)


SHOWN_FRAMES = 64  # a counterexample shows at most this many frames of a slot


def _value(model: z3.ModelRef, x: Any) -> int:
    return int(model.eval(x, model_completion=True).as_long())


def frames_size(t: TopicTable) -> Callable[[Any, z3.ModelRef], int]:
    """The tables' sizes as `table_size` has them, but a slot's frames as many as it holds."""
    size = table_size(t)

    def frames(arr: Any, model: z3.ModelRef) -> int:
        parent = getattr(arr, "parent", None)
        if parent is not None and parent[0].leaves[0].eq(t.s_frames.leaves[0]):
            return max(0, min(_value(model, t.s_npages.get(parent[1])), SHOWN_FRAMES))
        return size(arr, model)

    return frames


def owners_and_frames(t: TopicTable, model: z3.ModelRef) -> list[Any]:
    """The pids and frames of the slots, as the model has them: the keys of the containers'
    maps that a counterexample must show."""
    slots = range(max(0, min(_value(model, t.nsub), SHOWN_FRAMES)))
    return [*(t.s_pid.get(s) for s in slots),
            *(t.s_frames.get(s).get(j) for s in slots
              for j in range(max(0, min(_value(model, t.s_npages.get(s)), SHOWN_FRAMES))))]


for _op in OPERATIONS:
    obligation(f"topic.{_op}.refines")(lambda impl=impl_topic, _op=_op: refines(_op, impl))
    obligation(f"topic.{_op}.unchanged_on_error")(
        lambda impl=impl_topic, _op=_op: unchanged_on_error(_op, impl))


def boot_example(op: str) -> dict[str, Any]:
    """The tables at boot over the two specs at boot, the arguments zero (a queue of one
    message, whose page is the frame handed out next): a case of every goal here."""
    cfg = Config()
    _, names, _ = OPERATIONS[op]
    lower = SpecContainers(spec_container.boot(cfg, cfg.ROOT_QUOTA), choices=[0], taken=0)
    return {"t": impl_topic.topic_init(cfg), "mq": SpecMailboxes(mailboxes(cfg)), "c": lower,
            **{name: 0 for name, _ in names}, **({"qlen": 1, "position": [0]} if op == "subscribe" else {})}


def in_case(op: str, t: TopicTable, mq: SpecMailboxes, c: SpecContainers, kw: dict[str, Any]) -> bool:
    _, names, extra = OPERATIONS[op]
    try:
        return case(t, mq, c) and extra(t, mq, c, *[kw[name] for name, _ in (*names, *GHOSTS.get(op, ()))])
    except IndexError:  # the choices end before the frames the case needs
        return False


def _replayed_args(op: str, t: TopicTable, mq: SpecMailboxes, c: SpecContainers,
                   kw: dict[str, Any]) -> list[Any]:
    """The operation's arguments, once the case is checked to be one of the goal's."""
    if not in_case(op, t, mq, c, kw):
        raise InvalidCase("a slot and its queue disagree, a queue is not as the spec keeps it, a "
                          "slot's frames are not distinct frames its pid owns, or the frames handed "
                          "out next are not free")
    return [kw[name] for name, _ in OPERATIONS[op][1]]


def replay_refines(impl: types.ModuleType | None, op: str, t: TopicTable, mq: SpecMailboxes,
                   c: SpecContainers, **kw: Any) -> None:
    """The case natively: the impl over the two specs, against the spec."""
    module = impl or impl_topic
    args = _replayed_args(op, t, mq, c, kw)
    err, want_ts, want_cs = OPERATIONS[op][0](abstract_over(copy.deepcopy(t), copy.deepcopy(mq.mb)),
                                              copy.deepcopy(c), *args)
    with over(module, interface(module)):
        got = getattr(module, f"topic_{op}")(t, mq, c, *args)
    assert got == err, f"{op} answered {got}, the spec {err}"
    got_ts = abstract_over(t, mq.mb)
    assert got_ts == want_ts, f"after {op}: {got_ts}, the spec's {want_ts}"
    assert c.cs == want_cs, f"after {op}, the containers: {c.cs}, the spec's {want_cs}"


def replay_unchanged_on_error(impl: types.ModuleType | None, op: str, t: TopicTable, mq: SpecMailboxes,
                              c: SpecContainers, **kw: Any) -> None:
    """The case natively: an error from the impl over the two specs changes nothing."""
    module = impl or impl_topic
    args = _replayed_args(op, t, mq, c, kw)
    before = copy.deepcopy((t, mq, c))
    with over(module, interface(module)):
        err = getattr(module, f"topic_{op}")(t, mq, c, *args)
    if err != E_SUCC:
        assert (t, mq, c) == before, f"{op} answered {err} and changed the tables or the layers below"
