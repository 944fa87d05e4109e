"""The topic operations that read the registry alone, proved to refine the spec's.

`topic.lookup.refines`: for every table that has the registry's invariant, every name
and every hash h that the table's cached hashes agree with (the live topic of that name,
if any, remembers h: what `hashes_ok` gives for h = name_hash(name)), `topic_lookup`
answers the spec's lookup of the abstract topics, errno and id, and changes nothing. The
impl's hash function is bound to answer h (`Given`), as in the registry's own proofs, so
FNV-1a is never unfolded. The registry's probe is
taken by its proved contracts (`topic.registry_lookup.finds` and `.answers`, through
`engine.standins.ByContract`): each call proves their pre and assumes their posts, so the
probe loops are not run again here.

The spec's lookup reads the topics alone: the abstract state it is given has, for its
subscriptions, a value that no operation can read (`UNREAD`), so the goal could not be
built if it read them; the result is then the spec's for every set of subscriptions.
"""

from __future__ import annotations

import copy
import types
from typing import Any, NoReturn

import z3

import impl.topic as impl_topic
import spec.topic as spec_topic
from impl.topic import TopicTable, name_hash
from spec.abi import Config
from spec.topic import Topics

from ..engine.interp import Given, run
from ..engine.standins import ByContract
from ..engine.values import BYTES, INT, flatten, fresh, unflatten, wellformed
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


def lookup_impl_result(impl: types.ModuleType, t: TopicTable, name: bytes) -> tuple[int, int]:
    return impl.topic_lookup(t, name)


@obligation("topic.lookup.refines")
def lookup_refines(impl: types.ModuleType = impl_topic) -> Goal:
    """topic_lookup answers spec.topic.lookup's errno and id, and changes nothing."""
    leaves = flatten(TOPIC_TABLE, fresh(TOPIC_TABLE, "t"))
    name, h = fresh(BYTES, "name"), z3.Int("h")
    t0 = unflatten(TOPIC_TABLE, leaves)
    given = run(lookup_case, lambda: [t0, name, h])
    with over(impl, {"name_hash": Given(h), "ht_lookup": ByContract(impl.ht_lookup, INT, PROBE)}):
        out = run(lookup_impl_result, lambda: [impl, unflatten(TOPIC_TABLE, leaves), name])
    view = run(registry_view, lambda: [t0])
    want = run(spec_topic.lookup, lambda: [view.result, name])
    unchanged = [same_leaf(a, b) for a, b in zip(leaves, flatten(TOPIC_TABLE, out.args[1]), strict=True)]
    conclusion = z3.And(*out.obligations, equal_results(tuple(out.result), tuple(want.result)), *unchanged)
    hyps = [given.result, *given.assumptions, wellformed(TOPIC_TABLE, t0), wellformed(BYTES, name),
            *out.assumptions, *view.assumptions, *want.assumptions]
    inputs = {"t": Shown(TOPIC_TABLE, t0, table_size(t0)), "name": Shown(BYTES, name), "h": Shown(INT, h)}
    return Goal(hyps, conclusion, inputs, replay=replay_lookup, replay_module=impl.__name__,
                sizes=[t0.ntopic, t0.name_max], admissible=admissible, example=example())


def lookup_case(t: TopicTable, name: bytes, h: int) -> bool:
    """The table has the registry's invariant and h is name's hash as far as it can tell:
    what `hashes_ok` gives for h = name_hash(name)."""
    return registry_ok(t) and registry.hashed_as(t, name, h)


def admissible(values: dict[str, Any]) -> bool:
    return lookup_case(values["t"], values["name"], values["h"])


def example() -> dict[str, Any]:
    """The boot table (the reserved topics), looked up by a reserved topic's name."""
    t = impl_topic.topic_init(Config())
    name = bytes(t.t_name[0][:t.t_name_len[0]])
    return {"t": t, "name": name, "h": name_hash(name)}


def replay_lookup(impl: types.ModuleType | None, t: TopicTable, name: bytes, h: int) -> None:
    """The case natively: the name's hash is the case's (h, which its table's cached hashes
    agree with), the probe the impl's own."""
    module = impl or impl_topic
    if not lookup_case(t, name, h):
        raise InvalidCase("the table is not a registry, or its hashes are not the case's")
    before = copy.deepcopy(t)
    want = spec_topic.lookup(registry_view(before), name)
    with over(module, {"name_hash": Given(h)}):
        got = module.topic_lookup(t, name)
    assert got == want, f"lookup answered {got}, the spec {want}"
    assert t == before, "lookup changed the table"
