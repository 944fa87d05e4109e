"""Containers as mCertikOS's MContainer holds them, with MATIntro's allocation table.

Per pid (struct of arrays): used, quota, usage, parent; and the container's page list,
`pages[pid][0 .. held[pid])`, the frames it holds, so that it can free them when it dies.
Per physical frame (AT[]): allocated, owner, and the frame's index in its owner's page
list (for O(1) removal: the last entry takes the freed one's place). Allocation is
next-fit from `at_hint`. Revoke, which mCertikOS left commented out, frees a dying
container's frames and gives its quota back to its parent.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class ContainerTable:
    nproc: int
    max_children: int
    nframes: int
    used: list[bool]
    quota: list[int]
    usage: list[int]
    parent: list[int]
    held: list[int]
    pages: list[list[int]]
    at_used: list[bool]
    at_owner: list[int]
    at_index: list[int]
    at_hint: int


def container_init(cfg: Config, nframes: int) -> ContainerTable:
    n = cfg.NUM_PROC
    t = ContainerTable(
        nproc=n, max_children=cfg.MAX_CHILDREN, nframes=nframes,
        used=[False] * n, quota=[0] * n, usage=[0] * n, parent=[0] * n, held=[0] * n,
        pages=[[0] * nframes for _ in range(n)],
        at_used=[False] * nframes, at_owner=[0] * nframes, at_index=[0] * nframes, at_hint=0,
    )
    t.used[0] = True
    t.quota[0] = cfg.ROOT_QUOTA
    return t


def alive(t: ContainerTable, pid: int) -> bool:
    return 0 <= pid and pid < t.nproc and t.used[pid]


def child_of(t: ContainerTable, pid: int, slot: int) -> int:
    return pid * t.max_children + 1 + slot


def container_can_consume(t: ContainerTable, pid: int, n: int) -> bool:
    return 0 <= n and t.usage[pid] + n <= t.quota[pid]


def split_into(t: ContainerTable, pid: int, slot: int, quota: int) -> tuple[int, int]:
    child = child_of(t, pid, slot)
    if child >= t.nproc:
        return E_INVAL_CHILD_ID, 0
    if not container_can_consume(t, pid, quota):
        return E_EXCEEDS_QUOTA, 0
    t.used[child] = True
    t.quota[child] = quota
    t.usage[child] = 0
    t.parent[child] = pid
    t.held[child] = 0
    t.usage[pid] = t.usage[pid] + quota
    return E_SUCC, child


def container_split(t: ContainerTable, pid: int, quota: int) -> tuple[int, int]:
    """(errno, child): a child container in pid's lowest free slot, with `quota` pages."""
    if not alive(t, pid):
        return E_INVAL_PID, 0
    for slot in range(t.max_children):
        if not alive(t, child_of(t, pid, slot)):
            return split_into(t, pid, slot, quota)
    return E_MAX_CHILDREN, 0


def take_frame(t: ContainerTable, pid: int, f: int) -> tuple[int, int]:
    t.at_used[f] = True
    t.at_owner[f] = pid
    t.at_index[f] = t.held[pid]
    t.pages[pid][t.held[pid]] = f
    t.held[pid] = t.held[pid] + 1
    t.usage[pid] = t.usage[pid] + 1
    t.at_hint = 0 if f + 1 == t.nframes else f + 1
    return E_SUCC, f


def container_alloc(t: ContainerTable, pid: int) -> tuple[int, int]:
    """(errno, frame): the next free frame from the hint on, charged to pid."""
    if not alive(t, pid):
        return E_INVAL_PID, 0
    if not container_can_consume(t, pid, 1):
        return E_EXCEEDS_QUOTA, 0
    for f in range(t.at_hint, t.nframes):
        if not t.at_used[f]:
            return take_frame(t, pid, f)
    for f in range(0, t.at_hint):
        if not t.at_used[f]:
            return take_frame(t, pid, f)
    return E_MEM, 0


def container_free(t: ContainerTable, pid: int, f: int) -> int:
    """Give back frame f, which pid must own."""
    if not alive(t, pid):
        return E_INVAL_PID
    if f < 0 or f >= t.nframes or not t.at_used[f] or t.at_owner[f] != pid:
        return E_INVAL_ARG
    i = t.at_index[f]
    last = t.pages[pid][t.held[pid] - 1]
    t.pages[pid][i] = last
    t.at_index[last] = i
    t.held[pid] = t.held[pid] - 1
    t.at_used[f] = False
    t.usage[pid] = t.usage[pid] - 1
    return E_SUCC


def has_live_child(t: ContainerTable, pid: int) -> bool:
    for slot in range(t.max_children):
        if alive(t, child_of(t, pid, slot)):
            return True
    return False


def container_revoke(t: ContainerTable, pid: int) -> int:
    """End a childless container: free its frames, give its quota back to its parent."""
    if pid == 0:
        return E_PERM
    if not alive(t, pid):
        return E_INVAL_PID
    if has_live_child(t, pid):
        return E_PERM
    for f in range(t.nframes):
        t.at_used[f] = t.at_used[f] and t.at_owner[f] != pid
    p = t.parent[pid]
    t.usage[p] = t.usage[p] - t.quota[pid]
    t.used[pid] = False
    t.held[pid] = 0
    return E_SUCC
