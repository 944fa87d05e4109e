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

from impl.vm import (
    PT_PERM_PTU,
    PTPool,
    boot_word,
    get_pdir_entry,
    get_ptbl_entry_by_va,
    is_user_pdx,
    kern_ptbl,
    pdir_base,
)
from impl.x86 import PDX
from spec.abi import PTE_A, PTE_D, PTE_P, PTE_U, PTE_W
from spec.container import Containers
from spec.map import Map
from spec.vm import PAGE_SIZE, PID_BITS, PID_MASK, Vm, pages_needed, place
from spec.x86 import Mapping, Word, u8, u32

# -- abstraction and invariant (executable) --------------------------------------------------


def pid_of(k: Word) -> int:
    return int(k & PID_MASK)


def va_of(k: Word) -> Word:
    return k >> PID_BITS << 12


def page_keys(pt: PTPool) -> tuple[Word, Word]:
    """The keys of every page the user page tables describe: the user range, rounded out to
    whole page tables."""
    return place(0, PDX(pt.userlo) << 10), place(0, (PDX(pt.userhi - 1) + 1) << 10)


def table_keys(pt: PTPool) -> tuple[Word, Word]:
    """The keys of every user page table: one per page-directory entry of the user range."""
    return PDX(pt.userlo) << PID_BITS, (PDX(pt.userhi - 1) + 1) << PID_BITS


def pte_at(pt: PTPool, k: Word) -> Word:
    return get_ptbl_entry_by_va(pt, pid_of(k), va_of(k))


def pde_at(pt: PTPool, t: Word) -> Word:
    return get_pdir_entry(pt, pid_of(t), t >> PID_BITS)


def mapping_of(pte: Word) -> Mapping:
    return Mapping(frame=pte >> 12, writable=pte & PTE_W != 0, user=True)


def abstract(cs: Containers, pt: PTPool) -> Vm:
    """Every live process's present user PTEs, and its present user PDEs."""
    lo, hi = page_keys(pt)
    tlo, thi = table_keys(pt)
    pages = Map({k: mapping_of(pte_at(pt, k)) for k in range(lo, hi)
                 if pid_of(k) in cs.live and pte_at(pt, k) & PTE_P != 0})
    tables = Map({t: pde_at(pt, t) >> 12 for t in range(tlo, thi)
                  if pid_of(t) in cs.live and pde_at(pt, t) & PTE_P != 0})
    return Vm(userlo=pt.userlo, userhi=pt.userhi, containers=cs, pages=pages, tables=tables)


def layout_ok(cs: Containers, pt: PTPool) -> bool:
    """Sizes agree with the container layer; memory is the frames, the page directories and
    the kernel's page table; the user range is whole pages; the containers' pids and frames
    are in range."""
    return (cs.nproc == pt.nproc and cs.nframes == pt.nframes
            and 1 <= pt.nproc and pt.nproc <= PID_MASK + 1 and 0 <= pt.nframes
            and pt.nframes + pt.nproc + 1 < 1 << 20
            and len(pt.mem) == u32((pt.nframes + pt.nproc + 1) * PAGE_SIZE)
            and pt.userlo & 0xFFF == 0 and pt.userhi & 0xFFF == 0 and pt.userlo != 0 and pt.userlo < pt.userhi
            and all(0 <= p and p < cs.nproc for p in cs.live)
            and all(0 <= f and f < cs.nframes and cs.owner[f] in cs.live for f in cs.owner))


def accessed_bit(a: Word) -> int:
    """The accessed bit, in the byte at a of an entry that holds it."""
    return PTE_A if a & 3 == 0 else 0


def kernel_ok(pt: PTPool) -> bool:
    """The kernel's page table and every page directory's kernel region are as booted, but
    for the accessed bits the MMU sets in a kernel PDE when a user access reads it."""
    return all(pt.mem[a] | accessed_bit(a) == u8(boot_word(pt, a) >> ((a & 3) << 3)) | accessed_bit(a)
               for a in range(pdir_base(pt, 0), u32(len(pt.mem)))
               if a >= kern_ptbl(pt) or not is_user_pdx(pt, (a >> 2) & 0x3FF))


def user_pte_ok(pte: Word) -> bool:
    """Present and user, writable or not; accessed and dirty as the MMU left them."""
    return pte & 0xFFF & ~u32(PTE_W | PTE_A | PTE_D) == PTE_P | PTE_U


def page_ok(cs: Containers, pt: PTPool, k: Word) -> bool:
    """A user PTE is absent, or maps a frame its process owns, in the user range, and the
    frame's back pointer names this page."""
    pid = pid_of(k)
    pte = pte_at(pt, k)
    f = int(pte >> 12)
    return pid >= pt.nproc or pte == 0 or (
        user_pte_ok(pte) and pt.userlo <= va_of(k) and va_of(k) < pt.userhi
        and f < pt.nframes and f in cs.owner and cs.owner[f] == pid
        and not pt.is_ptbl[f] and pt.back_va[f] == va_of(k))


def table_ok(cs: Containers, pt: PTPool, t: Word) -> bool:
    """A user PDE is absent, or names a page table its live process owns, whose back
    pointer names this entry."""
    pid = pid_of(t)
    pde = pde_at(pt, t)
    f = int(pde >> 12)
    return pid >= pt.nproc or pde == 0 or (
        pid in cs.live and pde & 0xFFF | PTE_A == PT_PERM_PTU | PTE_A
        and f < pt.nframes and f in cs.owner and cs.owner[f] == pid
        and pt.is_ptbl[f] and pt.back_va[f] == t >> PID_BITS << 22)


def frame_ok(cs: Containers, pt: PTPool, f: int) -> bool:
    """A frame a process owns is the page table or the user page its back pointer names."""
    pid = cs.owner[f]
    va = pt.back_va[f]
    if pt.is_ptbl[f]:
        pde = get_pdir_entry(pt, pid, PDX(va))
        return va & 0x3FFFFF == 0 and is_user_pdx(pt, PDX(va)) and pde & PTE_P != 0 and int(pde >> 12) == f
    pte = get_ptbl_entry_by_va(pt, pid, va)
    return (va & 0xFFF == 0 and pt.userlo <= va and va < pt.userhi
            and pte & PTE_P != 0 and int(pte >> 12) == f)


def vm_ok(cs: Containers, pt: PTPool) -> bool:
    lo, hi = page_keys(pt)
    tlo, thi = table_keys(pt)
    return (layout_ok(cs, pt) and kernel_ok(pt)
            and all(page_ok(cs, pt, k) for k in range(lo, hi))
            and all(table_ok(cs, pt, t) for t in range(tlo, thi))
            and all(frame_ok(cs, pt, f) for f in cs.owner))


def spec_frames(vm: Vm, pid: int, va: Word, choices: list[int]) -> tuple[int, int]:
    """(table frame, page frame) for spec.vm.map_page, from the frames the layer below hands
    out in order: a page table, if va needs one, comes first."""
    if pages_needed(vm, pid, va) == 2:
        return choices[0], choices[1]
    return 0, choices[0]
