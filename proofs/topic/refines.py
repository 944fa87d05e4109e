"""The topic operations that reach the registry and the descriptors alone, proved to
refine the spec's: lookup and create; and a create that fails writes nothing
(`topic.create.unchanged_on_error`, in the same case as its refinement).

`topic.<op>.refines`: for every table that has the registry's invariant, every name and
every hash h that the table's cached hashes agree with (the live topic of that name, if
any, remembers h: what `hashes_ok` gives for h = name_hash(name)), `topic_<op>` answers
the spec's <op> of the abstract topics (errno and id), the live topics after it are the
spec's after it, and it writes no field of the table but the registry's and the
descriptors' (lookup: none at all). The impl's hash function is bound to answer h
(`Given`), as in the registry's own proofs, so FNV-1a is never unfolded. The registry's
probe for the name is taken by its proved contracts (`topic.registry_lookup.finds` and
`.answers`, through `engine.standins.ByContract`): each call proves their pre and assumes
their posts, so the probe loops are not run again here. Create's insertion runs as it
is: the live topics do not depend on where the registry records the new name.

The spec's operations read the topics alone: the abstract state they are given has, for
its subscriptions, a value that no operation can read (`UNREAD`), so the goal could not
be built if one read them; the result is then the spec's for every set of subscriptions.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import z3

import impl.topic as impl_topic
import spec.topic as spec_topic
from impl.topic import TopicTable, name_hash
from spec.abi import E_SUCC, Config
from spec.topic import Topics

from ..engine.interp import Given, run
from ..engine.standins import ByContract
from ..engine.values import BOOL, BYTES, INT, equal, flatten, fresh, ty_of_value, unflatten, wellformed
from ..layer import equal_results, over, same_leaf
from ..obligation import Goal, InvalidCase, Shown, obligation
from . import registry
from .registry import REGISTRY_OPS, TOPIC_TABLE, abstract_topics, registry_ok, table_size


class Unread:
    """A part of the abstract state an operation's spec must not read: any use fails."""

    def _refuse(self, *args: Any) -> NoReturn:
        raise TypeError("the spec read a part of the state its proof says it does not")

    __len__ = __iter__ = __contains__ = __getitem__ = __eq__ = __bool__ = _refuse
    __hash__ = None  # type: ignore[assignment]


UNREAD: Any = Unread()


def registry_view(t: TopicTable) -> Topics:
    """The abstract state as far as the registry tells it: the live topics."""
    return Topics(ntopic=t.ntopic, nsub=t.nsub, qlen_max=t.qlen_max, msg_max=t.msg_max, name_max=t.name_max,
                  page_size=t.page_size, topics=abstract_topics(t), subs=UNREAD, seq=t.seq)


PROBE = [REGISTRY_OPS["lookup", "finds"], REGISTRY_OPS["lookup", "answers"]]
# the fields of the registry and of the topic descriptors: all that create may write
DESCRIPTORS = ("ht", "t_flags", "t_owner", "t_name", "t_name_len", "t_nsubs", "t_hash", "t_slot")


def spec_lookup(ts: Topics, name: bytes) -> tuple[tuple[int, int], Topics]:
    return spec_topic.lookup(ts, name), ts


def spec_create(ts: Topics, pid: int, privileged: bool, name: bytes) -> tuple[tuple[int, int], Topics]:
    err, tid, after = spec_topic.create(ts, pid, privileged, name)
    return (err, tid), after


@dataclass(frozen=True)
class RegistryOp:
    """An operation on the registry and the descriptors: the spec's (its results as the
    impl's, and the state after), its arguments after the table, and the fields it may write."""

    spec: Callable[..., tuple[tuple[int, int], Topics]]
    args: tuple[tuple[str, Any], ...]
    writes: tuple[str, ...]


OPERATIONS = {
    "lookup": RegistryOp(spec_lookup, (("name", BYTES),), ()),
    "create": RegistryOp(spec_create, (("pid", INT), ("privileged", BOOL), ("name", BYTES)), DESCRIPTORS),
}


@dataclass
class Ran:
    """topic_<op> run over a table with the registry's invariant, the name's hash bound to
    h and the probe taken by its contracts: the table before and after, the arguments,
    the run, the case it assumes and the inputs a counterexample shows."""

    op: str
    impl: types.ModuleType
    t0: TopicTable
    t1: TopicTable
    args: list[Any]
    out: Any
    hyps: list[z3.BoolRef]
    inputs: dict[str, Shown]

    @classmethod
    def of(cls, op: str, impl: types.ModuleType) -> Ran:
        rop = OPERATIONS[op]
        leaves = flatten(TOPIC_TABLE, fresh(TOPIC_TABLE, "t"))
        args = [fresh(ty, name) for name, ty in rop.args]
        name, h = args[-1], z3.Int("h")
        t0 = unflatten(TOPIC_TABLE, leaves)
        given = run(lookup_case, lambda: [t0, name, h])
        with over(impl, {"name_hash": Given(h), "ht_lookup": ByContract(impl.ht_lookup, INT, PROBE)}):
            out = run(getattr(impl, f"topic_{op}"), lambda: [unflatten(TOPIC_TABLE, leaves), *args])
        hyps = [given.result, *given.assumptions, wellformed(TOPIC_TABLE, t0),
                *[wellformed(ty, a) for (_, ty), a in zip(rop.args, args, strict=True)], *out.assumptions]
        inputs = {"t": Shown(TOPIC_TABLE, t0, table_size(t0)),
                  **{n: Shown(ty, a) for (n, ty), a in zip(rop.args, args, strict=True)}, "h": Shown(INT, h)}
        return cls(op, impl, t0, out.args[0], args, out, hyps, inputs)

    def kept(self, fields: tuple[str, ...]) -> list[z3.BoolRef]:
        """Every field but these is as it was."""
        return [same_leaf(a, b) for field, ty in TOPIC_TABLE.fields if field not in fields
                for a, b in zip(flatten(ty, getattr(self.t0, field)), flatten(ty, getattr(self.t1, field)),
                                strict=True)]

    def goal(self, hyps: list[z3.BoolRef], conclusion: z3.BoolRef, replay: Callable[..., None]) -> Goal:
        return Goal([*self.hyps, *hyps], z3.And(*self.out.obligations, conclusion), self.inputs,
                    replay=replay, replay_module=self.impl.__name__, replay_extra={"op": self.op},
                    sizes=[self.t0.ntopic, self.t0.name_max], admissible=admissible, example=example(self.op))


def refines(op: str, impl: types.ModuleType = impl_topic) -> Goal:
    """topic_<op> answers the spec's <op>, the live topics after it are the spec's, and it
    writes only the fields it may."""
    r = Ran.of(op, impl)
    view = run(registry_view, lambda: [r.t0])
    want = run(OPERATIONS[op].spec, lambda: [view.result, *r.args])
    want_results, want_after = want.result
    live = run(abstract_topics, lambda: [r.t1])
    conclusion = z3.And(*live.obligations, *want.obligations,
                        equal_results(tuple(r.out.result), tuple(want_results)),
                        equal(ty_of_value(live.result), live.result, want_after.topics),
                        *r.kept(OPERATIONS[op].writes))
    return r.goal([*view.assumptions, *want.assumptions, *live.assumptions], conclusion, replay_refines)


@obligation("topic.create.unchanged_on_error")
def create_unchanged_on_error(impl: types.ModuleType = impl_topic) -> Goal:
    """A create that fails writes no field of the table: not the registry (no slot taken,
    no tombstone reused), not a descriptor."""
    r = Ran.of("create", impl)
    return r.goal([], z3.Implies(r.out.result[0] != E_SUCC, z3.And(*r.kept(()))), replay_unchanged_on_error)


for _op in OPERATIONS:
    obligation(f"topic.{_op}.refines")(lambda impl=impl_topic, _op=_op: refines(_op, impl))


def lookup_case(t: TopicTable, name: bytes, h: int) -> bool:
    """The table has the registry's invariant and h is name's hash as far as it can tell:
    what `hashes_ok` gives for h = name_hash(name)."""
    return registry_ok(t) and registry.hashed_as(t, name, h)


def admissible(values: dict[str, Any]) -> bool:
    return lookup_case(values["t"], values["name"], values["h"])


def example(op: str) -> dict[str, Any]:
    """The boot table (the reserved topics): a reserved topic's name looked up, a new
    name created."""
    t = impl_topic.topic_init(Config())
    name = bytes(t.t_name[0][:t.t_name_len[0]]) if op == "lookup" else b"example"
    args = {"lookup": {}, "create": {"pid": 1, "privileged": False}}[op]
    return {"t": t, **args, "name": name, "h": name_hash(name)}


def replay_refines(impl: types.ModuleType | None, op: str, t: TopicTable, h: int, **kw: Any) -> None:
    """The case natively: the name's hash is the case's (h, which its table's cached hashes
    agree with), the probe the impl's own."""
    module = impl or impl_topic
    rop = OPERATIONS[op]
    args = [kw[n] for n, _ in rop.args]
    if not lookup_case(t, args[-1], h):
        raise InvalidCase("the table is not a registry, or its hashes are not the case's")
    before = copy.deepcopy(t)
    want_results, want_after = rop.spec(registry_view(before), *args)
    with over(module, {"name_hash": Given(h)}):
        got = getattr(module, f"topic_{op}")(t, *args)
    assert got == want_results, f"{op} answered {got}, the spec {want_results}"
    got_topics = abstract_topics(t)
    assert got_topics == want_after.topics, f"after {op}: {got_topics}, the spec's {want_after.topics}"
    wrote = [f for f in vars(t) if f not in rop.writes and getattr(t, f) != getattr(before, f)]
    assert not wrote, f"{op} wrote {wrote}"


def replay_unchanged_on_error(impl: types.ModuleType | None, op: str, t: TopicTable, h: int,
                              **kw: Any) -> None:
    """The case natively: a failed create leaves the table as it was."""
    module = impl or impl_topic
    args = [kw[n] for n, _ in OPERATIONS[op].args]
    if not lookup_case(t, args[-1], h):
        raise InvalidCase("the table is not a registry, or its hashes are not the case's")
    before = copy.deepcopy(t)
    with over(module, {"name_hash": Given(h)}):
        err, _ = getattr(module, f"topic_{op}")(t, *args)
    assert err == E_SUCC or t == before, f"{op} failed with {err} and changed the table"
