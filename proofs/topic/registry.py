"""The topic registry's proof: the hash table of names refines a finite map from the live
topics' names to their ids, for every size and every hash function.

The invariant (`registry_ok`) says where every entry sits: each slot is empty, a
tombstone, or the slot its live topic remembers; every live topic is recorded where the
probe for its name reaches it (no slot the probe passes before it is empty); no two live
topics share a name. Each registry operation has a contract, two executable predicates
over the table: what it needs before (`pre`) and what it gives after (`post`, stated at
points: any slot, any topic ids). The goal runs the impl's function and both predicates
symbolically; the replay runs them natively. The name's hash is an argument, which the
impl's hash function is bound to answer (`Given`): FNV-1a is never unfolded, and
`hashes_ok` ties the table to it.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

import impl.topic as impl_topic
from impl.topic import (
    HT_EMPTY,
    HT_TOMB,
    T_RESERVED,
    T_USED,
    Flags,
    TopicTable,
    name_hash,
    name_is,
    topic_live,
)
from spec.map import Map
from spec.topic import Topic

from ..engine.interp import Given, run
from ..engine.values import BYTES, INT, RecT, SArray, flatten, fresh, ty_of_hint, unflatten, wellformed
from ..layer import over, same_leaf
from ..obligation import Goal, InvalidCase, Shown, obligation

TOPIC_TABLE = RecT(TopicTable)
FLAGS = ty_of_hint(Flags)


def topic_name(t: TopicTable, tid: int) -> bytes:
    return bytes(t.t_name[tid][:t.t_name_len[tid]])


def name_ok(t: TopicTable, tid: int) -> bool:
    n = t.t_name_len[tid]
    return 1 <= n and n <= t.name_max and all(t.t_name[tid][i] != 0 for i in range(n))


def abstract_topic(t: TopicTable, tid: int) -> Topic:
    return Topic(name=topic_name(t, tid), owner=t.t_owner[tid], reserved=(t.t_flags[tid] & T_RESERVED) != 0)


def abstract_topics(t: TopicTable) -> Map[int, Topic]:
    """The live topics by id, as the spec holds them."""
    return Map({tid: abstract_topic(t, tid) for tid in range(t.ntopic) if t.t_flags[tid] & T_USED})


def probe_start(t: TopicTable, tid: int) -> int:
    """Where the probe for tid's name starts: its hash modulo the table's size."""
    return t.t_hash[tid] % t.ntopic


def passed_by_probe(t: TopicTable, tid: int, p: int) -> bool:
    """Slot p is one that the probe for tid's name passes before it reaches tid's slot:
    from the start up to that slot, wrapping around the table's end."""
    start, slot = probe_start(t, tid), t.t_slot[tid]
    return (start <= p and p < slot) if start <= slot else (start <= p or p < slot)


def slot_ok(t: TopicTable, p: int) -> bool:
    """Registry slot p is empty, a tombstone, or the slot its live topic remembers."""
    tid = t.ht[p]
    return tid == HT_EMPTY or tid == HT_TOMB or (0 <= tid and tid < t.ntopic and topic_live(t, tid)
                                                 and t.t_slot[tid] == p)


def entry_ok(t: TopicTable, tid: int) -> bool:
    """Live topic tid has a valid name and is recorded at its slot, and no slot that the
    probe for its name passes before it is empty: the probe reaches it."""
    return (0 <= t.t_slot[tid] and t.t_slot[tid] < t.ntopic and t.ht[t.t_slot[tid]] == tid
            and 0 <= t.t_hash[tid] and name_ok(t, tid)
            and all(t.ht[p] != HT_EMPTY for p in range(t.ntopic) if passed_by_probe(t, tid, p)))


def names_differ(t: TopicTable, a: int, b: int) -> bool:
    """Two live topics a and b are one, or have different names."""
    return a == b or not topic_live(t, a) or not topic_live(t, b) or topic_name(t, a) != topic_name(t, b)


def registry_ok(t: TopicTable) -> bool:
    """The hash table refines the finite map from live names to ids: every slot is empty, a
    tombstone or a live topic's own slot; every live topic is recorded where a probe for its
    name reaches it; no two live topics share a name. (That each remembered hash is its
    name's is `hashes_ok`: the registry's proof holds for every hash function.)"""
    return (1 <= t.ntopic and all(slot_ok(t, p) for p in range(t.ntopic))
            and all(entry_ok(t, tid) for tid in range(t.ntopic) if topic_live(t, tid))
            and all(all(names_differ(t, a, b) for b in range(t.ntopic) if topic_live(t, b))
                    for a in range(t.ntopic) if topic_live(t, a)))


def registry_at(t: TopicTable, p: int, a: int, b: int) -> bool:
    """registry_ok's clauses at slot p and topics a and b: registry_ok holds exactly when
    this holds at every p, a and b (`topic.registry.pointwise`). A contract's conclusion
    states it at free points, which the solver takes one clause at a time."""
    # each clause as `not (where) or (what)`: the solver takes what's parts one at a time
    return (1 <= t.ntopic and (not (0 <= p and p < t.ntopic) or slot_ok(t, p))
            and (not (0 <= a and a < t.ntopic and topic_live(t, a)) or entry_ok(t, a))
            and names_differ(t, a, b))


def hashes_ok(t: TopicTable) -> bool:
    """Each live topic remembers its name's hash."""
    return all(t.t_hash[tid] == name_hash(topic_name(t, tid))
               for tid in range(t.ntopic) if topic_live(t, tid))


def errno_of(result: Any) -> Any:
    """The errno of an operation's result: the result itself, or its first member."""
    return result[0] if isinstance(result, tuple) else result


def table_size(t: TopicTable) -> Callable[[Any, z3.ModelRef], int]:
    """Per-topic arrays have ntopic entries, per-slot arrays and the queues nsub; a name
    name_max bytes, a slot's frames two (the case shows the first few)."""
    per_topic = [x.leaves[0] for x in (t.ht, t.t_flags, t.t_owner, t.t_name, t.t_name_len, t.t_nsubs,
                                         t.t_hash, t.t_slot)]

    def size(arr: Any, model: z3.ModelRef) -> int:
        def ev(x: Any) -> int:
            return int(model.eval(x, model_completion=True).as_long())

        if getattr(arr, "parent", None) is not None:
            return max(ev(t.name_max), 0) if arr.parent[0].leaves[0].eq(t.t_name.leaves[0]) else 2
        topic = isinstance(arr, SArray) and any(arr.leaves[0].eq(x) for x in per_topic)
        return max(ev(t.ntopic if topic else t.nsub), 0)

    return size


# -- the registry's operations and their contracts --------------------------------------


def hashed_as(t: TopicTable, name: bytes, h: int) -> bool:
    """h is name's hash as far as the table can tell: a live topic of that name remembers h."""
    return 0 <= h and all(not topic_live(t, tid) or not name_is(t, tid, name) or t.t_hash[tid] == h
                          for tid in range(t.ntopic))


def unnamed(t: TopicTable, name: bytes) -> bool:
    """No live topic has that name."""
    return all(not topic_live(t, tid) or topic_name(t, tid) != name for tid in range(t.ntopic))


def valid_name(t: TopicTable, name: bytes) -> bool:
    return 1 <= len(name) and len(name) <= t.name_max and all(name[i] != 0 for i in range(len(name)))


def probe_offset(t: TopicTable, h: int, slot: int) -> int:
    """How many slots a probe from hash h passes before it reaches `slot`."""
    start = h % t.ntopic
    return slot - start if start <= slot else slot - start + t.ntopic


def lookup_pre(t: TopicTable, name: bytes, h: int) -> bool:
    return registry_ok(t) and hashed_as(t, name, h)


def lookup_finds(before: TopicTable, t: TopicTable, r: int, name: bytes, h: int, tid: int) -> bool:
    """The lookup answers the slot of the live topic of that name (tid, if it is one)."""
    return not (topic_live(t, tid) and name_is(t, tid, name)) or r == t.t_slot[tid]


def slots_ok(t: TopicTable, name: bytes, h: int) -> bool:
    return 1 <= t.ntopic and all(slot_ok(t, p) for p in range(t.ntopic))


def lookup_answers(before: TopicTable, t: TopicTable, r: int, name: bytes, h: int) -> bool:
    """The lookup answers -1 or a slot that records a live topic of that name: whatever the
    rest of the invariant and the hash, it never answers another name's slot."""
    return r == -1 or (0 <= r and r < t.ntopic and 0 <= t.ht[r] and t.ht[r] < t.ntopic
                       and topic_live(t, t.ht[r]) and name_is(t, t.ht[r], name))


def install_pre(t: TopicTable, tid: int, owner: int, name: bytes, flags: int, free: int, h: int) -> bool:
    """A free id, a valid name no live topic has, a used descriptor's flags, and a slot
    `free` not in use (fewer than ntopic names are recorded)."""
    return (registry_ok(t) and 0 <= tid and tid < t.ntopic and not topic_live(t, tid)
            and (flags & T_USED) != 0 and valid_name(t, name) and unnamed(t, name) and 0 <= h
            and 0 <= free and free < t.ntopic and t.ht[free] < 0)


def changed_only(before: TopicTable, t: TopicTable, tid: int, a: int, b: int) -> bool:
    """Topics other than tid are as live as they were."""
    return ((a == tid or topic_live(before, a) == topic_live(t, a))
            and (b == tid or topic_live(before, b) == topic_live(t, b)))


def install_post(before: TopicTable, t: TopicTable, r: None, tid: int, owner: int, name: bytes, flags: int,
                 free: int, h: int, p: int, a: int, b: int) -> bool:
    """The registry still refines the map, which now takes name to tid too: where the
    invariant's clauses held before (everywhere) they hold after. (Those about tid itself
    and those about two other topics apart: each is a case of the proof.)"""
    held = registry_at(before, p, a, b)
    return (topic_live(t, tid) and topic_name(t, tid) == name and changed_only(before, t, tid, a, b)
            and (a != tid or registry_at(t, p, a, b)) and (b != tid or registry_at(t, p, a, b))
            and (not (a != tid and b != tid and held) or registry_at(t, p, a, b)))


def uninstall_pre(t: TopicTable, tid: int, h: int) -> bool:
    return registry_ok(t) and topic_live(t, tid)


def uninstall_post(before: TopicTable, t: TopicTable, r: None, tid: int, h: int, p: int, a: int,
                   b: int) -> bool:
    """The registry still refines the map, which no longer has tid's name."""
    return not topic_live(t, tid) and changed_only(before, t, tid, a, b) and registry_at(t, p, a, b)


def lookup_hints(t: TopicTable, name: bytes, h: int, tid: int) -> tuple[int, ...]:
    """Where the probe meets the live topic of that name (if tid is it)."""
    return (probe_offset(t, h, t.t_slot[tid]),)


def no_hints(t: TopicTable, *args: Any) -> tuple[int, ...]:
    return ()


@dataclass(frozen=True)
class Contract:
    """A registry operation: the impl function, its arguments (those it is called with
    first, the hash last), its contract, the points its post is stated at, and the terms
    the solver is given to instantiate the hypotheses' claims at."""

    function: str
    args: tuple[tuple[str, Any], ...]
    called_with: int
    pre: Callable[..., bool]
    post: Callable[..., bool]
    points: tuple[str, ...]
    hints: Callable[..., tuple[int, ...]] = no_hints
    # the operation changes nothing in the table (a query): proved with the contract, and
    # what lets a caller's proof take the call by its contract (engine.standins.ByContract)
    reads_only: bool = False

    def call(self, impl: types.ModuleType, t: Any, args: list[Any]) -> Any:
        """Run the operation, the name's hash function answering the last argument."""
        with over(impl, {"name_hash": Given(args[-1])}):
            return getattr(impl, self.function)(t, *args[:self.called_with])


INSTALL_ARGS = (("tid", INT), ("owner", INT), ("name", BYTES), ("flags", FLAGS), ("free", INT), ("h", INT))
LOOKUP_ARGS = (("name", BYTES), ("h", INT))
REGISTRY_OPS = {
    ("lookup", "finds"): Contract("ht_lookup", LOOKUP_ARGS, 2, lookup_pre, lookup_finds, ("tid",),
                                  lookup_hints, reads_only=True),
    ("lookup", "answers"): Contract("ht_lookup", LOOKUP_ARGS, 2, slots_ok, lookup_answers, (),
                                    reads_only=True),
    ("install", "contract"): Contract("install", INSTALL_ARGS, 4, install_pre, install_post,
                                      ("p", "a", "b")),
    ("uninstall", "contract"): Contract("uninstall", (("tid", INT), ("h", INT)), 1, uninstall_pre,
                                        uninstall_post, ("p", "a", "b")),
}


def registry_goal(op: tuple[str, str], impl: types.ModuleType = impl_topic) -> Goal:
    """The registry operation meets its contract, for every size and every hash."""
    contract = REGISTRY_OPS[op]
    leaves = flatten(TOPIC_TABLE, fresh(TOPIC_TABLE, "t"))
    args = [fresh(ty, name) for name, ty in contract.args]
    points = [z3.Int(name) for name in contract.points]
    t0 = unflatten(TOPIC_TABLE, leaves)
    with over(impl, {"name_hash": Given(args[-1])}):
        out = run(getattr(impl, contract.function),
                  lambda: [unflatten(TOPIC_TABLE, leaves), *args[:contract.called_with]])
    given = run(contract.pre, lambda: [t0, *args])
    want = run(contract.post, lambda: [t0, out.args[0], out.result, *args, *points])
    hints = run(contract.hints, lambda: [t0, *args, *points])
    hyps = [given.result, wellformed(TOPIC_TABLE, t0),
            *[wellformed(ty, a) for (_, ty), a in zip(contract.args, args, strict=True)],
            *given.assumptions, *out.assumptions, *want.assumptions, *hints.assumptions]
    unchanged = [same_leaf(a, b) for a, b in zip(leaves, flatten(TOPIC_TABLE, out.args[0]), strict=True)]
    conclusion = z3.And(*out.obligations, *want.obligations, want.result,
                        *(unchanged if contract.reads_only else []))
    inputs = {"t": Shown(TOPIC_TABLE, t0, table_size(t0)),
              **{n: Shown(ty, a) for (n, ty), a in zip(contract.args, args, strict=True)},
              **{n: Shown(INT, x) for n, x in zip(contract.points, points, strict=True)}}
    return Goal(hyps, conclusion, inputs, replay=replay_registry, replay_module=impl.__name__,
                replay_extra={"op": list(op)}, sizes=[t0.ntopic, t0.name_max], points=points,
                hints=list(hints.result), admissible=lambda values: admissible(op, values),
                example=example(op))


for _op in REGISTRY_OPS:
    obligation(f"topic.registry_{_op[0]}.{_op[1]}")(lambda impl=impl_topic, _op=_op: registry_goal(_op, impl))


def admissible(op: tuple[str, str], values: dict[str, Any]) -> bool:
    contract = REGISTRY_OPS[op]
    return bool(contract.pre(values["t"], *[values[n] for n, _ in contract.args]))


def example(op: tuple[str, str]) -> dict[str, Any]:
    """A case the contract's pre admits: the boot table (the reserved topics), a name not
    taken and a free id and slot to install it under, a reserved topic to remove."""
    from spec.abi import Config
    t = impl_topic.topic_init(Config())
    name = b"example"
    free = next(p for p in range(t.ntopic) if t.ht[p] < 0)
    args = {"lookup": {"name": name, "h": name_hash(name)},
            "install": {"tid": t.ntopic - 1, "owner": 1, "name": name, "flags": T_USED, "free": free,
                        "h": name_hash(name)},
            "uninstall": {"tid": 0, "h": 0}}[op[0]]
    return {"t": t, **args, **dict.fromkeys(REGISTRY_OPS[op].points, 0)}


def replay_registry(impl: types.ModuleType | None, op: list[str], t: TopicTable, **kw: Any) -> None:
    contract = REGISTRY_OPS[op[0], op[1]]
    args = [kw[n] for n, _ in contract.args]
    if not contract.pre(t, *args):
        raise InvalidCase("the table or the arguments are not as the operation needs")
    before = copy.deepcopy(t)
    r = contract.call(impl or impl_topic, t, args)
    points = [kw[n] for n in contract.points]
    assert contract.post(before, t, r, *args, *points), f"{op} broke its contract at {points}: answered {r!r}"
    assert not contract.reads_only or t == before, f"{op} changed the table"


@obligation("topic.registry.pointwise")
def pointwise() -> Goal:
    """registry_ok holds exactly when its clauses hold at every slot and pair of topics:
    what lets a contract state the invariant afterwards at free points."""
    leaves = flatten(TOPIC_TABLE, fresh(TOPIC_TABLE, "t"))
    t0 = unflatten(TOPIC_TABLE, leaves)
    whole = run(registry_ok, lambda: [t0])
    p, a, b = z3.Ints("p a b")
    at = run(registry_at, lambda: [t0, p, a, b])
    every = z3.ForAll([p, a, b], at.result)
    return Goal([wellformed(TOPIC_TABLE, t0), *whole.assumptions, *at.assumptions], whole.result == every,
                {"t": Shown(TOPIC_TABLE, t0, table_size(t0))})
