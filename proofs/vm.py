"""The VM layer's proof: impl.vm, run over the container layer's spec (through that layer's
interface, `proofs.container.INTERFACE`) and the x86 layer's physical memory, refines
spec.vm, keeps its invariant, isolates processes and changes nothing on an error.

The abstraction reads every process's page tables out of physical memory. The invariant
says what the tables may hold: the kernel region as booted, user entries in the rights
this layer writes, and, per frame a process owns, a back pointer to the one entry that
maps it. The back pointers make isolation first-order: a frame is one process's, at one
virtual page, or one page table, never both.
"""

from __future__ import annotations

import copy
import dataclasses
import types
from collections.abc import Callable, Iterable
from typing import Any

import z3

import impl.vm as impl_vm
import spec.vm as spec_vm
from impl.container import ContainerTable, container_init
from impl.vm import (
    PT_PERM_PTU,
    PTPool,
    boot_byte,
    frame_base,
    get_pdir_entry,
    get_ptbl_entry,
    get_ptbl_entry_by_va,
    is_user_pdx,
    kern_ptbl,
    pdir_base,
    pdir_entry_addr,
    ptbl_entry_addr,
    user_pa,
)
from impl.x86 import PDX, PTE_ADDR, PTX, phys_load32
from spec.abi import E_SUCC, FIRST_FRAME, MAX_PROC, PTE_A, PTE_D, PTE_P, PTE_U, PTE_W, Config
from spec.container import Containers, can_consume, child_pid
from spec.container import alloc as container_alloc
from spec.container import free as container_free
from spec.container import revoke as container_revoke
from spec.map import Map
from spec.vm import PAGE_SIZE, PID_BITS, PID_MASK, Vm, pages_needed, place, table_of
from spec.x86 import Mapping, PhysMem, Word, u8, u32

from .container import INTERFACE, SpecContainers
from .container import abstract as abstract_containers
from .engine.interp import run
from .engine.values import BOOL, BVT, BYTES, INT, ArrT, RecT, Ty, equal, flatten, fresh, fresh_name, unflatten
from .layer import equal_results, over, same_leaf
from .obligation import Goal, InvalidCase, Shown, obligation

# -- abstraction and invariant (executable) --------------------------------------------------


def pid_of(k: Word) -> Word:
    return k & PID_MASK


def va_of(k: Word) -> Word:
    return k >> PID_BITS << 12


def page_keys(pt: PTPool) -> tuple[Word, Word]:
    """The keys of every page the user page tables describe: the user range, rounded out to
    whole page tables."""
    return place(0, PDX(pt.userlo) << 10), place(0, (PDX(pt.userhi - 1) + 1) << 10)


def table_keys(pt: PTPool) -> tuple[Word, Word]:
    """The keys of every user page table: one per page-directory entry of the user range."""
    return PDX(pt.userlo) << PID_BITS, (PDX(pt.userhi - 1) + 1) << PID_BITS


def user_tables(pt: PTPool) -> Word:
    """How many page tables the user range spans."""
    lo, hi = table_keys(pt)
    return (hi - lo) >> PID_BITS


def pte_at(pt: PTPool, k: Word) -> Word:
    return get_ptbl_entry_by_va(pt, pid_of(k), va_of(k))


def page_pde(pt: PTPool, k: Word) -> Word:
    """The PDE above the page of key k."""
    return get_pdir_entry(pt, pid_of(k), PDX(va_of(k)))


def page_entry_addr(pt: PTPool, k: Word) -> Word:
    """The physical address of the PTE of key k, where its page table is present."""
    return ptbl_entry_addr(pt, pid_of(k), PDX(va_of(k)), PTX(va_of(k)))


def pde_at(pt: PTPool, t: Word) -> Word:
    return get_pdir_entry(pt, pid_of(t), t >> PID_BITS)


def mapping_of(pte: Word) -> Mapping:
    return Mapping(frame=pte >> 12, writable=pte & PTE_W != 0, user=True)


def abstract(cs: Containers, pt: PTPool) -> Vm:
    """Every live process's present user PTEs, and its present user PDEs."""
    lo, hi = page_keys(pt)
    tlo, thi = table_keys(pt)
    pages = Map({k: mapping_of(pte_at(pt, k)) for k in range(lo, hi)
                 if int(pid_of(k)) in cs.live and pte_at(pt, k) & PTE_P != 0})
    tables = Map({t: pde_at(pt, t) >> 12 for t in range(tlo, thi)
                  if int(pid_of(t)) in cs.live and pde_at(pt, t) & PTE_P != 0})
    return Vm(userlo=pt.userlo, userhi=pt.userhi, containers=cs, pages=pages, tables=tables)


def sizes_ok(pt: PTPool) -> bool:
    """Memory is the frames, the page directories and the kernel's page table; the user
    range is whole pages."""
    return (1 <= pt.nproc and pt.nproc <= MAX_PROC and pt.nframes < (1 << 20) - FIRST_FRAME
            and len(pt.mem) == (pt.nframes + FIRST_FRAME) << 12
            and pt.userlo & 0xFFF == 0 and pt.userhi & 0xFFF == 0
            and pt.userlo != 0 and pt.userlo < pt.userhi)


def live_ok(cs: Containers, pt: PTPool, p: int) -> bool:
    """A live pid is one of the pool's."""
    return p not in cs.live or (0 <= p and p < int(pt.nproc))


def parent_ok(cs: Containers, p: int) -> bool:
    """A live container's parent is live (the container layer's tree, as its spec sees it)."""
    return p not in cs.live or p == 0 or cs.live[p].parent in cs.live


def shape_ok(cs: Containers, p: int) -> bool:
    """A live container but the root sits in one of its parent's child slots
    (`spec.container.child_pid`): the tree split builds, which revoke reads to know a
    container has no children."""
    if p not in cs.live or p == 0:
        return True
    parent = cs.live[p].parent
    return 0 <= parent and child_pid(cs, parent, 0) <= p and p < child_pid(cs, parent, cs.max_children)


def counts_ok(cs: Containers, pt: PTPool) -> bool:
    """The pool's sizes, and the containers count its pids and frames."""
    return sizes_ok(pt) and cs.nproc == int(pt.nproc) and cs.nframes == int(pt.nframes)


def layout_ok(cs: Containers, pt: PTPool) -> bool:
    """The sizes, and the containers' pids and frames are in the pool's range."""
    return (counts_ok(cs, pt)
            and all(live_ok(cs, pt, p) and parent_ok(cs, p) and shape_ok(cs, p) for p in cs.live)
            and all(owned_ok(cs, pt, f) for f in cs.owner))


def accessed_bit(a: Word) -> int:
    """The accessed bit, in the byte at a of an entry that holds it."""
    return u8(PTE_A) if a & 3 == 0 else u8(0)


def boot_byte_ok(pt: PTPool, a: Word) -> bool:
    return pt.mem[a] | accessed_bit(a) == boot_byte(pt, a) | accessed_bit(a)


def kernel_ok(pt: PTPool) -> bool:
    """The kernel's page table and every process's kernel region are as booted, but for the
    accessed bits the MMU sets in a kernel PDE when a user access reads it."""
    return (all(boot_byte_ok(pt, a) for a in range(u32(0), pt.nproc << 12)
                if not is_user_pdx(pt, (a >> 2) & 0x3FF))
            and all(boot_byte_ok(pt, a) for a in range(kern_ptbl(), kern_ptbl() + PAGE_SIZE)))


def user_pte_ok(pte: Word) -> bool:
    """Present and user, writable or not; accessed and dirty as the MMU left them."""
    return pte & 0xFFF & ~u32(PTE_W | PTE_A | PTE_D) == PTE_P | PTE_U


def page_ok(cs: Containers, pt: PTPool, k: Word) -> bool:
    """A user PTE is absent, or maps a frame its process owns, in the user range, and the
    frame's back pointer names this page."""
    pid = pid_of(k)
    pte = pte_at(pt, k)
    f = int(pte >> 12) - FIRST_FRAME
    return pid >= pt.nproc or pte == 0 or (
        user_pte_ok(pte) and pt.userlo <= va_of(k) and va_of(k) < pt.userhi
        and FIRST_FRAME <= pte >> 12 and pte >> 12 < pt.nframes + FIRST_FRAME
        and f in cs.owner and cs.owner[f] == int(pid)
        and not pt.is_ptbl[f] and pt.back_va[f] == va_of(k))


def table_ok(cs: Containers, pt: PTPool, t: Word) -> bool:
    """The invariant at table key t: `table_entry_ok` at its pid and directory index."""
    return table_entry_ok(cs, pt, pid_of(t), t >> PID_BITS)


def table_entry_ok(cs: Containers, pt: PTPool, pid: Word, pdx: Word) -> bool:
    """A user PDE is absent, or names a page table its live process owns, whose back
    pointer names this entry."""
    pde = get_pdir_entry(pt, pid, pdx)
    f = int(pde >> 12) - FIRST_FRAME
    return pid >= pt.nproc or pde == 0 or (
        int(pid) in cs.live and pde & 0xFFF | PTE_A == PT_PERM_PTU | PTE_A
        and FIRST_FRAME <= pde >> 12 and pde >> 12 < pt.nframes + FIRST_FRAME
        and f in cs.owner and cs.owner[f] == int(pid)
        and pt.is_ptbl[f] and pt.back_va[f] == pdx << 22)


def frame_ok(cs: Containers, pt: PTPool, f: int) -> bool:
    """A frame a process owns is the page table or the user page its back pointer names."""
    pid = u32(cs.owner[f])
    va = pt.back_va[f]
    if pt.is_ptbl[f]:
        pde = get_pdir_entry(pt, pid, PDX(va))
        return (va & 0x3FFFFF == 0 and is_user_pdx(pt, PDX(va))
                and pde & PTE_P != 0 and int(pde >> 12) == FIRST_FRAME + f)
    pte = get_ptbl_entry_by_va(pt, pid, va)
    return (va & 0xFFF == 0 and pt.userlo <= va and va < pt.userhi
            and pte & PTE_P != 0 and int(pte >> 12) == FIRST_FRAME + f)


def key_roundtrip(pid: Word, va: Word) -> bool:
    """A key names its process and page back (arithmetic, true of every pid < 2**PID_BITS)."""
    k = place(pid, va >> 12)
    t = table_of(pid, va >> 12)
    return pid > PID_MASK or (pid_of(k) == pid and va_of(k) == va & ~u32(0xFFF)
                              and pid_of(t) == pid and t >> PID_BITS == PDX(va))


def in_keys(pt: PTPool, k: Word) -> bool:
    lo, hi = page_keys(pt)
    return lo <= k and k < hi


def in_table_keys(pt: PTPool, t: Word) -> bool:
    lo, hi = table_keys(pt)
    return lo <= t and t < hi


def pid_ok(cs: Containers, pt: PTPool, pid: Word) -> bool:
    """A live pid is one of the pool's (`live_ok` at a pid held as a word)."""
    return pid < pt.nproc or int(pid) not in cs.live


def key_ok(cs: Containers, pt: PTPool, k: Word) -> bool:
    """The invariant at the entries of one page key: its PTE and its PDE."""
    return not in_keys(pt, k) or (page_ok(cs, pt, k) and table_entry_ok(cs, pt, pid_of(k), PDX(va_of(k))))


def other_key_ok(cs: Containers, pt: PTPool, k: Word) -> bool:
    """The invariant at a key the operation may not look at: its entries, and its pid
    (a live pid at or beyond nproc would read page directories no one keeps)."""
    return pid_ok(cs, pt, pid_of(k)) and key_ok(cs, pt, k)


def table_key_ok(cs: Containers, pt: PTPool, t: Word) -> bool:
    """The invariant at one table key: its pid is one of the pool's or dead, and its PDE."""
    return pid_ok(cs, pt, pid_of(t)) and (not in_table_keys(pt, t) or table_ok(cs, pt, t))


def touched_ok(cs: Containers, pt: PTPool, pid: Word, va: Word, n: Word) -> bool:
    """The invariant where an operation on [va, va + n) looks: pid's liveness, and the
    entries of the range's first and last page."""
    last = va + n - 1
    return (live_ok(cs, pt, int(pid)) and key_roundtrip(pid, va) and key_roundtrip(pid, last)
            and key_ok(cs, pt, place(pid, va >> 12)) and key_ok(cs, pt, place(pid, last >> 12)))


def tree_ok(cs: Containers, pt: PTPool, pid: Word) -> bool:
    """The invariant where revoking pid looks: its parent is live and one of the pool's."""
    p = int(pid)
    return parent_ok(cs, p) and (p not in cs.live or live_ok(cs, pt, cs.live[p].parent))


def vm_ok(cs: Containers, pt: PTPool) -> bool:
    lo, hi = page_keys(pt)
    tlo, thi = table_keys(pt)
    return (layout_ok(cs, pt) and kernel_ok(pt)
            and all(page_ok(cs, pt, k) for k in range(lo, hi))
            and all(table_ok(cs, pt, t) for t in range(tlo, thi))
            and all(frame_ok(cs, pt, f) for f in cs.owner))


def owned_ok(cs: Containers, pt: PTPool, f: int) -> bool:
    """An owned frame is one of the pool's, and its owner is live."""
    return f not in cs.owner or (0 <= f and f < int(pt.nframes) and cs.owner[f] in cs.live)


def kernel_byte(pt: PTPool, a: Word) -> bool:
    """a is a byte the kernel keeps as boot left it: of a page directory's kernel entries,
    or of the kernel's page table."""
    in_directories = a < pt.nproc << 12 and not is_user_pdx(pt, (a >> 2) & 0x3FF)
    in_kernel_table = kern_ptbl() <= a and a < kern_ptbl() + PAGE_SIZE
    return in_directories or in_kernel_table


def kernel_byte_ok(pt: PTPool, a: Word) -> bool:
    """`kernel_ok` at one address."""
    return not kernel_byte(pt, a) or boot_byte_ok(pt, a)


def counts_at(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    """The part of `layout_ok` that reads no point: the sizes."""
    return counts_ok(cs, pt)


def pid_at(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    """`layout_ok` at pid p."""
    return live_ok(cs, pt, p) and parent_ok(cs, p) and shape_ok(cs, p)


def owned_at(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    """`layout_ok` at frame f."""
    return owned_ok(cs, pt, f)


def kernel_at(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    return kernel_byte_ok(pt, a)


def page_at(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    return not in_keys(pt, k) or page_ok(cs, pt, k)


def table_at(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    return not in_table_keys(pt, t) or table_ok(cs, pt, t)


def frame_table_at(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    """`frame_ok` at frame f, if it is a page table."""
    return f not in cs.owner or not pt.is_ptbl[f] or frame_ok(cs, pt, f)


def frame_page_at(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    """`frame_ok` at frame f, if it is a user page."""
    return f not in cs.owner or pt.is_ptbl[f] or frame_ok(cs, pt, f)


# `vm_ok` at one point of each of its domains: a page key, a table key, a frame, a pid and
# a kernel address; each part reads one point. The parts hold at every point exactly where
# vm_ok holds (tests/test_vm.py checks the two agree). Apart, so that the engine runs each
# on its own few paths.
INVARIANT_AT = [counts_at, pid_at, owned_at, kernel_at, page_at, table_at, frame_table_at, frame_page_at]


def invariant_at(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    return all(part(cs, pt, k, t, f, p, a) for part in INVARIANT_AT)


def spec_frames(vm: Vm, pid: Word, va: Word, choices: list[int]) -> tuple[int, int]:
    """(table frame, page frame) for spec.vm.map_page, from the frames the layer below hands
    out in order: a page table, if va needs one, comes first."""
    if pages_needed(vm, pid, va) == 2:
        return choices[0], choices[1]
    return 0, choices[0]


# -- goals --------------------------------------------------------------------------------------

PTPOOL = RecT(PTPool)
VM = RecT(Vm)
MEM = dict(PTPOOL.fields)["mem"]
LOWER = RecT(SpecContainers)
CONTAINERS = RecT(Containers)
WORD = BVT(32)

REVOKES = {"teardown"}
ALLOCATES = {"map_page"}
WRITES_USER = {"copyout"}  # writes user pages only: changes no key's entry
MAPS_NEW_PAGE = {"map_page"}  # footprint: `mapped_byte`
# For keyed pids, the spec runs on constants equal to the abstraction's leaves, not on its
# lambdas (docs/vm.md: map_page's spec state kept on an error went from unknown at 120 s
# to under a second; unmap_page's and copyout's bytes claims, and map_page beyond the
# keys, were slower so)
NAMED_BEFORE = {"map_page"}

# The pids an obligation is about, [lo, hi): any, those a key holds, those beyond
PID_DOMAINS = {"any": (0, 1 << 32), "keyed": (0, 1 << PID_BITS), "beyond": (1 << PID_BITS, 1 << 32)}

# name: (impl function, whether it takes the container layer, argument names and types)
OPERATIONS: dict[str, tuple[str, bool, list[tuple[str, Any]]]] = {
    "map_page": ("map_page", True, [("pid", WORD), ("va", WORD), ("writable", BOOL)]),
    "unmap_page": ("unmap_page", True, [("pid", WORD), ("va", WORD)]),
    "copyin": ("pt_copyin", False, [("pid", WORD), ("va", WORD), ("n", WORD)]),
    "copyout": ("pt_copyout", False, [("pid", WORD), ("va", WORD), ("buf", BYTES)]),
    "teardown": ("pt_teardown", True, [("pid", WORD)]),
}


def spec_call(op: str, vm: Vm, mem: PhysMem, choices: list[int], args: list[Any]) -> tuple[Any, ...]:
    """spec.vm's (results..., vm, mem) for the operation."""
    if op == "map_page":
        pid, va, writable = args
        return spec_vm.map_page(vm, mem, pid, va, writable, *spec_frames(vm, pid, va, choices))
    if op == "copyin":
        err, data = spec_vm.copyin(vm, mem, *args)
        return err, data, vm, mem
    if op == "copyout":
        err, out = spec_vm.copyout(vm, mem, *args)
        return err, vm, out
    err, after = getattr(spec_vm, op)(vm, *args)
    return err, after, mem


def impl_call(op: str, impl: types.ModuleType, lower: Any, pt: PTPool, args: list[Any]) -> tuple[Any, ...]:
    """The impl's results, as a tuple, run over `lower`."""
    name, takes_lower, _ = OPERATIONS[op]
    fn = getattr(impl, name)
    result = fn(lower, pt, *args) if takes_lower else fn(pt, *args)
    return result if isinstance(result, tuple) else (result,)


class Setting:
    """An operation run symbolically on every state the invariant admits, over the
    container layer's spec."""

    def __init__(self, op: str, impl: types.ModuleType, pids: str = "any") -> None:
        self.op = op
        self.impl = impl
        self.pids = pids
        self.pt_leaves = flatten(PTPOOL, fresh(PTPOOL, "pt"))
        lower = fresh(LOWER, "lower")
        lower.taken = 0
        self.lower_leaves = flatten(LOWER, lower)
        self.args = [fresh(ty, name) for name, ty in OPERATIONS[op][2]]
        if pids == "keyed":
            self.args[0] = z3.ZeroExt(32 - PID_BITS, z3.BitVec(fresh_name("pid"), PID_BITS))
        pid, va, n = self.span()
        ok = run(admitted, lambda: [self.lower().cs, self.lower().choices, self.pt(), pid, va, n,
                                    op in REVOKES, op in ALLOCATES])
        self.hypotheses = [ok.result, *ok.assumptions]
        if pids == "beyond":
            self.hypotheses.append(z3.UGE(pid, 1 << PID_BITS))
        with over(impl, INTERFACE):
            self.out = run(impl_call, lambda: [op, impl, self.lower(), self.pt(), self.args])
        self.results = self.out.result
        self.lower_after, self.pt_after = self.out.args[2], self.out.args[3]

    def span(self) -> tuple[Any, Any, Any]:
        """(pid, va, n): the process and the bytes the operation looks at."""
        named = dict(zip([name for name, _ in OPERATIONS[self.op][2]], self.args, strict=True))
        return span(named, lambda buf: z3.Int2BV(buf.length, 32), z3.BitVecVal(0, 32))

    def pt(self) -> PTPool:
        return unflatten(PTPOOL, self.pt_leaves)

    def lower(self) -> SpecContainers:
        return unflatten(LOWER, self.lower_leaves)

    def goal(self, conclusion: z3.BoolRef, extra: list[z3.BoolRef], replay: Any,
             points: dict[str, z3.ExprRef] | None = None) -> Goal:
        """The goal; `points` are words or ints the conclusion is stated at, free constants
        and so any (a key, a byte offset, a frame), shown with the inputs."""
        pt, lower = self.pt(), self.lower()
        inputs = {"containers": Shown(CONTAINERS, lower.cs, _containers_size(lower.cs, pt)),
                  "choices": Shown(ArrT(INT), lower.choices, lambda arr, model: 2),
                  "pt": Shown(PTPOOL, pt, _pool_size(pt))}
        names = OPERATIONS[self.op][2]
        inputs.update({name: Shown(ty, a) for (name, ty), a in zip(names, self.args, strict=True)})
        inputs.update({name: Shown(WORD if z3.is_bv(x) else INT, x) for name, x in (points or {}).items()})
        pids = range(*PID_DOMAINS[self.pids])
        buffers = [a.length for (_, ty), a in zip(names, self.args, strict=True) if ty == BYTES]
        return Goal([*self.hypotheses, *self.out.assumptions, *extra], conclusion, inputs,
                    sizes=[*_sizes(lower.cs, pt), *buffers], replay=replay,
                    replay_module=self.impl.__name__,
                    replay_extra={"op": self.op},
                    example={**example(self.op), "pid": pids[0], **dict.fromkeys(points or {}, 0)},
                    admissible=lambda values: (admissible(self.op, values) and values["pid"] in pids
                                               and values.get("offset", 0) < PAGE_SIZE))


def _pool_size(pt: PTPool) -> Any:
    """Memory has its own length; the per-frame arrays have nframes entries."""
    def size(arr: Any, model: z3.ModelRef) -> int:
        n = arr.length if arr.ty.sized else pt.nframes
        return model.eval(n, model_completion=True).as_long()
    return size


def _containers_size(cs: Containers, pt: PTPool) -> Any:
    """Live pids shown below nproc, owned frames below nframes: the pool's or the
    containers' own, the larger (a case where they differ is shown with every entry the
    hypotheses read, so its replay reads what the proof did)."""
    def size(arr: Any, model: z3.ModelRef) -> int:
        ns = (pt.nproc, cs.nproc) if arr is cs.live else (pt.nframes, cs.nframes)
        return max(0, *[model.eval(n, model_completion=True).as_long() for n in ns])
    return size


def _sizes(cs: Containers, pt: PTPool) -> list[Any]:
    """The sizes a counterexample is kept small in: the pool's, the containers' own, and
    the number of page tables the user range spans."""
    return [pt.nproc, pt.nframes, cs.nproc, cs.nframes, user_tables(pt)]


def is_free(cs: Containers, f: int) -> bool:
    return 0 <= f and f < cs.nframes and f not in cs.owner


def choices_ok(cs: Containers, choices: list[int]) -> bool:
    """The frames the container spec hands out are free, and distinct, while any is."""
    first, second = choices[0], choices[1]
    return ((is_free(cs, first) or not any(is_free(cs, f) for f in range(cs.nframes)))
            and ((is_free(cs, second) and second != first)
                 or not any(is_free(cs, f) and f != first for f in range(cs.nframes))))


def span(named: dict[str, Any], length: Any, zero: Any) -> tuple[Any, Any, Any]:
    """(pid, va, n) of an operation's named arguments: one page at va, or the n bytes
    copied (teardown looks at no page: va 0)."""
    va = named.get("va", zero)
    n = named["n"] if "n" in named else length(named["buf"]) if "buf" in named else zero + 1
    return named["pid"], va, n


def admitted(cs: Containers, choices: list[int], pt: PTPool, pid: Word, va: Word, n: Word,
             revokes: bool, allocates: bool) -> bool:
    """What an operation's obligation assumes: the invariant where the operation looks
    (every conclusion about other entries assumes the invariant at those entries), and the
    container spec's choices of frames. (The tree only where the operation revokes: asking
    it of every operation doubles the time Z3 takes for copyin.)"""
    return (sizes_ok(pt) and touched_ok(cs, pt, pid, va, n) and (not revokes or tree_ok(cs, pt, pid))
            and (not allocates or cs.nframes == int(pt.nframes)) and choices_ok(cs, choices))


def admitted_case(op: str, values: dict[str, Any]) -> bool:
    """The case satisfies the obligation's hypotheses."""
    named = {name: values[name] for name, _ in OPERATIONS[op][2]}
    pid, va, n = span(named, lambda buf: u32(len(buf)), 0)
    return (len(values["choices"]) >= 2
            and bool(admitted(values["containers"], values["choices"], values["pt"], pid, va, n,
                              op in REVOKES, op in ALLOCATES)))


def admissible(op: str, values: dict[str, Any]) -> bool:
    """The case is one the obligation is about: a state with the invariant."""
    return admitted_case(op, values) and vm_ok(values["containers"], values["pt"])


EXAMPLE_CONFIG = Config(NUM_PROC=2, ROOT_QUOTA=4, VM_USERLO=0x40000000, VM_USERHI=0x40002000)
EXAMPLE_ARGS: dict[str, dict[str, Any]] = {
    "map_page": {"pid": 0, "va": 0x40001000, "writable": True},
    "unmap_page": {"pid": 0, "va": 0x40000000},
    "copyin": {"pid": 0, "va": 0x40000ffe, "n": 4},
    "copyout": {"pid": 0, "va": 0x40000ffe, "buf": b"ab"},
    "teardown": {"pid": 0},
}


def example_state() -> tuple[ContainerTable, PTPool]:
    """The containers and pool of the examples: pid 0 with one page."""
    table = container_init(EXAMPLE_CONFIG, 4)
    pt = impl_vm.pt_init(EXAMPLE_CONFIG, 4)
    impl_vm.map_page(table, pt, 0, EXAMPLE_CONFIG.VM_USERLO, True)
    return table, pt


def example(op: str) -> dict[str, Any]:
    """A state the hypotheses admit, to show they are satisfiable: pid 0 with one page."""
    table, pt = example_state()
    cs = abstract_containers(table)
    free = [f for f in range(4) if f not in cs.owner]
    return {"containers": cs, "choices": free[:2], "pt": pt, **EXAMPLE_ARGS[op]}


def frame_roundtrip(f: int) -> bool:
    """A container frame's physical frame number, as a word, names it back (arithmetic)."""
    return not (0 <= f and f < (1 << 20) - FIRST_FRAME) or int(u32(FIRST_FRAME + f)) == FIRST_FRAME + f


def choices_roundtrip(choices: list[int]) -> bool:
    """`frame_roundtrip` of both frames the container layer may hand out."""
    return frame_roundtrip(choices[0]) and frame_roundtrip(choices[1])


def pages_agree(got: Vm, want: Vm, k: Word) -> bool:
    """Both have the same page at key k, or neither has one."""
    return (k in got.pages) == (k in want.pages) and (k not in got.pages or got.pages[k] == want.pages[k])


def tables_agree(got: Vm, want: Vm, t: Word) -> bool:
    return ((t in got.tables) == (t in want.tables)
            and (t not in got.tables or got.tables[t] == want.tables[t]))


def byte_agrees(vm: Vm, mem: PhysMem, spec_mem: PhysMem, k: Word, offset: Word) -> bool:
    """The byte at the offset in the page at key k, if there is one, is the same in both."""
    if k not in vm.pages:
        return True
    a = vm.pages[k].frame << 12 | offset
    return mem[a] == spec_mem[a]


def page_read_agrees(vm: Vm, pt: PTPool, pid: Word, va: Word, *_: Any) -> bool:
    """Where pid is live and va starts a user page, the spec has a page at va exactly where
    pid's PTE for va is present, and its frame is the PTE's."""
    pte = get_ptbl_entry_by_va(pt, pid, va)
    if int(pid) not in vm.containers.live or not spec_vm.user_page(vm, va):
        return True
    key = place(pid, va >> 12)
    mapped = key in vm.pages
    return mapped == (pte & PTE_P != 0) and (not mapped or vm.pages[key].frame == pte >> 12)


def page_owned(vm: Vm, pt: PTPool, pid: Word, va: Word, *_: Any) -> bool:
    """A present user PTE of a live pid maps a frame its container owns."""
    pte = get_ptbl_entry_by_va(pt, pid, va)
    f = int(pte >> 12) - FIRST_FRAME
    return (int(pid) not in vm.containers.live or not spec_vm.user_page(vm, va) or pte & PTE_P == 0
            or (f in vm.containers.owner and vm.containers.owner[f] == int(pid)))


def keyed_or_dead(vm: Vm, pt: PTPool, pid: Word, *_: Any) -> bool:
    """A pid a key cannot hold names no process and no page directory of the pool."""
    return pid <= PID_MASK or (int(pid) not in vm.containers.live and pt.nproc <= pid)


def entry_apart(cs: Containers, pt: PTPool, pid: Word, va: Word, n: Word, k: Word, *_: Any) -> bool:
    """Where a live pid has a page table for a user va, another live user key with a page
    table has its PTE elsewhere (a page table is one process's, at one entry of its page
    directory)."""
    return (k == place(pid, va >> 12) or not in_keys(pt, k) or int(pid_of(k)) not in cs.live
            or int(pid) not in cs.live or not in_keys(pt, place(pid, va >> 12))
            or get_pdir_entry(pt, pid, PDX(va)) & PTE_P == 0
            or page_pde(pt, k) & PTE_P == 0
            or page_entry_addr(pt, k) != ptbl_entry_addr(pt, pid, PDX(va), PTX(va)))


def page_apart(cs: Containers, pt: PTPool, pid: Word, va: Word, n: Word, k: Word, *_: Any) -> bool:
    """No live user page is the page table a live pid has for a user va."""
    pde = get_pdir_entry(pt, pid, PDX(va))
    pte = pte_at(pt, k)
    return (int(pid) not in cs.live or not in_keys(pt, place(pid, va >> 12)) or pde & PTE_P == 0
            or not in_keys(pt, k) or int(pid_of(k)) not in cs.live or pte & PTE_P == 0
            or pte >> 12 != PTE_ADDR(pde) >> 12)


def outside(c: int, a: Word) -> bool:
    """Address a lies outside container frame c."""
    return not (frame_base(c) <= a and a < u32(frame_base(c) + PAGE_SIZE))


def entry_outside(cs: Containers, c: int, a: Word) -> bool:
    """The four bytes of the entry at a lie outside frame c, if c is free."""
    return not is_free(cs, c) or (outside(c, a) and outside(c, a + 1) and outside(c, a + 2)
                                  and outside(c, a + 3))


def frame_not_chosen(cs: Containers, c: int, w: Word) -> bool:
    """If container frame c is free, its physical frame number is not w."""
    return not is_free(cs, c) or u32(FIRST_FRAME + c) != w


def table_not_chosen(cs: Containers, pt: PTPool, pid: Word, va: Word, n: Word, k: Word,
                     choices: list[int]) -> bool:
    """Another live user key's page table is no frame the container layer may hand out
    (those are free; a page table is its process's)."""
    w = page_pde(pt, k) >> 12
    return (not in_keys(pt, k) or int(pid_of(k)) not in cs.live or page_pde(pt, k) & PTE_P == 0
            or (frame_not_chosen(cs, choices[0], w) and frame_not_chosen(cs, choices[1], w)))


def entry_off_choices(cs: Containers, pt: PTPool, pid: Word, va: Word, n: Word, k: Word,
                      choices: list[int]) -> bool:
    """Another live user key's PTE, where it has a page table, lies outside the frames the
    container layer may hand out (they are free; its page table is not)."""
    a = page_entry_addr(pt, k)
    return (not in_keys(pt, k) or int(pid_of(k)) not in cs.live or page_pde(pt, k) & PTE_P == 0
            or (entry_outside(cs, choices[0], a) and entry_outside(cs, choices[1], a)))


def copied_page(pt: PTPool, pid: Word, va: Word) -> Word:
    """The frame of pid's PTE for va, as a copy to va reads it (`user_pa`)."""
    return PTE_ADDR(get_ptbl_entry(pt, pid, PDX(va), PTX(va)))


def off_copied_page(cs: Containers, pt: PTPool, pid: Word, x: Word, k: Word) -> bool:
    """Another live user key's PTE, where it has a page table, is not on the page a copy
    to x writes: that is a user page, and the PTE is in a page table."""
    pte = get_ptbl_entry(pt, pid, PDX(x), PTX(x))
    return (not in_keys(pt, k) or int(pid_of(k)) not in cs.live or page_pde(pt, k) & PTE_P == 0
            or int(pid) not in cs.live or not in_keys(pt, place(pid, x >> 12))
            or get_pdir_entry(pt, pid, PDX(x)) & PTE_P == 0 or pte & PTE_P == 0
            or PTE_ADDR(page_entry_addr(pt, k)) != copied_page(pt, pid, x))


def first_unwritten(cs: Containers, pt: PTPool, pid: Word, va: Word, n: Word, k: Word, *_: Any) -> bool:
    """`off_copied_page` for the copy's first page."""
    return off_copied_page(cs, pt, pid, va, k)


def last_unwritten(cs: Containers, pt: PTPool, pid: Word, va: Word, n: Word, k: Word, *_: Any) -> bool:
    """`off_copied_page` for the copy's last page, if it copies anything."""
    return n == 0 or off_copied_page(cs, pt, pid, va + n - 1, k)


def page_written_agrees(vm: Vm, pt: PTPool, pid: Word, x: Word) -> bool:
    """Where both let a live pid write at x, the impl writes at the spec's address."""
    if int(pid) not in vm.containers.live or not spec_vm.in_user_range(vm, x, u32(1)):
        return True
    ok, pa = user_pa(pt, pid, x, True)
    spec_ok, spec_pa = spec_vm.translate(vm, pid, x, True)
    return not ok or not spec_ok or pa == spec_pa


def first_written_agrees(vm: Vm, pt: PTPool, pid: Word, va: Word, buf: bytes) -> bool:
    """`page_written_agrees` at the copy's first byte."""
    return page_written_agrees(vm, pt, pid, va)


def last_written_agrees(vm: Vm, pt: PTPool, pid: Word, va: Word, buf: bytes) -> bool:
    """`page_written_agrees` at the copy's last byte, if it copies any."""
    n = u32(len(buf))
    return n == 0 or n > PAGE_SIZE or page_written_agrees(vm, pt, pid, va + n - 1)


# Facts proved first, in order, each then a lemma of the parts after it. STEPS relate what
# the impl reads at the operation's own page (a PTE) to what the spec reads (the
# abstraction); KEY_STEPS are about the state before, at the key the claims about other
# keys are stated at; AFTER_STEPS about the impl's step at that key, after a success.
STEPS: dict[str, list[Any]] = {"unmap_page": [page_read_agrees, page_owned],
                               "copyout": [first_written_agrees, last_written_agrees]}
KEY_STEPS: dict[str, list[Any]] = {"unmap_page": [entry_apart, page_apart],
                                   "map_page": [entry_apart, page_apart, table_not_chosen, entry_off_choices],
                                   "copyout": [first_unwritten, last_unwritten]}


def other_live_key(cs: Containers, pt: PTPool, pid: Word, va: Word, k: Word, own: bool) -> bool:
    """k is a user key of a live process, and not pid's key for va if the operation changes
    that key's entry (`own`)."""
    return (not own or k != place(pid, va >> 12)) and in_keys(pt, k) and int(pid_of(k)) in cs.live


def pde_kept(cs: Containers, pt: PTPool, cs_after: Containers, after: PTPool, pid: Word, va: Word,
             k: Word, own: bool) -> bool:
    """Another live user key's PDE is as it was."""
    return not other_live_key(cs, pt, pid, va, k, own) or page_pde(after, k) == page_pde(pt, k)


def entry_addr_kept(cs: Containers, pt: PTPool, cs_after: Containers, after: PTPool, pid: Word, va: Word,
                    k: Word, own: bool) -> bool:
    """Another live user key's PTE is at the address it was."""
    return (not other_live_key(cs, pt, pid, va, k, own)
            or page_entry_addr(after, k) == page_entry_addr(pt, k))


def entry_bytes_kept(cs: Containers, pt: PTPool, cs_after: Containers, after: PTPool, pid: Word, va: Word,
                     k: Word, own: bool) -> bool:
    """The four bytes of another live user key's PTE, where it has a page table, are as they
    were (read where each state has the entry)."""
    a, b = page_entry_addr(pt, k), page_entry_addr(after, k)
    return (not other_live_key(cs, pt, pid, va, k, own) or page_pde(pt, k) & PTE_P == 0
            or (after.mem[b] == pt.mem[a] and after.mem[b + 1] == pt.mem[a + 1]
                and after.mem[b + 2] == pt.mem[a + 2] and after.mem[b + 3] == pt.mem[a + 3]))


def entry_kept(cs: Containers, pt: PTPool, cs_after: Containers, after: PTPool, pid: Word, va: Word,
               k: Word, own: bool) -> bool:
    """Another live user key's PTE is as it was."""
    return not other_live_key(cs, pt, pid, va, k, own) or pte_at(after, k) == pte_at(pt, k)


def abstract_kept(cs: Containers, pt: PTPool, cs_after: Containers, after: PTPool, pid: Word, va: Word,
                  k: Word, own: bool) -> bool:
    """The impl's abstraction has at another key the page it had (the spec's is `pages_agree`)."""
    return ((own and k == place(pid, va >> 12))
            or pages_agree(abstract(cs_after, after), abstract(cs, pt), k))


def table_kept(cs: Containers, pt: PTPool, cs_after: Containers, after: PTPool, pid: Word, va: Word,
               k: Word, own: bool) -> bool:
    """Another live user key's PDE, where present, is as it was."""
    return (not other_live_key(cs, pt, pid, va, k, own) or page_pde(pt, k) & PTE_P == 0
            or page_pde(after, k) == page_pde(pt, k))


def table_entry_addr_kept(cs: Containers, pt: PTPool, cs_after: Containers, after: PTPool, pid: Word,
                          va: Word, k: Word, own: bool) -> bool:
    """Another live user key's PTE, where it has a page table, is at the address it was."""
    return (not other_live_key(cs, pt, pid, va, k, own) or page_pde(pt, k) & PTE_P == 0
            or page_entry_addr(after, k) == page_entry_addr(pt, k))


def new_table_empty(cs: Containers, pt: PTPool, cs_after: Containers, after: PTPool, pid: Word, va: Word,
                    k: Word, own: bool) -> bool:
    """Another live user key without a page table has no page after."""
    return (not other_live_key(cs, pt, pid, va, k, own) or page_pde(pt, k) & PTE_P != 0
            or pte_at(after, k) == 0)


AFTER_STEPS: dict[str, list[Any]] = {
    "unmap_page": [pde_kept, entry_addr_kept, entry_bytes_kept, entry_kept, abstract_kept],
    "copyout": [pde_kept, entry_addr_kept, entry_bytes_kept, entry_kept, abstract_kept],
    "map_page": [table_kept, table_entry_addr_kept, entry_bytes_kept, new_table_empty, entry_kept,
                 abstract_kept]}


def refines(op: str, impl: types.ModuleType = impl_vm, pids: str = "keyed", state_after: bool = True) -> Goal:
    """Same results and errno as spec.vm, and the new state abstracts to the spec's: the same
    containers, and at every key where the invariant holds beforehand (all of them, in a
    state with the invariant), the same page, page table and page bytes.

    Stated for the pids a key holds (`pids="keyed"`, below 2**PID_BITS, as 8-bit values:
    Z3 then sees a key's pid as the pid itself) and, apart, for every larger pid
    (`"beyond"`), which names no process. Proved first, and then given as lemmas: the
    operation's steps (`STEPS`), and that on an error each side leaves its state as it
    was. That settles an error: both states are as they were, so the impl's still
    abstracts to the spec's (the abstraction is a function of the state), and only the
    results are compared; so does a success for a pid beyond the keys, which must leave
    both sides unchanged. After a keyed success every claim is proved on its own.

    The claims about other entries are stated at a page key, a table key and a byte
    offset that are free constants, and so at every one, given the invariant there: no
    part quantifies over keys, and a part proved is a lemma of those after it, the steps
    at that key (`KEY_STEPS`, `AFTER_STEPS`) first.

    Without `state_after`, only the results, and the states on an error or beyond the
    keys: for map_page, whose state after a success is an obligation of its own
    (`vm.map_page.refines_on_success`: `STATE_APART`)."""
    s = Setting(op, impl, pids)
    cs, pt = s.lower().cs, s.pt()
    before = run(abstract, lambda: [cs, pt])
    spec_before, named = before.result, []
    if op in NAMED_BEFORE and pids == "keyed":
        spec_before = fresh(VM, "abstraction")
        named = [a == b for a, b in zip(flatten(VM, spec_before), flatten(VM, before.result), strict=True)]
    want = run(spec_call, lambda: [op, spec_before, pt.mem, s.lower().choices, s.args])
    *results, vm, spec_mem = want.result
    after = run(abstract, lambda: [s.lower_after.cs, s.pt_after]) if state_after else None
    k, offset, t = z3.BitVec("key", 32), z3.BitVec("offset", 32), z3.BitVec("table", 32)
    runs = [before, want, *([after] if after else [])]

    def at(fn: Any, *args: Any) -> z3.BoolRef:
        out = run(fn, lambda: list(args))
        runs.append(out)
        return out.result

    err, spec_err = s.results[0], results[0]
    given = []
    if after:
        given = [at(other_key_ok, cs, pt, k), at(table_key_ok, cs, pt, t), z3.ULT(offset, PAGE_SIZE)]
    steps = [at(step, spec_before, pt, *s.args) for step in [keyed_or_dead, *STEPS.get(op, [])]]
    if op in ALLOCATES:
        steps.insert(0, at(choices_roundtrip, s.lower().choices))
    keyed = pids == "keyed" and after  # beyond the keys nothing changes: no step at a key is needed
    key_steps = [at(step, cs, pt, *s.span(), k, s.lower().choices) for step in KEY_STEPS.get(op, []) if keyed]
    after_steps = [at(step, cs, pt, s.lower_after.cs, s.pt_after, *s.args[:2], k, op not in WRITES_USER)
                   for step in AFTER_STEPS.get(op, []) if keyed]
    if after:
        same_page, same_table = at(pages_agree, after.result, vm, k), at(tables_agree, after.result, vm, t)
        same_byte = at(byte_agrees, vm, s.pt_after.mem, spec_mem, k, offset)
    kept = z3.And(*[a == b for a, b in zip(s.pt_leaves, flatten(PTPOOL, s.pt_after), strict=True)],
                  equal(CONTAINERS, s.lower_after.cs, cs))
    spec_kept = z3.And(*[a == b for a, b in zip(flatten(VM, spec_before) + flatten(MEM, pt.mem),
                                                flatten(VM, vm) + flatten(MEM, spec_mem), strict=True)])

    success = err == E_SUCC
    changed = z3.And(success, z3.ULE(s.args[0], PID_MASK))  # a larger pid changes nothing
    conclusion = [
        *steps, *key_steps, *[z3.Implies(z3.And(changed, *key_steps), x) for x in after_steps],
        z3.Implies(err != E_SUCC, equal_results(s.results, tuple(results))),
        z3.Implies(err != E_SUCC, kept), z3.Implies(spec_err != E_SUCC, spec_kept),
        z3.Implies(success, equal_results(s.results, tuple(results))),
        z3.Implies(z3.And(success, z3.Not(changed)), z3.And(kept, spec_kept))]
    if after:
        conclusion += [z3.Implies(changed, equal(CONTAINERS, after.result.containers, vm.containers)),
                       z3.Implies(z3.And(changed, *key_steps, *after_steps), same_page),
                       z3.Implies(changed, same_table),
                       z3.Implies(z3.And(changed, *key_steps, *after_steps), same_byte)]
    extra = {"key": k, "table": t, "offset": offset} if after else {}
    hypotheses = [*given, *named, *[a for r in runs for a in r.assumptions]]
    return s.goal(z3.And(*conclusion), hypotheses, replay_refines, extra)


def unchanged(s: Setting) -> z3.BoolRef:
    """The pool as it was, bit for bit, and the containers equal."""
    return z3.And(*[same_leaf(a, b) for a, b in zip(s.pt_leaves, flatten(PTPOOL, s.pt_after), strict=True)],
                  equal(CONTAINERS, s.lower().cs, s.lower_after.cs))


def unchanged_on_error(op: str, impl: types.ModuleType = impl_vm) -> Goal:
    """An error leaves the page tables, physical memory and the per-frame notes as they were,
    bit for bit, and the containers equal (a frame taken and given back is free again)."""
    s = Setting(op, impl)
    return s.goal(z3.Implies(s.results[0] != E_SUCC, unchanged(s)), [], replay_unchanged)


READS_ONLY = {"copyin"}


def preserves(op: str, impl: types.ModuleType = impl_vm) -> Goal:
    """The invariant kept, for an operation that only reads (`READS_ONLY`): on every input,
    success or not, it leaves the pool and the containers as they were, and so the
    invariant, a function of them, holds again. (The operations that write keep it in two
    halves, a footprint and an invariant over it: docs/vm.md.)"""
    s = Setting(op, impl)
    return s.goal(unchanged(s), [], replay_keeps_the_state)


for _op in READS_ONLY:
    obligation(f"vm.{_op}.invariant")(lambda impl=impl_vm, _op=_op: preserves(_op, impl))


def protected(pt: PTPool, x: Word) -> bool:
    """Address x is in a kernel frame (the page directories, the kernel's page table) or in
    a page table: memory no copy to a user page may write."""
    frame = x >> 12
    return frame < FIRST_FRAME or (frame < pt.nframes + FIRST_FRAME and pt.is_ptbl[int(frame) - FIRST_FRAME])


def user_frame(pt: PTPool, pid: Word, y: Word) -> bool:
    """Where pid's byte y is mapped, its frame is a container frame that is no page table."""
    pte = get_ptbl_entry(pt, pid, PDX(y), PTX(y))
    frame = pte >> 12
    return (pid >= pt.nproc or get_pdir_entry(pt, pid, PDX(y)) & PTE_P == 0 or pte & PTE_P == 0
            or (FIRST_FRAME <= frame and frame < pt.nframes + FIRST_FRAME
                and not pt.is_ptbl[int(frame) - FIRST_FRAME]))


def copies(pt: PTPool, va: Word, n: Word) -> bool:
    """n bytes at va are a copy copyout goes on to make: some, at most a page, in the user
    range."""
    return n != 0 and n <= PAGE_SIZE and impl_vm.in_user_range(pt, va, n)


def first_to_user(cs: Containers, pt: PTPool, pid: Word, va: Word, n: Word) -> bool:
    """A copy to [va, va + n) writes a user frame at its first byte."""
    return not copies(pt, va, n) or user_frame(pt, pid, va)


def last_to_user(cs: Containers, pt: PTPool, pid: Word, va: Word, n: Word) -> bool:
    """... and at its last."""
    return not copies(pt, va, n) or user_frame(pt, pid, va + n - 1)


def copy_page_apart(pt: PTPool, pid: Word, y: Word, x: Word) -> bool:
    """A protected address is not on the page pid's byte y is on, where y is mapped."""
    pte = get_ptbl_entry(pt, pid, PDX(y), PTX(y))
    return (not protected(pt, x) or pid >= pt.nproc or get_pdir_entry(pt, pid, PDX(y)) & PTE_P == 0
            or pte & PTE_P == 0 or x >> 12 != pte >> 12)


def first_apart(cs: Containers, pt: PTPool, pid: Word, va: Word, n: Word, x: Word) -> bool:
    """A protected address is not on the page a copy to [va, va + n) writes first."""
    return not copies(pt, va, n) or copy_page_apart(pt, pid, va, x)


def last_apart(cs: Containers, pt: PTPool, pid: Word, va: Word, n: Word, x: Word) -> bool:
    """... nor on the page it writes last."""
    return not copies(pt, va, n) or copy_page_apart(pt, pid, va + n - 1, x)


def back_table(cs: Containers, pt: PTPool, f: int) -> Word:
    """The table key above the entry an owned frame's back pointer names."""
    return table_of(u32(cs.owner[f]), pt.back_va[f] >> 12)


def key_entries(pt: PTPool, k: Word) -> list[Word]:
    """The addresses of key k's PDE and PTE."""
    return [pdir_entry_addr(pid_of(k), PDX(va_of(k))), page_entry_addr(pt, k)]


def table_entries(t: Word) -> list[Word]:
    """The address of table key t's PDE."""
    return [pdir_entry_addr(pid_of(t), t >> PID_BITS)]


def back_entries(cs: Containers, pt: PTPool, f: int) -> list[Word]:
    """The addresses of the PDE and PTE an owned frame's back pointer names."""
    owner, va = u32(cs.owner[f]), pt.back_va[f]
    return [pdir_entry_addr(owner, PDX(va)), ptbl_entry_addr(pt, owner, PDX(va), PTX(va))]


def entries_read(cs: Containers, pt: PTPool, k: Word, t: Word, f: int) -> list[Word]:
    """The addresses of the entries `invariant_at` reads at its points: the PDE and PTE of
    key k, the PDE of table key t, and the PDE and PTE an owned frame's back pointer names."""
    return key_entries(pt, k) + table_entries(t) + back_entries(cs, pt, f)


def key_at(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    """The entries of key k (its PDE too, above `page_at`)."""
    return key_ok(cs, pt, k)


def back_at(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    """Where an owned frame's back pointer leads: its owner's pid, and the table above the
    entry it names."""
    return f not in cs.owner or (live_ok(cs, pt, cs.owner[f]) and table_key_ok(cs, pt, back_table(cs, pt, f)))


def page_frame(pt: PTPool, k: Word) -> int:
    """The container frame page key k's PTE names."""
    return int(pte_at(pt, k) >> 12) - FIRST_FRAME


def table_frame(pt: PTPool, t: Word) -> int:
    """The container frame table key t's PDE names."""
    return int(pde_at(pt, t) >> 12) - FIRST_FRAME


def frames_at(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    """`owned_ok` at the frames key k's PTE and table key t's PDE name."""
    return owned_ok(cs, pt, page_frame(pt, k)) and owned_ok(cs, pt, table_frame(pt, t))


# What the invariant obligations assume: the invariant at the points, and where their entries lead
AROUND_POINTS = [*INVARIANT_AT, key_at, back_at]


def kept_but_memory(s: Setting, notes: bool = False) -> list[z3.BoolRef]:
    """Every field of the pool as it was but memory's bytes (its length too), and but the
    per-frame notes' entries if `notes`."""
    pt = s.pt()
    changed = [pt.mem.leaves[-1], *([pt.is_ptbl.leaves[-1], pt.back_va.leaves[-1]] if notes else [])]
    return [same_leaf(a, b) for a, b in zip(s.pt_leaves, flatten(PTPOOL, s.pt_after), strict=True)
            if not any(a.eq(c) for c in changed)]


def protected_kept(pt: PTPool, after: PTPool, x: Word) -> bool:
    """The byte at x, if x is protected memory, is as it was."""
    return not protected(pt, x) or after.mem[x] == pt.mem[x]


def writes_user_only(op: str, impl: types.ModuleType = impl_vm) -> Goal:
    """The operation (`WRITES_USER`) writes no protected memory, at an address that is a free
    constant and so at every one, and changes nothing else: not the pool's other fields, not
    the containers. With `vm.user_write.invariant` this is the invariant kept (docs/vm.md).
    Steps: the copy writes user frames, at its first and last byte; a protected address is
    on neither page."""
    s = Setting(op, impl)
    cs, pt, after = s.lower().cs, s.pt(), s.pt_after
    x = z3.BitVec("addr", 32)
    runs = []

    def at(fn: Any, *args: Any) -> Any:
        out = run(fn, lambda: list(args))
        runs.append(out)
        return out.result

    span = s.span()
    steps = [at(first_to_user, cs, pt, *span), at(last_to_user, cs, pt, *span),
             at(first_apart, cs, pt, *span, x), at(last_apart, cs, pt, *span, x)]
    conclusion = z3.And(*steps, at(protected_kept, pt, after, x), *kept_but_memory(s),
                        equal(CONTAINERS, s.lower_after.cs, cs))
    return s.goal(conclusion, [a for r in runs for a in r.assumptions], replay_writes_user_only, {"addr": x})


def entry_byte(pt: PTPool, pid: Word, va: Word, x: Word) -> bool:
    """x is one of the four bytes of pid's PTE for va (a word difference, as in C: natively
    too, an x below the entry is far from it)."""
    return u32(x - ptbl_entry_addr(pt, pid, PDX(va), PTX(va))) < 4


def unmaps(cs: Containers, pt: PTPool, pid: Word, va: Word) -> bool:
    """pid, a live process of the pool, has a present user page at va, with the invariant at
    its entries: what a successful unmap_page finds."""
    return (pid < pt.nproc and int(pid) in cs.live and key_roundtrip(pid, va)
            and impl_vm.is_user_page(pt, va) and key_ok(cs, pt, place(pid, va >> 12))
            and pte_at(pt, place(pid, va >> 12)) & PTE_P != 0)


def freed(cs: Containers, pt: PTPool, pid: Word, va: Word) -> Containers:
    """The containers once the frame of pid's page at va is given back (the PTE read as
    unmap_page reads it, by pid and va: `unmaps` has the key's round trip)."""
    return container_free(cs, int(pid), int(get_ptbl_entry_by_va(pt, pid, va) >> 12) - FIRST_FRAME)[1]


def pte_by_key(pt: PTPool, pid: Word, va: Word) -> bool:
    """pid's PTE for va reads the same by pid and va as by the page's key (where the key
    round-trips, as `unmaps` has it)."""
    return get_ptbl_entry_by_va(pt, pid, va) == pte_at(pt, place(pid, va >> 12))


def unmapped_byte(pt: PTPool, pid: Word, va: Word, x: Word, cleared: bool = True) -> int:
    """The byte at x once pid's PTE for va is cleared (as it was, if not `cleared`)."""
    return 0 if cleared and entry_byte(pt, pid, va, x) else pt.mem[x]


def unmapped_at(pt: PTPool, after: PTPool, pid: Word, va: Word, x: Word, cleared: bool = True) -> bool:
    """The byte at x in after is as unmap_page leaves pid's page at va in pt."""
    return after.mem[x] == unmapped_byte(pt, pid, va, x, cleared)


def clears_own_entry_only(op: str, impl: types.ModuleType = impl_vm) -> Goal:
    """A success of the operation (`CLEARS_OWN_ENTRY`) found a present user page of pid at
    va (`unmaps`), clears its PTE and changes no other byte of memory, at an address that
    is a free constant and so at every one, and gives its frame back (`freed`); no other
    field of the pool changes. With `vm.unmap_page.invariant`, the invariant kept."""
    s = Setting(op, impl)
    cs, pt, after = s.lower().cs, s.pt(), s.pt_after
    x = z3.BitVec("addr", 32)
    found = run(unmaps, lambda: [cs, pt, *s.args[:2]])
    byte = run(unmapped_at, lambda: [pt, after, *s.args[:2], x])
    back = run(freed, lambda: [cs, pt, *s.args[:2]])
    success = s.results[0] == E_SUCC
    conclusion = z3.And(z3.Implies(success, found.result), z3.Implies(success, byte.result),
                        z3.Implies(success, equal(CONTAINERS, s.lower_after.cs, back.result)),
                        *kept_but_memory(s))
    return s.goal(conclusion, [a for r in (found, byte, back) for a in r.assumptions],
                  replay_clears_own_entry_only, {"addr": x})


CLEARS_OWN_ENTRY = {"unmap_page"}


def needs_table(pt: PTPool, pid: Word, va: Word) -> bool:
    """pid has no page table for va yet: map_page takes one first."""
    return get_pdir_entry(pt, pid, PDX(va)) & PTE_P == 0


def mapped_pde(pt: PTPool, pid: Word, va: Word, choices: list[int]) -> Word:
    """pid's PDE for va once map_page has put a page at va: a new page table is the first
    frame the container layer hands out."""
    if needs_table(pt, pid, va):
        return frame_base(choices[0]) | PT_PERM_PTU
    return get_pdir_entry(pt, pid, PDX(va))


def mapped_frame(pt: PTPool, pid: Word, va: Word, choices: list[int]) -> int:
    """The frame of the page map_page puts at va: the next frame the container layer hands out."""
    return choices[1] if needs_table(pt, pid, va) else choices[0]


def mapped_pte(pt: PTPool, pid: Word, va: Word, writable: bool, choices: list[int]) -> Word:
    """pid's PTE for va once map_page has put a page there."""
    rights = u32(PTE_P | PTE_U) | (u32(PTE_W) if writable else u32(0))
    return frame_base(mapped_frame(pt, pid, va, choices)) | rights


def byte_of(word: Word, a: Word, x: Word) -> int:
    """Byte x of the little-endian word at a (x one of its four)."""
    return u8(word >> ((x - a) << 3))


def new_pte_addr(pt: PTPool, pid: Word, va: Word, choices: list[int]) -> Word:
    """Where map_page writes pid's PTE for va: in the page table the PDE after names."""
    return PTE_ADDR(mapped_pde(pt, pid, va, choices)) | PTX(va) << 2


def in_new_frames(pt: PTPool, pid: Word, va: Word, choices: list[int], x: Word) -> bool:
    """x is in a frame map_page zeroes: the new page's, or a new page table's."""
    return (not outside(mapped_frame(pt, pid, va, choices), x)
            or (needs_table(pt, pid, va) and not outside(choices[0], x)))


def mapped_byte(pt: PTPool, pid: Word, va: Word, writable: bool, choices: list[int], x: Word) -> int:
    """The byte at x once map_page has put a new zeroed page at pid's va, and a new zeroed
    page table first where va had none: the new entries, zeros, or the byte as it was."""
    pde_addr = pdir_entry_addr(pid, PDX(va))
    pte_addr = new_pte_addr(pt, pid, va, choices)
    if u32(x - pte_addr) < 4:
        return byte_of(mapped_pte(pt, pid, va, writable, choices), pte_addr, x)
    new_table = needs_table(pt, pid, va)
    if new_table and u32(x - pde_addr) < 4:
        return byte_of(mapped_pde(pt, pid, va, choices), pde_addr, x)
    if in_new_frames(pt, pid, va, choices, x):
        return 0
    return pt.mem[x]


def mapped_at(pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool, choices: list[int],
              x: Word) -> bool:
    """The byte at x in after is as map_page leaves pid's va in pt."""
    return after.mem[x] == mapped_byte(pt, pid, va, writable, choices, x)


def mapped_word(pt: PTPool, pid: Word, va: Word, writable: bool, choices: list[int], a: Word) -> Word:
    """The word at a, a four-aligned address (as every entry's is), once map_page has put a
    new zeroed page at pid's va: `mapped_byte` a word at a time, so that a claim about an
    entry is about one word, not four bytes."""
    if len(pt.mem) < 4 or a > len(pt.mem) - 4:
        return u32(0)
    if a == new_pte_addr(pt, pid, va, choices):
        return mapped_pte(pt, pid, va, writable, choices)
    if needs_table(pt, pid, va) and a == pdir_entry_addr(pid, PDX(va)):
        return mapped_pde(pt, pid, va, choices)
    if in_new_frames(pt, pid, va, choices, a):
        return u32(0)
    return phys_load32(pt.mem, a)


def unwritten(pt: PTPool, pid: Word, va: Word, choices: list[int], a: Word) -> bool:
    """The word at a is none map_page writes: not the new PTE, not a new PDE, in neither
    new frame (so `mapped_word` is the word as it was)."""
    return (a != new_pte_addr(pt, pid, va, choices)
            and not (needs_table(pt, pid, va) and a == pdir_entry_addr(pid, PDX(va)))
            and not in_new_frames(pt, pid, va, choices, a))


def word_mapped_at(pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool, choices: list[int],
                   a: Word) -> bool:
    """The word at a in after is as map_page leaves pid's va in pt."""
    return phys_load32(after.mem, a) == mapped_word(pt, pid, va, writable, choices, a)


def allocated(cs: Containers, pt: PTPool, pid: Word, va: Word, choices: list[int]) -> Containers:
    """The containers once map_page has taken its frames for pid: a page table first, where
    va has none, then the page."""
    if needs_table(pt, pid, va):
        cs = container_alloc(cs, int(pid), choices[0])[1]
    return container_alloc(cs, int(pid), mapped_frame(pt, pid, va, choices))[1]


def noted_at(pt: PTPool, after: PTPool, pid: Word, va: Word, choices: list[int], f: int) -> bool:
    """Frame f's notes in after are as map_page leaves them: the new page's back pointer
    names its page, a new page table's its directory entry; any other frame's as they were."""
    is_ptbl, back_va = pt.is_ptbl[f], pt.back_va[f]
    if f == mapped_frame(pt, pid, va, choices):
        is_ptbl, back_va = False, va
    elif needs_table(pt, pid, va) and f == choices[0]:
        is_ptbl, back_va = True, va & 0xFFC00000
    return after.is_ptbl[f] == is_ptbl and after.back_va[f] == back_va


def chosen_in_pool(cs: Containers, pt: PTPool, choices: list[int]) -> bool:
    """A free frame the container layer may hand out is one of the pool's, as a physical
    frame number too."""
    return ((not is_free(cs, choices[0]) or u32(FIRST_FRAME + choices[0]) < pt.nframes + FIRST_FRAME)
            and (not is_free(cs, choices[1]) or u32(FIRST_FRAME + choices[1]) < pt.nframes + FIRST_FRAME))


def new_entry_in_memory(cs: Containers, pt: PTPool, pid: Word, va: Word, choices: list[int]) -> bool:
    """A PTE in the first frame the container layer may hand out, as a new page table, lies
    in memory."""
    return not is_free(cs, choices[0]) or not frame_base(choices[0]) | PTX(va) << 2 > len(pt.mem) - 4


def maps_new_page_only(op: str, impl: types.ModuleType = impl_vm) -> Goal:
    """map_page's footprint, as `vm.unmap_page.clears_own_entry_only` is unmap_page's. A
    success of the operation (`MAPS_NEW_PAGE`) leaves memory, at an address that is a free
    constant and so at every one, as `mapped_byte` says (the new PTE; the new PDE and a
    zeroed page table where va had none; the zeroed page; every other byte as it was), a
    frame's notes, at a frame that is a free constant, as `noted_at` says, the containers
    `allocated`, and no other field of the pool changed. Steps: the frames handed out are
    the pool's, and a new page table's entry is in memory."""
    s = Setting(op, impl)
    cs, pt, choices = s.lower().cs, s.pt(), s.lower().choices
    x = z3.BitVec("addr", 32)
    steps = [run(choices_roundtrip, lambda: [choices]), run(chosen_in_pool, lambda: [cs, pt, choices]),
             run(new_entry_in_memory, lambda: [cs, pt, *s.args[:2], choices])]
    f = z3.Int("frame")
    byte = run(mapped_at, lambda: [pt, s.pt_after, *s.args, choices, x])
    new_table = run(needs_table, lambda: [pt, *s.args[:2]])
    notes = run(noted_at, lambda: [pt, s.pt_after, *s.args[:2], choices, f])
    taken = run(allocated, lambda: [cs, pt, *s.args[:2], choices])
    found = run(maps, lambda: [cs, pt, *s.args[:2], choices])
    success = s.results[0] == E_SUCC
    # apart, where va has a page table and where it needs one: 51 s, against 190 s as one
    conclusion = z3.And(*[r.result for r in steps], z3.Implies(success, found.result),
                        z3.Implies(z3.And(success, z3.Not(new_table.result)), byte.result),
                        z3.Implies(z3.And(success, new_table.result), byte.result),
                        z3.Implies(success, notes.result),
                        z3.Implies(success, equal(CONTAINERS, s.lower_after.cs, taken.result)),
                        *kept_but_memory(s, notes=True))
    assumed = [a for r in [*steps, byte, new_table, notes, taken, found] for a in r.assumptions]
    return s.goal(conclusion, assumed, replay_maps_new_page_only, {"addr": x, "frame": f})


def directory_byte(pt: PTPool, pid: Word, x: Word) -> bool:
    """x is a byte of one of pid's user page-directory entries: those teardown clears."""
    base = pdir_base(pid)
    return (base | PDX(pt.userlo) << 2) <= x and x < base + ((PDX(pt.userhi - 1) + 1) << 2)


def torn_byte(pt: PTPool, pid: Word, x: Word, cleared: bool = True) -> int:
    """The byte at x once pid's user page-directory entries are cleared (as it was, if not
    `cleared`)."""
    return 0 if cleared and directory_byte(pt, pid, x) else pt.mem[x]


def torn_at(pt: PTPool, after: PTPool, pid: Word, x: Word, cleared: bool = True) -> bool:
    """The byte at x in after is as teardown leaves pid's address space in pt."""
    return after.mem[x] == torn_byte(pt, pid, x, cleared)


def tears_down(cs: Containers, pt: PTPool, pid: Word) -> bool:
    """pid is a live process of the pool, its parent live, and the container layer revokes
    it: what a successful teardown finds."""
    return (pid < pt.nproc and int(pid) in cs.live and tree_ok(cs, pt, pid)
            and container_revoke(cs, int(pid))[0] == E_SUCC)


def revoked(cs: Containers, pid: Word) -> Containers:
    """The containers once pid's is revoked."""
    return container_revoke(cs, int(pid))[1]


def clears_own_directory_only(op: str, impl: types.ModuleType = impl_vm) -> Goal:
    """A success of the operation (`CLEARS_OWN_DIRECTORY`) found pid as `tears_down` says,
    revoked pid's container (`revoked`), clears pid's user page-directory entries and changes no other byte of
    memory, at an address that is a free constant and so at every one (`torn_byte`); no
    other field of the pool changes: teardown's footprint."""
    s = Setting(op, impl)
    cs, pt, after = s.lower().cs, s.pt(), s.pt_after
    x = z3.BitVec("addr", 32)
    found = run(tears_down, lambda: [cs, pt, s.args[0]])
    byte = run(torn_at, lambda: [pt, after, s.args[0], x])
    back = run(revoked, lambda: [cs, s.args[0]])
    success = s.results[0] == E_SUCC
    conclusion = z3.And(z3.Implies(success, found.result), z3.Implies(success, byte.result),
                        z3.Implies(success, equal(CONTAINERS, s.lower_after.cs, back.result)),
                        *kept_but_memory(s))
    return s.goal(conclusion, [a for r in (found, byte, back) for a in r.assumptions],
                  replay_clears_own_directory_only, {"addr": x})


CLEARS_OWN_DIRECTORY = {"teardown"}


def read_bytes(cs: Containers, pt: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> list[Word]:
    """Every byte `invariant_at` reads at its points: the four of each entry `entries_read`
    names, and the kernel byte."""
    xs = entries_read(cs, pt, k, t, f)
    return [xs[0], xs[0] + 1, xs[0] + 2, xs[0] + 3, xs[1], xs[1] + 1, xs[1] + 2, xs[1] + 3,
            xs[2], xs[2] + 1, xs[2] + 2, xs[2] + 3, xs[3], xs[3] + 1, xs[3] + 2, xs[3] + 3,
            xs[4], xs[4] + 1, xs[4] + 2, xs[4] + 3, a]


def reads_kept(cs: Containers, pt: PTPool, after: PTPool, k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    """`protected_kept` at every byte `invariant_at` reads at its points."""
    return all(protected_kept(pt, after, x) for x in read_bytes(cs, pt, k, t, f, p, a))


def reads_unmapped(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, cleared: bool,
                   k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    """At every byte `invariant_at` reads at its points, memory is as unmap_page leaves it."""
    return all(unmapped_at(pt, after, pid, va, x, cleared) for x in read_bytes(cs, pt, k, t, f, p, a))


def rewritten(pt: PTPool, notes: bool = False) -> PTPool:
    """pt with a fresh memory of the same length (and, with `notes`, fresh frame notes):
    any state an operation may leave, before hypotheses say what it wrote."""
    word, byte = z3.BitVecSort(32), z3.BitVecSort(8)
    written = {pt.mem.leaves[-1]: z3.Array(fresh_name("written"), word, byte)}
    if notes:
        written[pt.is_ptbl.leaves[-1]] = z3.Array(fresh_name("is_ptbl"), z3.IntSort(), z3.BoolSort())
        written[pt.back_va.leaves[-1]] = z3.Array(fresh_name("back_va"), z3.IntSort(), word)
    return unflatten(PTPOOL, [next((w for x, w in written.items() if x.eq(leaf)), leaf)
                              for leaf in flatten(PTPOOL, pt)])


def _ty_of(x: z3.ExprRef) -> Ty:
    """The type a named input of a goal is shown as."""
    return WORD if z3.is_bv(x) else BOOL if z3.is_bool(x) else INT


class Runs:
    """The runs an obligation is built from: hypotheses (`given`, `assume`) and steps, each
    a run of a function of this layer over symbolic values."""

    def __init__(self) -> None:
        self.runs: list[Any] = []
        self.steps: list[Any] = []
        self.assumed: list[z3.BoolRef] = []

    def given(self, fn: Any, *args: Any) -> Any:
        """fn's result, a hypothesis if a bool."""
        out = run(fn, lambda: list(args), assume=self.assumed)
        self.runs.append(out)
        return out.result

    def assume(self, fn: Any, *args: Any) -> None:
        """fn's result, a hypothesis, and one that every later run takes as given: a path
        it rules out is not explored, so the terms after stay small (map_page's frames
        after, over the containers as `allocated` has them on every path, were unknown at
        60 s; on the paths `maps` allows, they take 1 to 3 s)."""
        self.assumed.append(self.given(fn, *args))

    def step(self, fn: Any, *args: Any) -> Any:
        """fn's result, proved before the conclusion and then a lemma of it."""
        self.steps.append(run(fn, lambda: list(args), assume=self.assumed))
        return self.steps[-1].result

    def hypotheses(self, more: Iterable[Any] = ()) -> list[z3.BoolRef]:
        """The bool results given, and what every run (and `more`) assumes on its paths."""
        given = [z3.BoolVal(r.result) if isinstance(r.result, bool) else r.result
                 for r in self.runs if isinstance(r.result, (bool, z3.BoolRef))]
        return [*given, *[x for r in self.runs + self.steps + list(more) for x in r.assumptions]]


class Points(Runs):
    """A pool and containers with the invariant before at a page key, a table key, a frame,
    a pid and a kernel address that are free constants (and where their entries lead:
    `AROUND_POINTS`), and the same pool with a memory `written` in place of its own (and,
    with `notes`, the frames' notes too): the setting of an obligation that a change of
    memory keeps the invariant, at every point."""

    def __init__(self, notes: bool = False) -> None:
        super().__init__()
        self.cs, self.pt = fresh(CONTAINERS, "cs"), fresh(PTPOOL, "pt")
        self.notes = notes  # the frames' notes written too
        self.after = rewritten(self.pt, notes)
        self.k, self.t, self.a = z3.BitVec("key", 32), z3.BitVec("table", 32), z3.BitVec("byte", 32)
        self.f, self.p = z3.Int("frame"), z3.Int("pid_at")
        for part in AROUND_POINTS:
            self.given(part, self.cs, self.pt, *self.points())

    def points(self) -> list[Any]:
        return [self.k, self.t, self.f, self.p, self.a]

    def goal(self, cs_after: Containers, replay: Any, named: dict[str, z3.ExprRef],
             replay_extra: dict[str, Any], hints: list[z3.ExprRef] | None = None,
             witness: tuple[dict[str, Any], Callable[[dict[str, Any]], bool]] | None = None) -> Goal:
        """The invariant at the points, after: the containers `cs_after` and the written memory
        (the steps first). `witness`: a case, and whether a case meets the hypotheses."""
        kept = [run(part, lambda part=part: [cs_after, self.after, *self.points()], assume=self.assumed)
                for part in INVARIANT_AT]
        cs, pt = self.cs, self.pt
        points = {"key": self.k, "table": self.t, "byte": self.a, "frame": self.f, "pid_at": self.p}
        written = ({"after": Shown(PTPOOL, self.after, _pool_size(self.after))} if self.notes
                   else {"written": Shown(MEM, self.after.mem, _pool_size(pt))})
        inputs = {"containers": Shown(CONTAINERS, cs, _containers_size(cs, pt)),
                  "pt": Shown(PTPOOL, pt, _pool_size(pt)), **written,
                  **{name: Shown(_ty_of(x), x) for name, x in {**named, **points}.items()}}
        return Goal(self.hypotheses(kept),
                    z3.And(*[r.result for r in self.steps + kept]), inputs, sizes=_sizes(cs, pt),
                    replay=replay, replay_extra=replay_extra, hints=hints or [],
                    points=list(points.values()), example=witness[0] if witness else None,
                    admissible=witness[1] if witness else None)


@obligation("vm.user_write.invariant")
def user_write_invariant(impl: types.ModuleType = impl_vm, with_kept: bool = True) -> Goal:
    """Writing user memory keeps the invariant: a pool whose memory differs from one with
    the invariant only where it is not protected has it too. Stated at a page key, a
    table key, a frame, a pid and a kernel address that are free constants, given the
    invariant before there and where their entries lead, and the memory equal where
    protected at the bytes the points read (so this covers every memory equal where
    protected, as `vm.OP.writes_user_only` shows an operation leaves it). Without that
    (`with_kept=False`) it fails: tests/test_vm.py."""
    s = Points()
    if with_kept:
        s.given(reads_kept, s.cs, s.pt, s.after, *s.points())
    return s.goal(s.cs, replay_user_write, {}, {"with_kept": with_kept})


@obligation("vm.unmap_page.invariant")
def unmap_invariant(impl: types.ModuleType = impl_vm, cleared: bool = True) -> Goal:
    """unmap_page keeps the invariant: where pid has a present user page at va (`unmaps`),
    clearing its PTE and giving its frame back leaves the invariant at a page key, a table
    key, a frame, a pid and a kernel address that are free constants, given it before there
    and where their entries lead, and memory where the points read as unmap_page leaves it
    (so every memory `vm.unmap_page.clears_own_entry_only` shows it leaves). With the PTE
    kept while the frame is freed (`cleared=False`) it fails: tests/test_vm.py."""
    s = Points()
    pid, va = z3.BitVec("pid", 32), z3.BitVec("va", 32)
    s.given(unmaps, s.cs, s.pt, pid, va)
    s.given(reads_unmapped, s.cs, s.pt, s.after, pid, va, cleared, *s.points())
    s.step(pte_by_key, s.pt, pid, va)
    cs_after = s.given(freed, s.cs, s.pt, pid, va)
    return s.goal(cs_after, replay_unmap_invariant, {"pid": pid, "va": va}, {"cleared": cleared})


def reads_torn(cs: Containers, pt: PTPool, after: PTPool, pid: Word, cleared: bool,
               k: Word, t: Word, f: int, p: int, a: Word) -> bool:
    """At every byte `invariant_at` reads at its points, memory is as teardown leaves it."""
    return all(torn_at(pt, after, pid, x, cleared) for x in read_bytes(cs, pt, k, t, f, p, a))


def torn_page(cs: Containers, pt: PTPool, after: PTPool, pid: Word, k: Word) -> bool:
    """At page key k of the pool: pid's PTE reads as absent, another process's PDE and PTE
    as they were."""
    if not in_keys(pt, k) or pid_of(k) >= pt.nproc:
        return True
    if pid_of(k) == pid:
        return pte_at(after, k) == 0
    return page_pde(after, k) == page_pde(pt, k) and pte_at(after, k) == pte_at(pt, k)


def torn_table(cs: Containers, pt: PTPool, after: PTPool, pid: Word, t: Word) -> bool:
    """At table key t of the pool: pid's PDE reads as absent, another process's as it was."""
    if not in_table_keys(pt, t) or pid_of(t) >= pt.nproc:
        return True
    if pid_of(t) == pid:
        return pde_at(after, t) == 0
    return pde_at(after, t) == pde_at(pt, t)


def owner_word(cs: Containers, pt: PTPool, pid: Word, f: int) -> bool:
    """The owner of frame f, as a word, is one of the pool's pids, and is pid only if it is."""
    if f not in cs.owner:
        return True
    w = u32(cs.owner[f])
    return w < pt.nproc and (w == pid) == (cs.owner[f] == int(pid))


def torn_frame(cs: Containers, pt: PTPool, after: PTPool, pid: Word, f: int) -> bool:
    """A frame another process owns: the PDE and PTE its back pointer names are as they were."""
    if f not in cs.owner or cs.owner[f] == int(pid):
        return True
    owner, va = u32(cs.owner[f]), pt.back_va[f]
    return (get_pdir_entry(after, owner, PDX(va)) == get_pdir_entry(pt, owner, PDX(va))
            and get_ptbl_entry_by_va(after, owner, va) == get_ptbl_entry_by_va(pt, owner, va))


def owner_kept(cs: Containers, cs_after: Containers, pid: Word, g: int) -> bool:
    """Frame g, if another process owns it, is still its own once pid is revoked."""
    return (g not in cs.owner or cs.owner[g] == int(pid)
            or (g in cs_after.owner and cs_after.owner[g] == cs.owner[g]))


def page_owner_kept(cs: Containers, pt: PTPool, cs_after: Containers, pid: Word, k: Word) -> bool:
    """`owner_kept` at the frame page key k's PTE maps, for a key of another process."""
    if not in_keys(pt, k) or pid_of(k) >= pt.nproc or pid_of(k) == pid or pte_at(pt, k) & PTE_P == 0:
        return True
    return owner_kept(cs, cs_after, pid, page_frame(pt, k))


def table_owner_kept(cs: Containers, pt: PTPool, cs_after: Containers, pid: Word, t: Word) -> bool:
    """`owner_kept` at the page table table key t's PDE names, for a key of another process."""
    if not in_table_keys(pt, t) or pid_of(t) >= pt.nproc or pid_of(t) == pid or pde_at(pt, t) & PTE_P == 0:
        return True
    return owner_kept(cs, cs_after, pid, table_frame(pt, t))


@obligation("vm.teardown.invariant")
def teardown_invariant(impl: types.ModuleType = impl_vm, cleared: bool = True) -> Goal:
    """teardown keeps the invariant: where pid may be torn down (`tears_down`), clearing its
    user page-directory entries and revoking its container leaves the invariant at a page
    key, a table key, a frame, a pid and a kernel address that are free constants, given it
    before there and where their entries lead, and memory where the points read as teardown
    leaves it (so every memory `vm.teardown.clears_own_directory_only` shows it leaves).
    Steps: the points' entries read as cleared (pid's) or as they were (another's); the
    frames another process owns stay its own. With the directory kept while the container
    is revoked (`cleared=False`) it fails: tests/test_vm.py."""
    s = Points()
    pid = z3.BitVec("pid", 32)
    s.given(frames_at, s.cs, s.pt, *s.points())
    s.given(tears_down, s.cs, s.pt, pid)
    s.given(reads_torn, s.cs, s.pt, s.after, pid, cleared, *s.points())
    cs_after = s.given(revoked, s.cs, pid)
    s.step(torn_page, s.cs, s.pt, s.after, pid, s.k)
    s.step(torn_table, s.cs, s.pt, s.after, pid, s.t)
    s.step(owner_word, s.cs, s.pt, pid, s.f)
    s.step(torn_frame, s.cs, s.pt, s.after, pid, s.f)
    s.step(page_owner_kept, s.cs, s.pt, cs_after, pid, s.k)
    s.step(table_owner_kept, s.cs, s.pt, cs_after, pid, s.t)
    # revoke asks whether pid has a child; pid_at is one exactly if it sits in that slot
    slot = s.p - 1 - z3.BV2Int(pid) * s.cs.max_children
    return s.goal(cs_after, replay_teardown_invariant, {"pid": pid}, {"cleared": cleared}, hints=[slot])


def replay_teardown_invariant(impl: types.ModuleType | None, containers: Containers, pt: PTPool,
                              written: PhysMem, pid: Word, key: Word, table: Word, byte: Word,
                              frame: int, pid_at: int, cleared: bool = True) -> None:
    """The steps and the invariant at the case's points with pid torn down, given it before
    (and where the points' entries lead) and the bytes they read as teardown leaves them."""
    after = dataclasses.replace(pt, mem=written)
    points = [key, table, frame, pid_at, byte]
    if not (around_points(containers, pt, after, points) and frames_at(containers, pt, *points)
            and tears_down(containers, pt, pid)
            and reads_torn(containers, pt, after, pid, cleared, *points)):
        raise InvalidCase("the case breaks the obligation's hypotheses")
    cs_after = revoked(containers, pid)
    assert torn_page(containers, pt, after, pid, key) and torn_table(containers, pt, after, pid, table)
    assert owner_word(containers, pt, pid, frame) and torn_frame(containers, pt, after, pid, frame)
    assert page_owner_kept(containers, pt, cs_after, pid, key)
    assert table_owner_kept(containers, pt, cs_after, pid, table)
    assert invariant_at(cs_after, after, *points)


def takes(cs: Containers, pt: PTPool, pid: Word, va: Word, choices: list[int]) -> bool:
    """pid, a live process, may take the frames the container layer hands out for va: free
    ones, two apart where va needs a page table."""
    new_table = needs_table(pt, pid, va)
    return (int(pid) in cs.live and can_consume(cs, int(pid), 2 if new_table else 1)
            and is_free(cs, mapped_frame(pt, pid, va, choices))
            and (not new_table or (is_free(cs, choices[0]) and choices[0] != choices[1])))


def maps(cs: Containers, pt: PTPool, pid: Word, va: Word, choices: list[int]) -> bool:
    """pid, a live process of the pool, has no page at va, a user page, with the invariant
    at its entries, and may take the frames the container layer hands out (`takes`). What
    a successful map_page finds."""
    own = place(pid, va >> 12)
    return (pid < pt.nproc and key_roundtrip(pid, va) and impl_vm.is_user_page(pt, va)
            and key_ok(cs, pt, own) and pte_at(pt, own) & PTE_P == 0
            and cs.nframes == int(pt.nframes) and takes(cs, pt, pid, va, choices))


def frames_chosen(cs: Containers, pt: PTPool, choices: list[int]) -> bool:
    """The frames the container layer may hand out name themselves back as physical frame
    numbers and are the pool's (`choices_roundtrip`, `chosen_in_pool`)."""
    return choices_roundtrip(choices) and chosen_in_pool(cs, pt, choices)


def counts_frames(cs: Containers, pt: PTPool) -> bool:
    """The pool's sizes, and the containers count its frames."""
    return sizes_ok(pt) and cs.nframes == int(pt.nframes)


@obligation("vm.map_page.frames_chosen")
def map_frames_chosen() -> Goal:
    """`frames_chosen` of every pair of frames, in every pool whose containers count its
    frames: arithmetic that map_page's invariant (`map_invariant`) assumes of its own."""
    cs, pt = fresh(CONTAINERS, "cs"), fresh(PTPOOL, "pt")
    choices = [z3.Int("choice0"), z3.Int("choice1")]
    given = run(counts_frames, lambda: [cs, pt])
    claim = run(frames_chosen, lambda: [cs, pt, choices])
    return Goal([given.result, *given.assumptions, *claim.assumptions], claim.result,
                {"containers": Shown(CONTAINERS, cs, _containers_size(cs, pt)),
                 "pt": Shown(PTPOOL, pt, _pool_size(pt)), "choice0": Shown(INT, choices[0]),
                 "choice1": Shown(INT, choices[1])},
                sizes=_sizes(cs, pt), replay=replay_frames_chosen)


def replay_frames_chosen(impl: types.ModuleType | None, containers: Containers, pt: PTPool, choice0: int,
                         choice1: int) -> None:
    if not counts_frames(containers, pt):
        raise InvalidCase("the containers do not count the pool's frames")
    assert frames_chosen(containers, pt, [choice0, choice1])


@obligation("vm.map_page.maps_words")
def map_words(aligned: bool = True) -> Goal:
    """`mapped_word` is `mapped_byte` four bytes at a time: in any pool, a memory whose four
    bytes at an aligned address are as `mapped_byte` says (as `vm.map_page.maps_new_page_only`
    shows map_page leaves every byte) holds the word `mapped_word` says there. What lets
    map_page's invariant assume its entries a word at a time. At any address
    (`aligned=False`) it fails: a word across the new PTE's edge is neither."""
    pt = fresh(PTPOOL, "pt")
    after = rewritten(pt)
    pid, va, a = z3.BitVec("pid", 32), z3.BitVec("va", 32), z3.BitVec("addr", 32)
    writable = z3.Bool("writable")
    choices = [z3.Int("choice0"), z3.Int("choice1")]
    # byte by byte: the four as one function would fork past the engine's paths
    given = [run(mapped_at, lambda i=i: [pt, after, pid, va, writable, choices, a + i]) for i in range(4)]
    claim = run(word_mapped_at, lambda: [pt, after, pid, va, writable, choices, a])
    assumed = [x for r in [*given, claim] for x in r.assumptions]
    return Goal([a & 3 == 0 if aligned else z3.BoolVal(True), *[g.result for g in given], *assumed],
                claim.result,
                {"pt": Shown(PTPOOL, pt, _pool_size(pt)), "written": Shown(MEM, after.mem, _pool_size(pt)),
                 **{n: Shown(WORD, x) for n, x in {"pid": pid, "va": va, "addr": a}.items()},
                 "writable": Shown(BOOL, writable), "choice0": Shown(INT, choices[0]),
                 "choice1": Shown(INT, choices[1])},
                sizes=[pt.mem.length], replay=replay_map_words,
                replay_extra={"aligned": aligned})


def replay_map_words(impl: types.ModuleType | None, pt: PTPool, written: bytearray, pid: Word, va: Word,
                     addr: Word, writable: bool, choice0: int, choice1: int, aligned: bool = True) -> None:
    after, choices = dataclasses.replace(pt, mem=written), [choice0, choice1]
    bytes_mapped = all(mapped_at(pt, after, pid, va, writable, choices, addr + i) for i in range(4))
    if (aligned and addr & 3) or not bytes_mapped:
        raise InvalidCase("the bytes at the address are not as map_page leaves them")
    assert word_mapped_at(pt, after, pid, va, writable, choices, addr)


def in_new_table(pt: PTPool, pid: Word, va: Word, k: Word) -> bool:
    """Page key k is pid's, under the page table map_page adds for va, if it adds one."""
    return needs_table(pt, pid, va) and pid_of(k) == pid and PDX(va_of(k)) == PDX(va)


def is_own(pt: PTPool, pid: Word, va: Word, k: Word, new_table: bool) -> bool:
    """Page key k is pid's for va, which needs a page table if `new_table`, and does not if not."""
    return in_keys(pt, k) and k == place(pid, va >> 12) and needs_table(pt, pid, va) == new_table


def own_pde_mapped(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                   choices: list[int], k: Word, new_table: bool) -> bool:
    """At pid's key for va: the PDE as `mapped_pde` says (as it was, where va has a table)."""
    if not is_own(pt, pid, va, k, new_table):
        return True
    return page_pde(after, k) == (mapped_pde(pt, pid, va, choices) if new_table else page_pde(pt, k))


def own_pte_mapped(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                   choices: list[int], k: Word, new_table: bool) -> bool:
    """At pid's key for va: the PTE as `mapped_pte` says."""
    return (not is_own(pt, pid, va, k, new_table)
            or pte_at(after, k) == mapped_pte(pt, pid, va, writable, choices))


def new_table_empty_at(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                       choices: list[int], k: Word) -> bool:
    """Another key under a new page table has no page."""
    if not in_keys(pt, k) or k == place(pid, va >> 12) or not in_new_table(pt, pid, va, k):
        return True
    return page_pde(after, k) == mapped_pde(pt, pid, va, choices) and pte_at(after, k) == 0


def other_key(pt: PTPool, pid: Word, va: Word, k: Word) -> bool:
    """k is a page key of the pool's pids other than pid's for va, and not under the page
    table map_page adds for va, if it adds one."""
    return (in_keys(pt, k) and pid_of(k) < pt.nproc and k != place(pid, va >> 12)
            and not in_new_table(pt, pid, va, k))


def other_page_unwritten(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                         choices: list[int], k: Word) -> bool:
    """Any other key of the pool's pids, not under a new page table: map_page does not
    write its PDE."""
    if not other_key(pt, pid, va, k):
        return True
    return unwritten(pt, pid, va, choices, pdir_entry_addr(pid_of(k), PDX(va_of(k))))


def table_unwritten(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                    choices: list[int], t: Word) -> bool:
    """A table key of the pool's pids other than a new page table's: map_page does not
    write its PDE."""
    if not in_table_keys(pt, t) or pid_of(t) >= pt.nproc:
        return True
    if needs_table(pt, pid, va) and t == table_of(pid, va >> 12):
        return True
    return unwritten(pt, pid, va, choices, pdir_entry_addr(pid_of(t), t >> PID_BITS))


def new_frame_back(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                   choices: list[int], f: int) -> bool:
    """The new page's frame, after: pid's, and its back pointer names va."""
    cs_after = allocated(cs, pt, pid, va, choices)
    return (f != mapped_frame(pt, pid, va, choices)
            or (cs_after.owner[f] == int(pid) and after.back_va[f] == va))


def new_table_back(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                   choices: list[int], f: int) -> bool:
    """A new page table's frame, after: pid's, noted as a page table whose back pointer
    names va's directory entry."""
    if not needs_table(pt, pid, va) or f != choices[0]:
        return True
    cs_after = allocated(cs, pt, pid, va, choices)
    return cs_after.owner[f] == int(pid) and after.is_ptbl[f] and after.back_va[f] == va & 0xFFC00000


def new_pde_read(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                 choices: list[int]) -> bool:
    """pid's PDE for va, in after, is as `mapped_pde` says."""
    return get_pdir_entry(after, pid, PDX(va)) == mapped_pde(pt, pid, va, choices)


def kernel_byte_kept(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                     choices: list[int], a: Word) -> bool:
    """A byte the kernel keeps as boot left it is as it was."""
    return not kernel_byte(pt, a) or after.mem[a] == pt.mem[a]


def other_pte_present(pt: PTPool, pid: Word, va: Word, k: Word) -> bool:
    """k is another key of the pool's pids, not under a new page table, whose page table is
    present: its PTE is a word of memory map_page might write."""
    return other_key(pt, pid, va, k) and page_pde(pt, k) & PTE_P != 0


def same_pte(pt: PTPool, pid: Word, va: Word, choices: list[int], k: Word) -> bool:
    """Another key's present PTE would be the one map_page writes in pid's present table:
    what `OTHER_PTE_STEPS` refute, a step at a time."""
    return (other_pte_present(pt, pid, va, k) and not needs_table(pt, pid, va)
            and page_entry_addr(pt, k) == new_pte_addr(pt, pid, va, choices))


def same_pte_same_slot(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                       choices: list[int], k: Word) -> bool:
    """The same PTE address is the same page table and the same index in it."""
    return not same_pte(pt, pid, va, choices, k) or (
        PTE_ADDR(page_pde(pt, k)) == PTE_ADDR(get_pdir_entry(pt, pid, PDX(va))) and PTX(va_of(k)) == PTX(va))


def same_pte_table_owned(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                         choices: list[int], k: Word) -> bool:
    """The same page table is a frame owned by both keys' processes, whose back pointer
    names both keys' directory indices (`table_entry_ok` at each)."""
    f = int(PTE_ADDR(page_pde(pt, k)) >> 12) - FIRST_FRAME
    return not same_pte(pt, pid, va, choices, k) or (
        f in cs.owner and cs.owner[f] == int(pid) and cs.owner[f] == int(pid_of(k))
        and pt.back_va[f] == PDX(va) << 22 and pt.back_va[f] == PDX(va_of(k)) << 22)


def same_pte_same_pde(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                      choices: list[int], k: Word) -> bool:
    """The same page table is the same process's entry for the same directory index: its
    owner and back pointer say whose and which (`table_entry_ok` at both)."""
    return not same_pte(pt, pid, va, choices, k) or (pid_of(k) == pid and PDX(va_of(k)) == PDX(va))


def other_pte_not_new_pte(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                          choices: list[int], k: Word) -> bool:
    """Another key's present PTE is not the one map_page writes, in pid's present table."""
    return not same_pte(pt, pid, va, choices, k)


# `other_page_apart`'s steps to `other_pte_unwritten`, each proved from those before it:
# asked at once, the claim took 50 to 300 s of the solver's search.
OTHER_PTE_STEPS = (same_pte_same_slot, same_pte_table_owned, same_pte_same_pde, other_pte_not_new_pte)


def other_pte_unwritten(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                        choices: list[int], k: Word) -> bool:
    """Any other key of the pool's pids, not under a new page table, whose page table is
    present: map_page does not write its PTE."""
    # `other_pte_present`'s test, written out: the goals that assume this claim are proved
    # with its terms as they are (through that call, refines_on_success took minutes more)
    if not other_key(pt, pid, va, k) or page_pde(pt, k) & PTE_P == 0:
        return True
    return unwritten(pt, pid, va, choices, page_entry_addr(pt, k))


def owned_pde_unwritten(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                        choices: list[int], f: int) -> bool:
    """An owned frame: map_page does not write the PDE its back pointer names."""
    if f not in cs.owner:
        return True
    return unwritten(pt, pid, va, choices, pdir_entry_addr(u32(cs.owner[f]), PDX(pt.back_va[f])))


def owned_pte_unwritten(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                        choices: list[int], f: int) -> bool:
    """An owned user page: map_page does not write the PTE its back pointer names."""
    if f not in cs.owner or pt.is_ptbl[f]:
        return True
    owner, back = u32(cs.owner[f]), pt.back_va[f]
    return unwritten(pt, pid, va, choices, ptbl_entry_addr(pt, owner, PDX(back), PTX(back)))


def table_mapped(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                 choices: list[int], t: Word) -> bool:
    """At a table key of the pool's pids: the new PDE, if map_page adds it there; else as it was."""
    if not in_table_keys(pt, t) or pid_of(t) >= pt.nproc:
        return True
    if needs_table(pt, pid, va) and t == table_of(pid, va >> 12):
        return pde_at(after, t) == mapped_pde(pt, pid, va, choices)
    return pde_at(after, t) == pde_at(pt, t)


def entry_words(after: PTPool, pid: Word, va: Word) -> list[Word]:
    """The addresses of pid's PDE for va and of the PTE it leads to, in after."""
    return [pdir_entry_addr(pid, PDX(va)), ptbl_entry_addr(after, pid, PDX(va), PTX(va))]


def new_pte_read(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                 choices: list[int]) -> bool:
    """pid's PTE for va, read through its PDE in after, is the new one."""
    return get_ptbl_entry_by_va(after, pid, va) == mapped_pte(pt, pid, va, writable, choices)


def owned_pde_kept(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                   choices: list[int], f: int) -> bool:
    """An owned frame: the PDE its back pointer names as it was."""
    if f not in cs.owner:
        return True
    owner, back = u32(cs.owner[f]), pt.back_va[f]
    return get_pdir_entry(after, owner, PDX(back)) == get_pdir_entry(pt, owner, PDX(back))


def owned_pte_kept(cs: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                   choices: list[int], f: int) -> bool:
    """An owned user page: the PTE its back pointer names as it was (its PDE kept, a step
    before: the PTE is then read at the same address)."""
    if f not in cs.owner or pt.is_ptbl[f]:
        return True
    owner, back = u32(cs.owner[f]), pt.back_va[f]
    return get_ptbl_entry_by_va(after, owner, back) == get_ptbl_entry_by_va(pt, owner, back)


def owned_notes_kept(cs: Containers, pt: PTPool, cs_after: Containers, after: PTPool, pid: Word, va: Word,
                     choices: list[int], f: int) -> bool:
    """A frame owned before keeps its owner and its notes."""
    return f not in cs.owner or (f in cs_after.owner and cs_after.owner[f] == cs.owner[f]
                                 and notes_kept(pt, after, pid, va, choices, f))


def frame_kind_ok(cs: Containers, pt: PTPool, cs_after: Containers, after: PTPool, pid: Word, va: Word,
                  choices: list[int], f: int, kind: int, part: Any) -> bool:
    """`part` (`frame_table_at` or `frame_page_at`) at frame f after, if f is the new page
    (`kind` 0), the new page table (1) or a frame owned before (2)."""
    if kind == 0 and f != mapped_frame(pt, pid, va, choices):
        return True
    if kind == 1 and (not needs_table(pt, pid, va) or f != choices[0]):
        return True
    if kind == 2 and f not in cs.owner:
        return True
    return at_frame(part, cs_after, after, f)


def new_entries_name_frames(pt: PTPool, pid: Word, va: Word, writable: bool, choices: list[int]) -> bool:
    """The PTE map_page writes, and the PDE where it takes a page table, are present and name
    the frames taken (arithmetic, where `maps` and `frames_chosen` hold)."""
    pde, pte = mapped_pde(pt, pid, va, choices), mapped_pte(pt, pid, va, writable, choices)
    table_named = pde & PTE_P != 0 and int(pde >> 12) == FIRST_FRAME + choices[0]
    return ((not needs_table(pt, pid, va) or table_named)
            and pte & PTE_P != 0 and int(pte >> 12) == FIRST_FRAME + mapped_frame(pt, pid, va, choices))


def pde_mapped(pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool, choices: list[int]) -> bool:
    """pid's PDE for va reads in after as `mapped_word` says."""
    return word_mapped_at(pt, after, pid, va, writable, choices, pdir_entry_addr(pid, PDX(va)))


def entries_mapped(pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                   choices: list[int]) -> bool:
    """pid's PDE for va and the PTE it leads to read in after as `mapped_word` says."""
    return all(word_mapped_at(pt, after, pid, va, writable, choices, x) for x in entry_words(after, pid, va))


def at_frame(fn: Any, cs: Containers, pt: PTPool, f: int) -> bool:
    """A part of the invariant that reads frame f alone, at f."""
    return fn(cs, pt, u32(0), u32(0), f, 0, u32(0))


def frame_back_ok(cs: Containers, pt: PTPool, f: int) -> bool:
    """`owned_ok` and `back_at` at frame f, as map_page's invariant has them."""
    return owned_ok(cs, pt, f) and at_frame(back_at, cs, pt, f)


def frame_at_ok(cs: Containers, pt: PTPool, f: int) -> bool:
    """`frame_table_at` and `frame_page_at` at frame f: `frame_ok`, if f is owned."""
    return at_frame(frame_table_at, cs, pt, f) and at_frame(frame_page_at, cs, pt, f)


Uses = tuple[Any, str]  # a function and the names of its arguments, among a lemma's inputs
OP_ARGS = "cs pt after pid va writable choices"


@dataclasses.dataclass(frozen=True)
class Lemma:
    """A claim about what map_page writes, proved apart from its invariant over small
    hypotheses (there, such a step took 40 s or more, or was unknown at 60 s) and assumed
    there: where map_page may map a page at va (`MAY_MAP`), given `given` and `key`, the
    claims hold. Without `key` it must fail (`lemma_hypotheses`)."""
    given: tuple[Uses, ...]
    key: Uses
    claims: tuple[Uses, ...]


MAY_MAP: tuple[Uses, ...] = ((counts_ok, "cs pt"), (maps, "cs pt pid va choices"),
                             (frames_chosen, "cs pt choices"))


def frame_in_pool(cs: Containers, f: int) -> bool:
    """f is one of the pool's frames, whose notes a run can read."""
    return 0 <= f and f < cs.nframes


MAP_LEMMAS = {
    "new_frame_noted": Lemma((), (noted_at, "pt after pid va choices frame"),
                             ((new_frame_back, f"{OP_ARGS} frame"),)),
    "new_page_entry": Lemma((), (entries_mapped, "pt after pid va writable choices"),
                            ((new_pte_read, OP_ARGS),)),
    "new_table_noted": Lemma(((noted_at, "pt after pid va choices frame"),),
                             (pde_mapped, "pt after pid va writable choices"),
                             ((new_table_back, f"{OP_ARGS} frame"), (new_pde_read, OP_ARGS))),
    "owned_frame_apart": Lemma(((frame_back_ok, "cs pt frame"),), (frame_at_ok, "cs pt frame"),
                               ((owned_pde_unwritten, f"{OP_ARGS} frame"),
                                (owned_pte_unwritten, f"{OP_ARGS} frame"))),
    "other_page_apart": Lemma((), (key_ok, "cs pt key"),
                              tuple((fn, f"{OP_ARGS} key")
                                    for fn in (*OTHER_PTE_STEPS, other_pte_unwritten))),
    "kernel_apart": Lemma((), (mapped_at, "pt after pid va writable choices byte"),
                          ((kernel_byte_kept, f"{OP_ARGS} byte"),)),
}


def lemma_hypotheses(lemma: Lemma, with_key: bool) -> list[Uses]:
    """What the lemma assumes: `MAY_MAP`, `given` and `key`. Without `key`, the frame is
    one of the pool's, so that a counterexample is a case a run can replay (the proof's
    notes are total; the pool's end at its last frame)."""
    return [*MAY_MAP, *lemma.given, lemma.key if with_key else (frame_in_pool, "cs frame")]


def map_lemma(name: str, with_key: bool = True) -> Goal:
    """The lemma `MAP_LEMMAS[name]` over a pool, containers, the pool with memory and notes
    written, and a frame, a page key and a byte as free points."""
    lemma = MAP_LEMMAS[name]
    cs, pt = fresh(CONTAINERS, "cs"), fresh(PTPOOL, "pt")
    inputs = {"cs": cs, "pt": pt, "after": rewritten(pt, notes=True), "pid": z3.BitVec("pid", 32),
              "va": z3.BitVec("va", 32), "writable": z3.Bool("writable"),
              "choices": [z3.Int("choice0"), z3.Int("choice1")], "frame": z3.Int("frame"),
              "key": z3.BitVec("key", 32), "byte": z3.BitVec("byte", 32)}
    given = [run(fn, lambda names=names: [inputs[n] for n in names.split()])
             for fn, names in lemma_hypotheses(lemma, with_key)]
    claims = [run(fn, lambda names=names: [inputs[n] for n in names.split()]) for fn, names in lemma.claims]
    shown = {"containers": Shown(CONTAINERS, cs, _containers_size(cs, pt)),
             "pt": Shown(PTPOOL, pt, _pool_size(pt)),
             "after": Shown(PTPOOL, inputs["after"], _pool_size(pt)),
             **{n: Shown(WORD, inputs[n]) for n in ("pid", "va", "key", "byte")},
             "writable": Shown(BOOL, inputs["writable"]), "choice0": Shown(INT, inputs["choices"][0]),
             "choice1": Shown(INT, inputs["choices"][1]), "frame": Shown(INT, inputs["frame"])}
    return Goal([*[g.result for g in given], *[x for r in given + claims for x in r.assumptions]],
                z3.And(*[c.result for c in claims]), shown, sizes=_sizes(cs, pt), replay=replay_map_lemma,
                replay_extra={"lemma": name, "with_key": with_key})


def replay_map_lemma(impl: types.ModuleType | None, containers: Containers, pt: PTPool, after: PTPool,
                     pid: Word, va: Word, writable: bool, choice0: int, choice1: int, frame: int, key: Word,
                     byte: Word, lemma: str, with_key: bool = True) -> None:
    """The lemma's claims on the case, given its hypotheses (a case whose hypotheses read
    outside the pool is none of the lemma's)."""
    inputs = {"cs": containers, "pt": pt, "after": after, "pid": pid, "va": va, "writable": writable,
              "choices": [choice0, choice1], "frame": frame, "key": key, "byte": byte}
    spec = MAP_LEMMAS[lemma]
    try:
        holds = all(fn(*[inputs[n] for n in names.split()]) for fn, names in lemma_hypotheses(spec, with_key))
    except IndexError:
        holds = False
    if not holds:
        raise InvalidCase("the case breaks the lemma's hypotheses")
    for fn, names in spec.claims:
        assert fn(*[inputs[n] for n in names.split()]), fn.__name__


for _name in MAP_LEMMAS:
    obligation(f"vm.map_page.{_name}")(lambda _name=_name: map_lemma(_name))


# 189 to 265 s by hand, 222 and 759 s in CI (2026-11-24), the slowest part a frame owned
# before (kind 2 of `frame_kind_ok`): docs/vm.md
@obligation("vm.map_page.invariant", 3.0)
def map_invariant(impl: types.ModuleType = impl_vm, noted: bool = True) -> Goal:
    """map_page keeps the invariant: where pid may map a page at va (`maps`), the new PTE,
    a new PDE and page table where va needs one, the frames taken (`allocated`) and their
    notes leave the invariant at a page key, a table key, a frame, a pid and a kernel
    address that are free constants, given it before there and where their entries lead,
    and memory and notes, where the points read them after, as map_page leaves them
    (`mapped_byte`, `noted_at`: so every state `vm.map_page.maps_new_page_only` shows it
    leaves), also at pid's own PDE and PTE for va. Assumed, as proved apart for every
    state: the new frames' owners, notes and entries (`vm.map_page.new_frame_noted`,
    `new_page_entry`, `new_table_noted`), and that an owned frame's entries and another
    key's PTE are not written (`owned_frame_apart`, `other_page_apart`). Steps: the
    points' entries read as map_page writes them or as they were, the new entries naming
    the frames taken, an owned frame's owner and notes kept, and the frame point after, by
    what it is (`frame_kind_ok`). Every run takes `maps` as given (`Points.assume`). Its
    hypotheses are shown satisfiable by a case (`map_invariant_example`), not by the solver.
    With the frames' notes left as they were (`noted=False`) it fails."""
    s = Points(notes=True)
    pid, va, writable = z3.BitVec("pid", 32), z3.BitVec("va", 32), z3.Bool("writable")
    choices = [z3.Int("choice0"), z3.Int("choice1")]
    s.assume(counts_ok, s.cs, s.pt)
    s.assume(maps, s.cs, s.pt, pid, va, choices)
    s.assume(frames_chosen, s.cs, s.pt, choices)  # proved of every state: vm.map_page.frames_chosen
    cs_after = s.given(allocated, s.cs, s.pt, pid, va, choices)
    for cs_at, pt_at in ((cs_after, s.after), (s.cs, s.pt)):  # where the points read, after and before
        # one point at a time, so that a hypothesis at one point does not carry another's paths
        for x in [*s.given(key_entries, pt_at, s.k), *s.given(table_entries, s.t),
                  *s.given(back_entries, cs_at, pt_at, s.f)]:
            s.given(word_mapped_at, s.pt, s.after, pid, va, writable, choices, x)
    s.given(mapped_at, s.pt, s.after, pid, va, writable, choices, s.a)
    frames = [s.f, s.given(page_frame, s.after, s.k), s.given(table_frame, s.after, s.t)]
    for g in frames:
        s.given(noted_at if noted else notes_kept, s.pt, s.after, pid, va, choices, g)
    op = [s.cs, s.pt, s.after, pid, va, writable, choices]
    for new_table in (False, True):
        s.step(own_pde_mapped, *op, s.k, new_table)
        s.step(own_pte_mapped, *op, s.k, new_table)
    s.step(new_table_empty_at, *op, s.k)
    s.step(other_page_unwritten, *op, s.k)
    s.step(table_unwritten, *op, s.t)
    s.step(table_mapped, *op, s.t)
    for x in s.given(entry_words, s.after, pid, va):
        s.given(word_mapped_at, s.pt, s.after, pid, va, writable, choices, x)
    # MAP_LEMMAS' claims, proved of every state and point (vm.map_page.*), where their
    # hypotheses hold here: at the frame point and the frames the points' entries name after
    for g in frames:
        s.given(new_frame_back, *op, g)
        s.given(new_table_back, *op, g)
    s.given(new_pte_read, *op)
    s.given(new_pde_read, *op)
    s.given(owned_pde_unwritten, *op, s.f)
    s.given(owned_pte_unwritten, *op, s.f)
    s.given(other_pte_unwritten, *op, s.k)
    s.given(kernel_byte_kept, *op, s.a)
    s.step(owned_pde_kept, *op, s.f)
    s.step(owned_pte_kept, *op, s.f)
    s.step(new_entries_name_frames, s.pt, pid, va, writable, choices)
    s.step(owned_notes_kept, s.cs, s.pt, cs_after, s.after, pid, va, choices, s.f)
    for kind in range(3):
        for part in (frame_table_at, frame_page_at):
            s.step(frame_kind_ok, s.cs, s.pt, cs_after, s.after, pid, va, choices, s.f, kind, part)
    named = {"pid": pid, "va": va, "writable": writable}
    return s.goal(cs_after, replay_map_invariant, {**named, "choice0": choices[0], "choice1": choices[1]},
                  {"noted": noted}, witness=(map_invariant_example(), map_invariant_witness(noted)))


def natively(fn: Any, *args: Any) -> bool:
    return bool(fn(*args))


def in_memory_or(fn: Any, *args: Any) -> bool:
    """fn(*args), natively, where it reads only memory there is: the proof reads a byte
    beyond memory as an arbitrary value, which a run cannot name."""
    try:
        return bool(fn(*args))
    except IndexError:
        return True


def noted_frames(pt: PTPool, after: PTPool, k: Word, t: Word, f: int) -> list[int]:
    """The frames whose notes map_page's invariant assumes (the frame point, and those key
    k's PTE and table key t's PDE name after), natively: those in the pool."""
    frames = [f]
    for named, point in ((page_frame, k), (table_frame, t)):
        try:
            frames.append(named(after, point))
        except IndexError:
            pass
    return [g for g in frames if 0 <= g < len(pt.is_ptbl)]


def owned_entries_read(cs: Containers, pt: PTPool, k: Word, t: Word, f: int) -> list[Word]:
    """`entries_read`, natively: at a frame nobody owns, the proof reads the entries of an
    arbitrary owner, which a run cannot name, so they are left out."""
    return key_entries(pt, k) + table_entries(t) + (back_entries(cs, pt, f) if f in cs.owner else [])


def notes_kept(pt: PTPool, after: PTPool, pid: Word, va: Word, choices: list[int], f: int) -> bool:
    """Frame f's notes in after are as they were in pt (a map_page that forgets them)."""
    return after.is_ptbl[f] == pt.is_ptbl[f] and after.back_va[f] == pt.back_va[f]


def map_invariant_case(containers: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word,
                       writable: bool, choice0: int, choice1: int, key: Word, table: Word, byte: Word,
                       frame: int, pid_at: int, noted: bool = True, strict: bool = False) -> bool:
    """map_page's invariant's hypotheses, natively: the invariant before at the points and
    where their entries lead, pid may map a page at va, and memory and notes read as
    map_page leaves them where the points read them (the entries they read after and
    before, and pid's own for va). A replay (not `strict`) skips what a run cannot name
    and the proof reads as arbitrary (`in_memory_or`, `owned_entries_read`, `noted_frames`);
    a case that witnesses the hypotheses (`strict`) must read all of it."""
    choices, points = [choice0, choice1], [key, table, frame, pid_at, byte]
    cs_after = allocated(containers, pt, pid, va, choices)
    notes = noted_at if noted else notes_kept
    if strict:
        read = [*entries_read(cs_after, after, key, table, frame),
                *entries_read(containers, pt, key, table, frame)]
        frames = [frame, page_frame(after, key), table_frame(after, table)]
        readable = natively
    else:
        read = [*owned_entries_read(cs_after, after, key, table, frame),
                *owned_entries_read(containers, pt, key, table, frame)]
        frames = noted_frames(pt, after, key, table, frame)
        readable = in_memory_or
    return (around_points(containers, pt, after, points) and maps(containers, pt, pid, va, choices)
            and frames_chosen(containers, pt, choices)
            and all(readable(word_mapped_at, pt, after, pid, va, writable, choices, x)
                    for x in [*read, *entry_words(after, pid, va)])
            and readable(mapped_at, pt, after, pid, va, writable, choices, byte)
            and all(notes(pt, after, pid, va, choices, g) for g in frames))


def strict_case(case: Callable[..., bool], **flags: Any) -> Callable[[dict[str, Any]], bool]:
    """Whether a case meets a goal's hypotheses in full (`case`, `strict`): a case that does
    shows them satisfiable without asking the solver (on map_page's invariant's, its answer
    took 17 s in one run and was unknown at 60 s in another)."""
    def holds(values: dict[str, Any]) -> bool:
        try:
            return case(**values, **flags, strict=True)
        except (IndexError, KeyError):
            return False
    return holds


def map_invariant_witness(noted: bool) -> Callable[[dict[str, Any]], bool]:
    """Whether a case meets map_page's invariant's hypotheses in full."""
    return strict_case(map_invariant_case, noted=noted)


def map_invariant_example() -> dict[str, Any]:
    """A case map_page's invariant assumes: pid 0, with one page, maps the next one (the
    refinements' example); the frame point is its page, which it keeps."""
    table, pt = example_state()
    cs, after = abstract_containers(table), copy.deepcopy(pt)
    pid, va, writable = (EXAMPLE_ARGS["map_page"][n] for n in ("pid", "va", "writable"))
    impl_vm.map_page(table, after, pid, va, writable)
    taken = sorted(set(abstract_containers(table).owner) - set(cs.owner))
    free = [f for f in range(cs.nframes) if f not in cs.owner and f not in taken]
    choice0, choice1 = [*taken, *free][:2]
    return {"containers": cs, "pt": pt, "after": after, "pid": pid, "va": va, "writable": writable,
            "choice0": choice0, "choice1": choice1, "key": place(pid, va >> 12),
            "table": table_of(pid, va >> 12), "byte": 0, "frame": max(cs.owner), "pid_at": pid}


def replay_map_invariant(impl: types.ModuleType | None, containers: Containers, pt: PTPool, after: PTPool,
                         pid: Word, va: Word, writable: bool, choice0: int, choice1: int, key: Word,
                         table: Word, byte: Word, frame: int, pid_at: int, noted: bool = True) -> None:
    """The invariant at the case's points with pid's page mapped at va, given the
    hypotheses (`map_invariant_case`). The lemmas the goal assumes are proved of every
    state, so they are not asked of the case."""
    if not map_invariant_case(containers, pt, after, pid, va, writable, choice0, choice1, key, table, byte,
                              frame, pid_at, noted):
        raise InvalidCase("the case breaks the obligation's hypotheses")
    points = [key, table, frame, pid_at, byte]
    assert invariant_at(allocated(containers, pt, pid, va, [choice0, choice1]), after, *points)


def page_byte_addr(pt: PTPool, k: Word, offset: Word) -> Word:
    """The physical address of the byte at the offset in the page key k's PTE names."""
    return PTE_ADDR(pte_at(pt, k)) | offset


def map_success_claims(v: dict[str, Any]) -> list[tuple[Any, list[Any]]]:
    """map_page's refinement's claims on a success, in the order they are proved, over the
    values v: the steps (pid's own entries at the page key, apart where va has a table and
    where it needs one; another key under a new table without a page; another key's PTE
    and the table key's PDE as written), then the impl's abstraction after (`got`) and the
    spec's (`vm`, `spec_mem`) with the same page, page table and byte."""
    op = [v[n] for n in "cs pt after pid va written choices".split()]
    k, t = v["key"], v["table"]
    return [*[(fn, [*op, k, new]) for new in (False, True) for fn in (own_pde_mapped, own_pte_mapped)],
            (new_table_empty_at, [*op, k]), (other_page_unwritten, [*op, k]),
            (table_unwritten, [*op, t]), (table_mapped, [*op, t]),
            (pages_agree, [v["got"], v["vm"], k]), (tables_agree, [v["got"], v["vm"], t]),
            (byte_agrees, [v["vm"], v["after"].mem, v["spec_mem"], k, v["offset"]])]


def map_success_read(pt: PTPool, after: PTPool, pid: Word, va: Word, k: Word, t: Word) -> list[Word]:
    """The entries the claims read: the page key's before and after, the table key's, and
    pid's own for va after."""
    return key_entries(pt, k) + key_entries(after, k) + table_entries(t) + entry_words(after, pid, va)


# 84 s alone; 214 s in a run of the container and VM layers with -j 2 beside map_page's
# invariant, its table key's claim 142 s of it (2026-11-24)
@obligation("vm.map_page.refines_on_success", 2.0)
def map_refines_on_success(rights: bool = True) -> Goal:
    """map_page's refinement on a success, over its footprint: where pid may map a page at
    va (`maps`, which every run takes as given), with the containers as `allocated` leaves
    them and memory as `mapped_byte` says where the claims read it (`map_success_read`, and
    the byte at an offset in the page key's page), the spec succeeds too, with the same
    containers, and at a page key, a table key and an offset that are free constants the
    same page, page table and byte (`map_success_claims`). Assumed, as proved apart for
    every state: the new PTE and PDE read back (`vm.map_page.new_page_entry`,
    `new_table_noted`), another key's PTE unwritten (`other_page_apart`). With the PTE's
    writable bit left out of the footprint (`rights=False`, a map_page that maps every
    page read-only) it fails."""
    r = Runs()
    cs, pt = fresh(CONTAINERS, "cs"), fresh(PTPOOL, "pt")
    after = rewritten(pt, notes=True)
    pid, va, writable = z3.BitVec("pid", 32), z3.BitVec("va", 32), z3.Bool("writable")
    written = writable if rights else False  # the W bit the footprint writes
    choices = [z3.Int("choice0"), z3.Int("choice1")]
    k, t, offset = z3.BitVec("key", 32), z3.BitVec("table", 32), z3.BitVec("offset", 32)
    r.assume(counts_ok, cs, pt)
    r.assume(maps, cs, pt, pid, va, choices)
    r.assume(frames_chosen, cs, pt, choices)  # proved of every state: vm.map_page.frames_chosen
    r.given(other_key_ok, cs, pt, k)
    r.given(table_key_ok, cs, pt, t)
    cs_after = r.given(allocated, cs, pt, pid, va, choices)
    for x in r.given(map_success_read, pt, after, pid, va, k, t):
        r.given(word_mapped_at, pt, after, pid, va, written, choices, x)
    r.given(mapped_at, pt, after, pid, va, written, choices, r.given(page_byte_addr, after, k, offset))
    op = [cs, pt, after, pid, va, written, choices]
    for fn in (new_pte_read, new_pde_read):  # MAP_LEMMAS' claims, proved of every state
        r.given(fn, *op)
    r.given(other_pte_unwritten, *op, k)
    err, vm, spec_mem = r.given(spec_call, "map_page", r.given(abstract, cs, pt), pt.mem, choices,
                                [pid, va, writable])
    got = r.given(abstract, cs_after, after)
    values = {"cs": cs, "pt": pt, "after": after, "pid": pid, "va": va, "written": written,
              "choices": choices, "key": k, "table": t, "offset": offset, "got": got, "vm": vm,
              "spec_mem": spec_mem}
    for fn, args in map_success_claims(values):
        r.step(fn, *args)
    shown = {"containers": Shown(CONTAINERS, cs, _containers_size(cs, pt)),
             "pt": Shown(PTPOOL, pt, _pool_size(pt)), "after": Shown(PTPOOL, after, _pool_size(pt)),
             **{n: Shown(WORD, x) for n, x in (("pid", pid), ("va", va), ("key", k), ("table", t),
                                                 ("offset", offset))},
             "writable": Shown(BOOL, writable), "choice0": Shown(INT, choices[0]),
             "choice1": Shown(INT, choices[1])}
    return Goal([*r.hypotheses(), z3.ULT(offset, PAGE_SIZE)],
                z3.And(err == E_SUCC, equal(CONTAINERS, got.containers, vm.containers),
                       *[step.result for step in r.steps]),
                shown, sizes=_sizes(cs, pt), points=[k, t, offset], replay=replay_map_refines_on_success,
                replay_extra={"rights": rights}, example=map_success_example(),
                admissible=strict_case(map_success_case, rights=rights))


def map_success_case(containers: Containers, pt: PTPool, after: PTPool, pid: Word, va: Word, writable: bool,
                     choice0: int, choice1: int, key: Word, table: Word, offset: Word, rights: bool = True,
                     strict: bool = False) -> bool:
    """map_page's success refinement's hypotheses, natively. A replay (not `strict`) skips
    a read beyond memory, which the proof reads as arbitrary (`in_memory_or`)."""
    choices, written = [choice0, choice1], writable and rights
    readable = natively if strict else in_memory_or
    op = [containers, pt, after, pid, va, written, choices]
    return (counts_ok(containers, pt) and maps(containers, pt, pid, va, choices)
            and frames_chosen(containers, pt, choices) and other_key_ok(containers, pt, key)
            and table_key_ok(containers, pt, table) and offset < PAGE_SIZE
            and all(readable(word_mapped_at, pt, after, pid, va, written, choices, x)
                    for x in map_success_read(pt, after, pid, va, key, table))
            and readable(mapped_at, pt, after, pid, va, written, choices, page_byte_addr(after, key, offset))
            and readable(new_pte_read, *op) and readable(new_pde_read, *op)
            and readable(other_pte_unwritten, *op, key))


def map_success_example() -> dict[str, Any]:
    """A case map_page's success refinement assumes: map_page's invariant's
    (`map_invariant_example`), at pid's own key and table key, offset 0."""
    case = map_invariant_example()
    for point in ("byte", "frame", "pid_at"):
        del case[point]
    return {**case, "offset": 0}


def replay_map_refines_on_success(impl: types.ModuleType | None, containers: Containers, pt: PTPool,
                                  after: PTPool, pid: Word, va: Word, writable: bool, choice0: int,
                                  choice1: int, key: Word, table: Word, offset: Word,
                                  rights: bool = True) -> None:
    """The claims on the case, given the hypotheses (`map_success_case`): the spec succeeds
    with the same containers, and each of `map_success_claims` holds."""
    choices = [choice0, choice1]
    try:
        holds = map_success_case(containers, pt, after, pid, va, writable, choice0, choice1, key, table,
                                 offset, rights)
    except IndexError:
        holds = False
    if not holds:
        raise InvalidCase("the case breaks the obligation's hypotheses")
    got = abstract(allocated(containers, pt, pid, va, choices), after)
    err, vm, spec_mem = spec_call("map_page", abstract(containers, pt), pt.mem, choices, [pid, va, writable])
    assert err == E_SUCC and got.containers == vm.containers, (err, got.containers, vm.containers)
    values = {"cs": containers, "pt": pt, "after": after, "pid": pid, "va": va,
              "written": writable and rights, "choices": choices, "key": key, "table": table,
              "offset": offset, "got": got, "vm": vm, "spec_mem": spec_mem}
    for fn, args in map_success_claims(values):
        assert fn(*args), fn.__name__


# Operations whose refinement after a success is an obligation of its own, over the
# operation's footprint (`map_refines_on_success`): as one goal, map_page's was unknown.
STATE_APART = {"map_page"}

# copyout's first part (its writes within the user's pages) takes 25 to 100 s alone from
# one run of the engine to the next, past the limit under a loaded CI: twice the limit
SLOW_WRITES = {"copyout": 2.0}
for _op in WRITES_USER:
    obligation(f"vm.{_op}.writes_user_only", scale=SLOW_WRITES.get(_op, 1.0))(
        lambda impl=impl_vm, _op=_op: writes_user_only(_op, impl))
for _op in MAPS_NEW_PAGE:
    obligation(f"vm.{_op}.maps_new_page_only")(lambda impl=impl_vm, _op=_op: maps_new_page_only(_op, impl))
for _op in CLEARS_OWN_DIRECTORY:
    obligation(f"vm.{_op}.clears_own_directory_only")(
        lambda impl=impl_vm, _op=_op: clears_own_directory_only(_op, impl))
for _op in CLEARS_OWN_ENTRY:  # 41 s alone, 286 s in a run of the layer with -j 2 (2026-11-23)
    obligation(f"vm.{_op}.clears_own_entry_only", 2.0)(
        lambda impl=impl_vm, _op=_op: clears_own_entry_only(_op, impl))


KINDS: dict[str, Any] = {
    "refines": lambda op, impl: refines(op, impl, state_after=op not in STATE_APART),
    "refines_large_pid": lambda op, impl: refines(op, impl, "beyond"),
    "unchanged_on_error": unchanged_on_error,
}

# Twice the runner's limit: in full runs at 300 s, unmap_page's refinement took 99 to 236 s,
# then over 310 s (timed out); copyout's 125 to 177 s. Alone at 600 s: unmap_page's 115 s.
HEAVY = {"vm.unmap_page.refines": 2.0, "vm.copyout.refines": 2.0}

for _op in OPERATIONS:
    for _kind, _builder in KINDS.items():
        _name = f"vm.{_op}.{_kind}"
        obligation(_name, HEAVY.get(_name, 1.0))(lambda impl=impl_vm, _op=_op, _b=_builder: _b(_op, impl))


# -- replays ---------------------------------------------------------------------------------


def replay_refines(impl: types.ModuleType | None, op: str, containers: Containers, choices: list[int],
                   pt: PTPool, key: Word | None = None, table: Word = 0, offset: Word = 0, **kw: Any) -> None:
    """The refinement's claims, run natively on the case: the same results; on an error
    both states as they were; after a success the same containers, and at the case's key,
    table key and offset the same page, page table and byte (a case without a key: of a
    refinement without the state after a success). The case need only satisfy the
    obligation's hypotheses (the invariant where the operation and the claims look), as
    the proof is about every such state."""
    values = {"containers": containers, "choices": choices, "pt": pt, **kw}
    at_key = key is None or (other_key_ok(containers, pt, key) and table_key_ok(containers, pt, table)
                             and offset < PAGE_SIZE)
    if not (admitted_case(op, values) and at_key):
        raise InvalidCase("the case breaks the obligation's hypotheses")
    before, pool = abstract(containers, pt), copy.deepcopy(pt)
    *want, vm, spec_mem = spec_call(op, before, pt.mem, choices, [kw[name] for name, _ in OPERATIONS[op][2]])
    got, lower = run_native(impl, op, containers, choices, pt, kw)
    assert got == tuple(want), (got, want)
    if got[0] != E_SUCC:
        assert (lower.cs, pt) == (containers, pool), f"errno {got[0]} but the state changed"
        assert (vm, spec_mem) == (before, pool.mem), f"errno {got[0]} but the spec changed its state"
        return
    if key is None:
        return
    after = abstract(lower.cs, pt)
    assert after.containers == vm.containers
    assert pages_agree(after, vm, key), (after.pages.get(key), vm.pages.get(key))
    assert tables_agree(after, vm, table), (after.tables.get(table), vm.tables.get(table))
    assert byte_agrees(vm, pt.mem, spec_mem, key, offset)


def run_admitted(impl: types.ModuleType | None, op: str, containers: Containers, choices: list[int],
                 pt: PTPool, kw: dict[str, Any]) -> tuple[int, SpecContainers, PTPool]:
    """(errno, the container layer after, the pool before) of the op run on a case the
    obligation's hypotheses admit (pt is changed in place)."""
    if not admitted_case(op, {"containers": containers, "choices": choices, "pt": pt, **kw}):
        raise InvalidCase("the case breaks the obligation's hypotheses")
    before = copy.deepcopy(pt)
    got, lower = run_native(impl, op, containers, choices, pt, kw)
    return got[0], lower, before


def same_but_memory(before: PTPool, after: PTPool, notes: bool = False) -> bool:
    """Every field of the pool as it was but memory's bytes, and but the per-frame notes'
    entries if `notes` (`kept_but_memory`, natively)."""
    changed = {"mem": before.mem, **({"is_ptbl": before.is_ptbl, "back_va": before.back_va} if notes else {})}
    return (all(len(getattr(after, name)) == len(kept) for name, kept in changed.items())
            and dataclasses.replace(after, **changed) == before)


def run_native(impl: types.ModuleType | None, op: str, containers: Containers, choices: list[int],
               pt: PTPool, kw: dict[str, Any]) -> tuple[tuple[Any, ...], SpecContainers]:
    """The impl's results, run natively over the container spec holding the case's containers
    and choices, and that container layer afterwards (pt is changed in place)."""
    lower = SpecContainers(cs=containers, choices=choices, taken=0)
    with over(impl or impl_vm, INTERFACE):
        got = impl_call(op, impl or impl_vm, lower, pt, [kw[name] for name, _ in OPERATIONS[op][2]])
    return got, lower


def replay_writes_user_only(impl: types.ModuleType | None, op: str, containers: Containers,
                            choices: list[int], pt: PTPool, addr: Word, **kw: Any) -> None:
    """Protected memory at the case's address as it was, and every other field."""
    _, lower, before = run_admitted(impl, op, containers, choices, pt, kw)
    assert protected_kept(before, pt, addr)
    assert same_but_memory(before, pt)
    assert lower.cs == containers


def replay_clears_own_entry_only(impl: types.ModuleType | None, op: str, containers: Containers,
                                 choices: list[int], pt: PTPool, addr: Word, **kw: Any) -> None:
    """After a success: the page was there, memory at the case's address is as it was unless
    it is pid's PTE for va, now 0, the frame is free again; every other field as it was."""
    err, lower, before = run_admitted(impl, op, containers, choices, pt, kw)
    if err == E_SUCC:
        assert unmaps(containers, before, kw["pid"], kw["va"])
        assert unmapped_at(before, pt, kw["pid"], kw["va"], addr)
        assert lower.cs == freed(containers, before, kw["pid"], kw["va"])
    assert same_but_memory(before, pt)


def replay_maps_new_page_only(impl: types.ModuleType | None, op: str, containers: Containers,
                               choices: list[int], pt: PTPool, addr: Word, frame: int, **kw: Any) -> None:
    """After a success: memory at the case's address as `mapped_byte` says, the frame's notes
    as `noted_at` says, the containers `allocated`; every other field as it was."""
    err, lower, before = run_admitted(impl, op, containers, choices, pt, kw)
    pid, va = kw["pid"], kw["va"]
    if err == E_SUCC:
        assert maps(containers, before, pid, va, choices)
        assert mapped_at(before, pt, pid, va, kw["writable"], choices, addr)
        assert not 0 <= frame < len(pt.is_ptbl) or noted_at(before, pt, pid, va, choices, frame)
        assert lower.cs == allocated(containers, before, pid, va, choices)
    assert same_but_memory(before, pt, notes=True)


def replay_clears_own_directory_only(impl: types.ModuleType | None, op: str, containers: Containers,
                                     choices: list[int], pt: PTPool, addr: Word, **kw: Any) -> None:
    """After a success: pid's container revoked, memory at the case's address as `torn_byte`
    says; every other field as it was."""
    err, lower, before = run_admitted(impl, op, containers, choices, pt, kw)
    if err == E_SUCC:
        assert tears_down(containers, before, kw["pid"])
        assert torn_at(before, pt, kw["pid"], addr)
        assert lower.cs == revoked(containers, kw["pid"])
    assert same_but_memory(before, pt)


def replay_user_write(impl: types.ModuleType | None, containers: Containers, pt: PTPool, written: PhysMem,
                      key: Word, table: Word, byte: Word, frame: int, pid_at: int,
                      with_kept: bool = True) -> None:
    """The invariant at the case's points in the pool with the written memory, given it
    before (and where the points' entries lead) and the protected bytes they read kept."""
    after = dataclasses.replace(pt, mem=written)
    points = [key, table, frame, pid_at, byte]
    kept = not with_kept or reads_kept(containers, pt, after, *points)
    if not (around_points(containers, pt, after, points) and kept):
        raise InvalidCase("the case breaks the obligation's hypotheses")
    assert invariant_at(containers, after, *points)


def replay_unmap_invariant(impl: types.ModuleType | None, containers: Containers, pt: PTPool,
                           written: PhysMem, pid: Word, va: Word, key: Word, table: Word, byte: Word,
                           frame: int, pid_at: int, cleared: bool = True) -> None:
    """The invariant at the case's points with pid's page at va unmapped, given it before (and
    where the points' entries lead) and the bytes they read as unmap_page leaves them."""
    after = dataclasses.replace(pt, mem=written)
    points = [key, table, frame, pid_at, byte]
    if not (around_points(containers, pt, after, points) and unmaps(containers, pt, pid, va)
            and reads_unmapped(containers, pt, after, pid, va, cleared, *points)):
        raise InvalidCase("the case breaks the obligation's hypotheses")
    assert invariant_at(freed(containers, pt, pid, va), after, *points)


def around_points(cs: Containers, pt: PTPool, after: PTPool, points: list[Any]) -> bool:
    """`Points`' hypotheses, natively: the invariant before at the points and around them,
    and a written memory of the pool's length."""
    return all(part(cs, pt, *points) for part in AROUND_POINTS) and len(after.mem) == len(pt.mem)


def replay_unchanged(impl: types.ModuleType | None, op: str, containers: Containers, choices: list[int],
                     pt: PTPool, **kw: Any) -> None:
    err, lower, before = run_admitted(impl, op, containers, choices, pt, kw)
    assert err == E_SUCC or (lower.cs, pt) == (containers, before), f"errno {err} but the state changed"


def replay_keeps_the_state(impl: types.ModuleType | None, op: str, containers: Containers, choices: list[int],
                           pt: PTPool, **kw: Any) -> None:
    err, lower, before = run_admitted(impl, op, containers, choices, pt, kw)
    assert (lower.cs, pt) == (containers, before), f"errno {err}, and the state changed"


# -- boot -------------------------------------------------------------------------------------


def config_ok(cfg: Config, nframes: int) -> bool:
    """A kernel this layer boots: one process up to the pool's MAX_PROC, as many container
    frames as frame numbers can name, and a user range of whole pages, above 0, in words."""
    lo, hi = u32(cfg.VM_USERLO), u32(cfg.VM_USERHI)
    return (1 <= cfg.NUM_PROC and cfg.NUM_PROC <= MAX_PROC and 0 <= cfg.ROOT_QUOTA
            and 0 <= nframes and nframes < (1 << 20) - FIRST_FRAME
            and cfg.VM_USERLO == int(lo) and cfg.VM_USERHI == int(hi)
            and lo & 0xFFF == 0 and hi & 0xFFF == 0 and lo != 0 and lo < hi)


def booted(vm: Vm, pt: PTPool) -> bool:
    """The pool pt_init builds, over the containers of spec.vm's boot state vm, abstracts to
    vm and has the invariant."""
    return abstract(vm.containers, pt) == vm and vm_ok(vm.containers, pt)


BOOT_CONFIG = ("NUM_PROC", "ROOT_QUOTA", "VM_USERLO", "VM_USERHI")


@obligation("vm.init.refines")
def init_refines(impl: types.ModuleType = impl_vm) -> Goal:
    """Boot: no user page or page table anywhere, the container layer's boot, and the
    invariant, for every config this layer boots."""
    words = ("NUM_PROC", "nframes", "VM_USERLO", "VM_USERHI")  # config_ok bounds them to words
    values = {name: z3.BV2Int(z3.BitVec(name, 32)) for name in words}
    values["ROOT_QUOTA"] = z3.Int("ROOT_QUOTA")
    cfg, nframes = boot_config(values), values["nframes"]
    given = run(config_ok, lambda: [cfg, nframes])
    pt = run(impl.pt_init, lambda: [cfg, nframes])
    want = run(spec_vm.boot, lambda: [cfg, nframes])
    claim = run(booted, lambda: [unflatten(VM, flatten(VM, want.result)), pt.result])  # its maps as arrays
    example = {"nframes": 4, **{name: getattr(EXAMPLE_CONFIG, name) for name in BOOT_CONFIG}}
    return Goal([given.result, *[a for r in (given, pt, want, claim) for a in r.assumptions]], claim.result,
                {name: Shown(INT, x) for name, x in values.items()},
                sizes=[cfg.NUM_PROC, nframes, (cfg.VM_USERHI - cfg.VM_USERLO) / (1 << 22)],
                replay=replay_init, replay_module=impl.__name__, example=example,
                admissible=lambda case: config_ok(boot_config(case), case["nframes"]))


def boot_config(values: dict[str, Any]) -> Config:
    return Config(**{name: values[name] for name in BOOT_CONFIG})


def replay_init(impl: types.ModuleType | None, **values: Any) -> None:
    cfg = boot_config(values)
    if not config_ok(cfg, values["nframes"]):
        raise InvalidCase("the config is not one this layer boots")
    assert booted(spec_vm.boot(cfg, values["nframes"]), (impl or impl_vm).pt_init(cfg, values["nframes"]))


# -- the whole quota back -------------------------------------------------------------------


def tree_at(cs: Containers, p: int) -> bool:
    """The container tree at a live non-root p: its parent is live, and another container
    (a child's pid is above its parent's)."""
    return parent_ok(cs, p) and (p not in cs.live or p == 0 or cs.live[p].parent != p)


def quota_back(before: Vm, pid: Word, err: int, after: Vm) -> bool:
    """After a teardown, the process's whole quota is its parent's again (the parent's usage
    drops by it), and the process holds no frame, page or page table."""
    cs, p = before.containers, int(pid)
    if err != E_SUCC:
        return True
    parent = cs.live[p].parent
    return (p not in after.containers.live and parent in after.containers.live
            and after.containers.live[parent].usage == cs.live[parent].usage - cs.live[p].quota
            and all(after.containers.owner[f] != p for f in after.containers.owner)
            and all(pid_of(k) != pid for k in after.pages)
            and all(pid_of(t) != pid for t in after.tables))


@obligation("vm.teardown.quota_back")
def teardown_quota_back(with_tree: bool = True) -> Goal:
    """spec.vm.teardown gives the whole quota back, for every state with the container
    tree at pid (`with_tree=False` leaves that hypothesis out, to show it is needed)."""
    leaves = flatten(VM, fresh(VM, "vm"))
    pid = z3.BitVec("pid", 32)
    tree = run(tree_at, lambda: [unflatten(VM, leaves).containers, z3.BV2Int(pid)])
    out = run(spec_vm.teardown, lambda: [unflatten(VM, leaves), pid])
    err, after = out.result
    claim = run(quota_back, lambda: [unflatten(VM, leaves), pid, err, after])
    given = [tree.result] if with_tree else []
    return Goal([*given, *tree.assumptions, *out.assumptions, *claim.assumptions], claim.result,
                {"vm": Shown(VM, unflatten(VM, leaves)), "pid": Shown(WORD, pid)})


# -- isolation ----------------------------------------------------------------------------------


def isolated(vm: Vm, k: Word, other: Word, t: Word) -> bool:
    """At page keys k and other and table key t: a frame is mapped at one page only, is
    never both a user page and a page table, and is charged to the process that maps it."""
    return k not in vm.pages or (
        (other not in vm.pages or vm.pages[other].frame != vm.pages[k].frame or other == k)
        and (t not in vm.tables or vm.tables[t] != vm.pages[k].frame)
        and vm.containers.owner[int(vm.pages[k].frame) - FIRST_FRAME] == int(pid_of(k)))


def isolation_given(cs: Containers, pt: PTPool, k: Word, other: Word, t: Word, with_tables: bool) -> bool:
    """The invariant where isolation looks: the pool's sizes, the entries at two page keys,
    and at a table key its pid and, unless `with_tables` is False (to show it is needed),
    its entry."""
    return (sizes_ok(pt) and other_key_ok(cs, pt, k) and other_key_ok(cs, pt, other)
            and pid_ok(cs, pt, pid_of(t)) and (not with_tables or table_key_ok(cs, pt, t)))


@obligation("vm.state.isolation")
def isolation(with_tables: bool = True) -> Goal:
    """Every state with the invariant is isolated: stated at two page keys and a table key
    that are fresh constants (so at all of them), given the invariant at those keys."""
    cs, pt = fresh(CONTAINERS, "cs"), fresh(PTPOOL, "pt")
    k, other, t = z3.BitVec("key", 32), z3.BitVec("other", 32), z3.BitVec("table", 32)
    given = run(isolation_given, lambda: [cs, pt, k, other, t, with_tables])
    vm = run(abstract, lambda: [cs, pt])
    claim = run(isolated, lambda: [vm.result, k, other, t])
    return Goal([given.result, *given.assumptions, *vm.assumptions, *claim.assumptions], claim.result,
                {"containers": Shown(CONTAINERS, cs, _containers_size(cs, pt)),
                 "pt": Shown(PTPOOL, pt, _pool_size(pt)),
                 "key": Shown(WORD, k), "other": Shown(WORD, other), "table": Shown(WORD, t)},
                sizes=_sizes(cs, pt), replay=replay_isolation,
                replay_extra={"with_tables": with_tables})


def replay_isolation(impl: types.ModuleType | None, containers: Containers, pt: PTPool, key: Word,
                     other: Word, table: Word, with_tables: bool = True) -> None:
    if not isolation_given(containers, pt, key, other, table, with_tables):
        raise InvalidCase("the state breaks the invariant at the keys")
    assert isolated(abstract(containers, pt), key, other, table)
