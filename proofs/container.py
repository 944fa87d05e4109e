"""The container layer's proof: impl.container refines spec.container, keeps its
invariant (quotas, the tree, page ownership) and changes nothing on an error.

The number of processes, the number of frames, quotas and usages are symbolic; the
arity of the tree, MAX_CHILDREN, is the ABI's 3: a child's pid is parent * 3 + 1 + slot,
and a container's lent quota is the sum over its 3 child slots.
"""

from __future__ import annotations

import copy
import types
from dataclasses import dataclass
from typing import Any

import z3

import impl.container as impl_container
import spec.container as spec_container
from impl.container import ContainerTable, alive, child_of
from spec.abi import DEFAULT, E_SUCC
from spec.container import Container, Containers
from spec.map import Map

from .engine.interp import run
from .engine.values import INT, RecT, equal, fresh_name
from .harness import Layer, Operation, Setting, as_tuple, register
from .obligation import Goal, InvalidCase, Shown, obligation

TABLE = RecT(ContainerTable)
CONTAINERS = RecT(Containers)
MAX_CHILDREN = DEFAULT.MAX_CHILDREN


# -- abstraction and invariant (executable) --------------------------------------------------


def abstract(t: ContainerTable) -> Containers:
    """The live containers and the owner of every allocated frame."""
    live = Map({p: Container(quota=t.quota[p], usage=t.usage[p], parent=t.parent[p])
                for p in range(t.nproc) if t.used[p]})
    owner = Map({f: t.at_owner[f] for f in range(t.nframes) if t.at_used[f]})
    return Containers(nproc=t.nproc, max_children=t.max_children, nframes=t.nframes, live=live, owner=owner)


def lent(t: ContainerTable, p: int) -> int:
    """The quota p has given to its live children."""
    return sum(t.quota[child_of(t, p, s)] if alive(t, child_of(t, p, s)) else 0
               for s in range(MAX_CHILDREN))


def in_tree(t: ContainerTable, p: int) -> bool:
    """p is the root, or a live parent's child: p = parent * max_children + 1 + slot."""
    q = t.parent[p]
    slot = p - 1 - q * MAX_CHILDREN
    return p == 0 or (alive(t, q) and 0 <= slot and slot < MAX_CHILDREN)


def page_listed(t: ContainerTable, p: int, i: int) -> bool:
    f = t.pages[p][i]
    return 0 <= f and f < t.nframes and t.at_used[f] and t.at_owner[f] == p and t.at_index[f] == i


def container_ok(t: ContainerTable, p: int) -> bool:
    """0 <= usage <= quota; usage is the frames held plus the quota lent to children;
    the page list holds exactly the frames p owns."""
    return (0 <= t.usage[p] and t.usage[p] <= t.quota[p] and 0 <= t.held[p]
            and t.usage[p] == t.held[p] + lent(t, p) and in_tree(t, p)
            and all(page_listed(t, p, i) for i in range(t.held[p])))


def frame_ok(t: ContainerTable, f: int) -> bool:
    """An allocated frame's owner is alive and lists it at the frame's index."""
    owner = t.at_owner[f]
    i = t.at_index[f]
    return alive(t, owner) and 0 <= i and i < t.held[owner] and t.pages[owner][i] == f


def pid_ok(t: ContainerTable, p: int) -> bool:
    """The invariant at pid p."""
    return not alive(t, p) or container_ok(t, p)


def at_ok(t: ContainerTable, f: int) -> bool:
    """The invariant at frame f."""
    return not (0 <= f and f < t.nframes and t.at_used[f]) or frame_ok(t, f)


def globals_ok(t: ContainerTable) -> bool:
    """The sizes, the root, and the next-fit hint."""
    return (1 <= t.nproc and 0 <= t.nframes and t.max_children == MAX_CHILDREN
            and t.used[0] and t.parent[0] == 0
            and 0 <= t.at_hint and (t.at_hint < t.nframes or t.at_hint == 0))


def table_ok(t: ContainerTable) -> bool:
    return (globals_ok(t) and all(pid_ok(t, p) for p in range(t.nproc))
            and all(at_ok(t, f) for f in range(t.nframes)))


# -- the operations ----------------------------------------------------------------------------


def _errno(result: Any) -> Any:
    return result[0] if isinstance(result, tuple) else result


def first(result: Any) -> tuple[Any, ...]:
    """The errno of an (errno, value) result: the value is the impl's choice, not a result."""
    return (result[0],)


def frame_chosen(result: Any) -> list[Any]:
    """The frame an allocation returned: the spec takes the impl's choice."""
    return [result[1]]


OPERATIONS: dict[str, Operation] = {
    "split": Operation((("pid", INT), ("quota", INT)), spec_container.split, as_tuple),
    "alloc": Operation((("pid", INT),), spec_container.alloc, first, frame_chosen),
    "free": Operation((("pid", INT), ("frame", INT)), spec_container.free),
    "revoke": Operation((("pid", INT),), spec_container.revoke),
}


def around(s: Setting) -> list[z3.BoolRef]:
    """The invariant's global part before, and its instance at the pid operated on: all that
    refinement and unchanged_on_error need of it (implied by it: the goal covers every
    state that has it)."""
    return [s.at(globals_ok, s.pre()), s.at(pid_ok, s.pre(), s.args[0])]


def around_ok(t: ContainerTable, args: list[Any]) -> bool:
    """`around`, natively: what the replays of those goals check of their case."""
    return globals_ok(t) and pid_ok(t, args[0])


def _table_size(t: ContainerTable) -> Any:
    """Per-frame arrays and page lists have nframes entries, per-pid arrays nproc."""
    per_frame = [t.at_used.leaves[0], t.at_owner.leaves[0], t.at_index.leaves[0]]

    def size(arr: Any, model: z3.ModelRef) -> int:
        frames = arr.parent is not None or any(arr.leaves[0].eq(x) for x in per_frame)
        n = model.eval(t.nframes if frames else t.nproc, model_completion=True).as_long()
        return max(n, 0)

    return size


def admissible(values: dict[str, Any]) -> bool:
    return bool(table_ok(values["table"]))


def _prepare(t: ContainerTable) -> None:
    t.max_children = MAX_CHILDREN


def booted() -> ContainerTable:
    """The table at boot, with the children a container may have here."""
    t = impl_container.container_init(DEFAULT, 8)
    _prepare(t)
    return t


def _sizes(s: Setting) -> list[Any]:
    return [s.pre().nproc, s.pre().nframes, *s.args]


def allocated_free_frame(s: Setting, before: Containers) -> list[z3.BoolRef]:
    """A frame the impl allocates was free."""
    if s.op != "alloc":
        return []
    errno, frame = s.out.result
    owned = z3.Select(before.owner.present, frame)
    return [z3.Implies(errno == E_SUCC, z3.And(0 <= frame, frame < s.pre().nframes, z3.Not(owned)))]


LAYER = Layer(name="container", impl=impl_container, prefix="container_", state=TABLE,
              spec_state=CONTAINERS, abstract=abstract, invariant=table_ok, operations=OPERATIONS,
              assumed=around, assumed_natively=around_ok, prepare=_prepare, size=_table_size,
              sizes=_sizes, admissible=admissible, claims=allocated_free_frame,
              example=booted)


def parent_at(t: ContainerTable, p: int) -> int:
    """p's parent if p is alive; p itself otherwise (a dead pid's parent field means nothing)."""
    return t.parent[p] if alive(t, p) else p


def last_page(t: ContainerTable, p: int) -> int:
    """The frame at the end of a live p's page list (the one free moves); -1 if none."""
    return t.pages[p][t.held[p] - 1] if alive(t, p) and 0 < t.held[p] and t.held[p] <= t.nframes else -1


def looked_at(t: ContainerTable, pid: int, freed: int, p: int, f: int) -> tuple[list[int], list[int]]:
    """The pids and frames at which `preserves` assumes the invariant: p and f, and those an
    operation on pid reads (the parents of both, the children of the three, pid's last page,
    and the frame it frees, or -1)."""
    parent = parent_at(t, pid)
    pids = [p, pid, parent, parent_at(t, p)] + children(t, p) + children(t, pid) + children(t, parent)
    frames = [f, last_page(t, pid), freed]
    return pids, frames


def children(t: ContainerTable, p: int) -> list[int]:
    """The pids of p's MAX_CHILDREN (3) child slots, as a list the engine writes out."""
    return [child_of(t, p, 0), child_of(t, p, 1), child_of(t, p, 2)]


def _freed(op: str, args: list[Any]) -> Any:
    return args[1] if op == "free" else -1


def invariant_at(t: ContainerTable, pids: list[int], frames: list[int]) -> bool:
    """The invariant's global part, and its instances at these pids and frames."""
    return globals_ok(t) and all(pid_ok(t, q) for q in pids) and all(at_ok(t, g) for g in frames)


def preserves(layer: Layer, op: str, impl: types.ModuleType | None = None, extra: Any = None) -> Goal:
    """The invariant holds afterwards: its global part, and its part at a pid p and a frame
    f that are fresh constants, hence at every pid and frame.

    The hypotheses are the invariant's instances at the pids and frames the operation
    reads (`looked_at`; each implied by it, so the goal covers every state that has it):
    given those alone, Z3 answers at once, while the quantified invariant sends it
    searching for instances it does not need."""
    s = Setting(layer, op, impl)
    t = s.pre()
    p, f = z3.Int(fresh_name("p")), z3.Int(fresh_name("f"))
    pid = s.args[0]
    pids, frames = s.at(looked_at, t, pid, _freed(op, s.args), p, f)
    given = [s.at(invariant_at, t, pids, frames)]
    if op == "alloc":
        given.append(s.at(at_ok, t, s.out.result[1]))
    conclusion = s.at(invariant_at, s.post(), [p], [f])
    # p's slot if pid were its parent; the two page-list entries free reads
    hints = [p - 1 - pid * MAX_CHILDREN, t.held.get(pid) - 1]
    if op == "free":
        hints.append(t.at_index.get(s.args[1]))
    return s.goal(given, conclusion, replay_preserves, hints, points={"at_pid": p, "at_frame": f})


KINDS = register(LAYER, {"invariant": preserves})
refines, unchanged_on_error = KINDS["refines"], KINDS["unchanged_on_error"]


@obligation("container.init.refines")
def init_refines(impl: types.ModuleType = impl_container) -> Goal:
    """Boot: only the root container, with the root quota, and every frame free."""
    nproc, nframes, root_quota = z3.Ints("NUM_PROC nframes ROOT_QUOTA")
    cfg = DEFAULT.__class__(NUM_PROC=nproc, ROOT_QUOTA=root_quota)
    t = run(impl.container_init, lambda: [cfg, nframes])
    got = run(abstract, lambda: [t.result])
    want = run(spec_container.boot, lambda: [cfg, nframes])
    ok = run(table_ok, lambda: [t.result])
    hyps = [nproc >= 1, nframes >= 1, root_quota >= 0, *t.assumptions, *got.assumptions, *ok.assumptions]
    return Goal(hyps, z3.And(equal(CONTAINERS, got.result, want.result), ok.result),
                {"NUM_PROC": Shown(INT, nproc), "nframes": Shown(INT, nframes)})


# -- replays ---------------------------------------------------------------------------------


def replay_preserves(impl: types.ModuleType | None, layer: str, op: str, table: ContainerTable, at_pid: int,
                     at_frame: int, **kw: Any) -> None:
    """The invariant at the case's p and f afterwards, given it where the goal assumes it."""
    args = [kw[n] for n in OPERATIONS[op].names]
    pids, frames = looked_at(table, args[0], _freed(op, args), at_pid, at_frame)
    if not invariant_at(table, pids, frames):
        raise InvalidCase("the table breaks the invariant where the obligation assumes it")
    before = copy.deepcopy(table)
    result = LAYER.impl_function(impl, op)(table, *args)
    if op == "alloc" and not at_ok(before, result[1]):
        raise InvalidCase("the frame alloc chose breaks the invariant the obligation assumes")
    assert invariant_at(table, [at_pid], [at_frame])


# -- the layer's interface over its spec, for the layers above ---------------------------------


@dataclass
class SpecContainers:
    """The container layer as the layer above holds it, abstractly: the spec's state, and
    the frames an allocation will return, in order (the spec leaves the choice open)."""

    cs: Containers
    choices: list[int]
    taken: int


def spec_alive(lower: SpecContainers, pid: int) -> bool:
    return pid in lower.cs.live


def spec_can_consume(lower: SpecContainers, pid: int, n: int) -> bool:
    return spec_container.can_consume(lower.cs, pid, n)


def spec_alloc(lower: SpecContainers, pid: int) -> tuple[int, int]:
    frame = lower.choices[lower.taken]
    err, cs = spec_container.alloc(lower.cs, pid, frame)
    if err != E_SUCC:
        return err, 0
    lower.cs = cs
    lower.taken = lower.taken + 1
    return E_SUCC, frame


def spec_free(lower: SpecContainers, pid: int, frame: int) -> int:
    err, cs = spec_container.free(lower.cs, pid, frame)
    lower.cs = cs
    return err


def spec_revoke(lower: SpecContainers, pid: int) -> int:
    err, cs = spec_container.revoke(lower.cs, pid)
    lower.cs = cs
    return err


INTERFACE = {"alive": spec_alive, "container_can_consume": spec_can_consume, "container_alloc": spec_alloc,
             "container_free": spec_free, "container_revoke": spec_revoke}
