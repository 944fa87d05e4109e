"""Privilege: the reserved topics are the kernel's.

A reserved topic is never destroyed, and only a privileged publisher reaches it; a name
under "sys." is created only by a privileged process. Each is an obligation that the
operation, in the case the rule is about, answers E_PERM and changes nothing, in the topic
tables nor in the layers below (the message layer's spec, the container table): the rule
holds in every state, whatever the rest of the invariant says.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

import impl.topic as impl_topic
from impl.container import ContainerTable
from impl.topic import T_RESERVED, TopicTable, is_system_name, topic_live
from spec.abi import E_PERM

from ..engine.interp import run
from ..engine.values import BOOL, BYTES, INT, RecT, flatten, fresh, unflatten, wellformed
from ..layer import over, same_leaf
from ..message import INTERFACE as MESSAGE_INTERFACE
from ..message import SpecMailboxes
from ..obligation import Goal, InvalidCase, Shown, obligation
from .registry import TOPIC_TABLE, errno_of, table_size, valid_name

LOWER = RecT(SpecMailboxes)
CONTAINERS = RecT(ContainerTable)


def reserved(t: TopicTable, tid: int) -> bool:
    return topic_live(t, tid) and (t.t_flags[tid] & T_RESERVED) != 0


def destroys_a_reserved_topic(t: TopicTable, pid: int, tid: int) -> bool:
    return reserved(t, tid)


def publishes_unprivileged_on_a_reserved_topic(t: TopicTable, privileged: bool, tid: int,
                                               data: bytes) -> bool:
    return reserved(t, tid) and not privileged


def creates_a_system_name_unprivileged(t: TopicTable, pid: int, privileged: bool, name: bytes) -> bool:
    return valid_name(t, name) and is_system_name(name) and not privileged


@dataclass(frozen=True)
class Rule:
    """The operation, its arguments after the tables, the layers below it takes (message
    queues, containers), and the case in which it must refuse with E_PERM."""

    function: str
    args: tuple[tuple[str, Any], ...]
    lower: tuple[str, ...]
    case: Callable[..., bool]


RULES = {
    "destroy": Rule("topic_destroy", (("pid", INT), ("tid", INT)), ("mq", "c"), destroys_a_reserved_topic),
    "publish": Rule("topic_publish", (("privileged", BOOL), ("tid", INT), ("data", BYTES)), ("mq",),
                    publishes_unprivileged_on_a_reserved_topic),
    "create": Rule("topic_create", (("pid", INT), ("privileged", BOOL), ("name", BYTES)), (),
                   creates_a_system_name_unprivileged),
}
TYPES = {"mq": LOWER, "c": CONTAINERS}


def refused(op: str, impl: types.ModuleType = impl_topic) -> Goal:
    """In the rule's case, the operation answers E_PERM and changes nothing."""
    rule = RULES[op]
    t_leaves = flatten(TOPIC_TABLE, fresh(TOPIC_TABLE, "t"))
    lower = {name: fresh(TYPES[name], name) for name in rule.lower}
    args = [fresh(ty, name) for name, ty in rule.args]
    t0 = unflatten(TOPIC_TABLE, t_leaves)
    case = run(rule.case, lambda: [t0, *args])
    shapes = [wellformed(TOPIC_TABLE, t0), *[wellformed(TYPES[n], x) for n, x in lower.items()],
              *[wellformed(ty, a) for (_, ty), a in zip(rule.args, args, strict=True)]]
    given = [case.result, *case.assumptions, *shapes]

    def fresh_inputs() -> list[Any]:
        return [unflatten(TOPIC_TABLE, t_leaves), *[unflatten(TYPES[n], flatten(TYPES[n], x))
                                                    for n, x in lower.items()], *args]

    with over(impl, MESSAGE_INTERFACE):
        out = run(getattr(impl, rule.function), fresh_inputs, assume=given)
    before = [*t_leaves, *[leaf for n, x in lower.items() for leaf in flatten(TYPES[n], x)]]
    after = [*flatten(TOPIC_TABLE, out.args[0]),
             *[leaf for n, x in zip(lower, out.args[1:], strict=False) for leaf in flatten(TYPES[n], x)]]
    same = z3.And([same_leaf(a, b) for a, b in zip(before, after, strict=True)])
    conclusion = z3.And(*out.obligations, errno_of(out.result) == E_PERM, same)
    inputs = {"t": Shown(TOPIC_TABLE, t0, table_size(t0)),
              **{n: Shown(TYPES[n], x) for n, x in lower.items()},
              **{n: Shown(ty, a) for (n, ty), a in zip(rule.args, args, strict=True)}}
    return Goal([*given, *out.assumptions], conclusion, inputs, replay=replay_refused,
                replay_module=impl.__name__, replay_extra={"op": op}, sizes=[t0.ntopic, t0.nsub])


for _op in RULES:
    obligation(f"topic.{_op}.privilege")(lambda impl=impl_topic, _op=_op: refused(_op, impl))


def replay_refused(impl: types.ModuleType | None, op: str, t: TopicTable, **kw: Any) -> None:
    module = impl or impl_topic
    rule = RULES[op]
    args = [kw[n] for n, _ in rule.args]
    if not rule.case(t, *args):
        raise InvalidCase("not the case the rule is about")
    lower = [kw[n] for n in rule.lower]
    before = copy.deepcopy([t, *lower])
    with over(module, MESSAGE_INTERFACE):
        result = getattr(module, rule.function)(t, *lower, *args)
    assert errno_of(result) == E_PERM, f"{op} answered {result!r}, not E_PERM"
    assert [t, *lower] == before, f"{op} changed the state"
