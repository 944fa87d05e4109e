"""The container layer: quotas of pages in a tree of containers, and who owns each frame.

As in mCertikOS's MContainer, every process has a container: a quota of pages it may use
and the pages it uses now. Spawning moves quota from the parent to a new child (the
parent's usage grows by it); a page allocated to a process counts against its quota. When
a container is revoked, its frames are freed and its quota goes back to its parent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from spec.abi import (
    E_EXCEEDS_QUOTA,
    E_INVAL_ARG,
    E_INVAL_CHILD_ID,
    E_INVAL_PID,
    E_MAX_CHILDREN,
    E_MEM,
    E_PERM,
    E_SUCC,
    Config,
)
from spec.map import Map


@dataclass(frozen=True)
class Container:
    quota: int
    usage: int
    parent: int


@dataclass(frozen=True)
class Containers:
    """The live containers by pid, and the owner of every allocated physical frame."""

    nproc: int
    max_children: int
    nframes: int
    live: Map[int, Container]
    owner: Map[int, int]


ROOT = 0


def boot(cfg: Config, nframes: int) -> Containers:
    """Only the root container, with the root quota; every frame free."""
    root = Container(quota=cfg.ROOT_QUOTA, usage=0, parent=ROOT)
    return Containers(nproc=cfg.NUM_PROC, max_children=cfg.MAX_CHILDREN, nframes=nframes,
                      live=Map({ROOT: root}), owner=Map())


def can_consume(cs: Containers, pid: int, n: int) -> bool:
    """pid may take n more pages."""
    c = cs.live[pid]
    return 0 <= n and c.usage + n <= c.quota


def child_pid(cs: Containers, parent: int, slot: int) -> int:
    return parent * cs.max_children + 1 + slot


def lowest_free_slot(cs: Containers, parent: int) -> int:
    """The lowest child slot whose pid is not alive, or max_children when all are."""
    for slot in range(cs.max_children):
        if child_pid(cs, parent, slot) not in cs.live:
            return slot
    return cs.max_children


def has_children(cs: Containers, pid: int) -> bool:
    return any(child_pid(cs, pid, slot) in cs.live for slot in range(cs.max_children))


def split(cs: Containers, parent: int, quota: int) -> tuple[int, int, Containers]:
    """(errno, child, containers): a child in the lowest free slot, given `quota` of the
    parent's pages (container_split)."""
    if parent not in cs.live:
        return E_INVAL_PID, 0, cs
    slot = lowest_free_slot(cs, parent)
    if slot == cs.max_children:
        return E_MAX_CHILDREN, 0, cs
    child = child_pid(cs, parent, slot)
    if child >= cs.nproc:
        return E_INVAL_CHILD_ID, 0, cs
    if not can_consume(cs, parent, quota):
        return E_EXCEEDS_QUOTA, 0, cs
    p = cs.live[parent]
    live = cs.live.set(parent, replace(p, usage=p.usage + quota))
    return E_SUCC, child, replace(cs, live=live.set(child, Container(quota=quota, usage=0, parent=parent)))


def is_free(cs: Containers, frame: int) -> bool:
    return 0 <= frame and frame < cs.nframes and frame not in cs.owner


def has_free_frame(cs: Containers, frame: int) -> bool:
    """Some frame is free: `frame`, the implementation's choice (which is free whenever one
    is), or another."""
    return is_free(cs, frame) or any(f not in cs.owner for f in range(cs.nframes))


def alloc(cs: Containers, pid: int, frame: int) -> tuple[int, Containers]:
    """A page for pid: `frame` is the implementation's choice, which must be free."""
    if pid not in cs.live:
        return E_INVAL_PID, cs
    if not can_consume(cs, pid, 1):
        return E_EXCEEDS_QUOTA, cs
    if not has_free_frame(cs, frame):
        return E_MEM, cs
    c = cs.live[pid]
    return E_SUCC, replace(cs, live=cs.live.set(pid, replace(c, usage=c.usage + 1)),
                           owner=cs.owner.set(frame, pid))


def free(cs: Containers, pid: int, frame: int) -> tuple[int, Containers]:
    """Give back a frame pid owns."""
    if pid not in cs.live:
        return E_INVAL_PID, cs
    if frame not in cs.owner or cs.owner[frame] != pid:
        return E_INVAL_ARG, cs
    c = cs.live[pid]
    return E_SUCC, replace(cs, live=cs.live.set(pid, replace(c, usage=c.usage - 1)),
                           owner=cs.owner.remove(frame))


def alloc_all(cs: Containers, pid: int, frames: tuple[int, ...]) -> Containers:
    """pid takes `frames`, distinct free frames (the implementation's choice): what `alloc`
    of each of them, one after the other, leaves where each succeeds (its usage grows by
    their number, each is pid's)."""
    c = cs.live[pid]
    taken = Map({frames[i]: pid for i in range(len(frames))})
    return replace(cs, live=cs.live.set(pid, replace(c, usage=c.usage + len(frames))),
                   owner=cs.owner.update(taken))


def free_all(cs: Containers, pid: int, frames: tuple[int, ...]) -> Containers:
    """pid gives back `frames`, distinct frames it owns: what `free` of each of them, one
    after the other, leaves (its usage falls by their number, none of them has an owner)."""
    c = cs.live[pid]
    return replace(cs, live=cs.live.set(pid, replace(c, usage=c.usage - len(frames))),
                   owner=Map({f: o for f, o in cs.owner.items() if f not in frames}))


def free_each(cs: Containers, frames: Map[int, tuple[int, ...]]) -> Containers:
    """Every pid p of `frames` gives back frames[p], distinct frames it owns: `free_all` of
    each, in any order."""
    live = Map({p: replace(c, usage=c.usage - len(frames[p])) if p in frames else c
                for p, c in cs.live.items()})
    owner = Map({f: o for f, o in cs.owner.items() if not (o in frames and f in frames[o])})
    return replace(cs, live=live, owner=owner)


def revoke(cs: Containers, pid: int) -> tuple[int, Containers]:
    """End a childless container: its frames are freed, its quota returns to its parent."""
    if pid == ROOT:
        return E_PERM, cs
    if pid not in cs.live:
        return E_INVAL_PID, cs
    if has_children(cs, pid):
        return E_PERM, cs
    c = cs.live[pid]
    p = cs.live[c.parent]
    live = cs.live.set(c.parent, replace(p, usage=p.usage - c.quota)).remove(pid)
    owner = Map({f: cs.owner[f] for f in range(cs.nframes) if f in cs.owner and cs.owner[f] != pid})
    return E_SUCC, replace(cs, live=live, owner=owner)
