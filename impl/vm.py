"""Page tables as mCertikOS's MPTIntro .. MPTNew keep them, in the x86 layer's physical memory.

Physical memory holds, in this order: a page directory for each possible pid (PTPool_LOC,
static, not charged), the kernel's page table, and the container frames (container frame
f is physical frame FIRST_FRAME + f).
Every page directory maps the kernel region (outside [VM_USERLO, VM_USERHI)) through the
kernel's page table, present and supervisor-only: mCertikOS's identity tables IDPTbl,
folded into one since this kernel reaches physical memory directly. A user page table
is a container frame, taken when its first page is mapped and kept until teardown.
Per frame the pool notes what a frame given to a process holds (its `struct page`): a
page table or a user page, and at which virtual address (a page table's: its first).

This layer calls the container layer only through its interface (container_alloc,
container_free, container_can_consume, container_revoke, alive), and the x86 layer
through its physical-memory accessors and the entry format.
"""

from __future__ import annotations

from dataclasses import dataclass

from impl.container import (
    ContainerTable,
    alive,
    container_alloc,
    container_can_consume,
    container_free,
    container_revoke,
)
from impl.x86 import PDX, PTE_ADDR, PTX, phys_load32, phys_store32
from spec.abi import (
    E_EXCEEDS_QUOTA,
    E_INVAL_ADDR,
    E_INVAL_ARG,
    E_INVAL_PID,
    E_SUCC,
    FIRST_FRAME,
    KERN_PTBL_FRAME,
    PTE_P,
    PTE_U,
    PTE_W,
    Config,
)
from spec.x86 import PhysMem, Word, u8, u32

PAGE_SIZE = 4096
NPDE = 1024
PT_PERM_PTU = PTE_P | PTE_W | PTE_U  # a user page table: rights are decided in its PTEs
PT_PERM_KERN = PTE_P | PTE_W  # the kernel region: supervisor only


@dataclass
class PTPool:
    nproc: Word
    nframes: Word
    userlo: Word
    userhi: Word
    mem: PhysMem
    is_ptbl: list[bool]
    back_va: list[Word]


def pdir_base(pid: Word) -> Word:
    """The physical address of pid's page directory (a 32-bit word: for a pid of 2**20 or
    more it wraps, as in C, onto another directory; callers check pid first)."""
    return u32(pid << 12)


def kern_ptbl() -> Word:
    return u32(KERN_PTBL_FRAME) << 12


def frame_base(f: int) -> Word:
    """The physical address of container frame f, a 32-bit word as the C shift makes it."""
    return u32(u32(FIRST_FRAME + f) << 12)


def is_user_pdx(pt: PTPool, pdx: Word) -> bool:
    """The page table at pdx maps some of the user range."""
    return PDX(pt.userlo) <= pdx and pdx <= PDX(pt.userhi - 1)


def boot_byte(pt: PTPool, a: Word) -> int:
    """The byte at a of the entry boot writes there."""
    return u8(boot_word(pt, a) >> ((a & 3) << 3))


def boot_word(pt: PTPool, a: Word) -> Word:
    """The entry at a, outside the container frames, at boot: the kernel's page table maps
    the first 4 MiB; a page directory maps the kernel region through it."""
    e = (a >> 2) & 0x3FF
    if a >= kern_ptbl():
        return e << 12 | PT_PERM_KERN
    if is_user_pdx(pt, e):
        return u32(0)
    return kern_ptbl() | PT_PERM_KERN


def pt_init(cfg: Config, nframes: int) -> PTPool:
    """Every process's page directory with the kernel region only; the container frames zero."""
    pt = PTPool(nproc=u32(cfg.NUM_PROC), nframes=u32(nframes),
                userlo=u32(cfg.VM_USERLO), userhi=u32(cfg.VM_USERHI),
                mem=bytearray((u32(nframes) + FIRST_FRAME) << 12),
                is_ptbl=[False] * nframes, back_va=[u32(0)] * nframes)
    for a in range(u32(0), pt.nproc << 12):
        pt.mem[a] = boot_byte(pt, a)
    for a in range(kern_ptbl(), kern_ptbl() + PAGE_SIZE):
        pt.mem[a] = boot_byte(pt, a)
    return pt


# -- MPTIntro: entries --------------------------------------------------------------------


def pdir_entry_addr(pid: Word, pdx: Word) -> Word:
    """The physical address of entry pdx of pid's page directory."""
    return pdir_base(pid) | pdx << 2


def get_pdir_entry(pt: PTPool, pid: Word, pdx: Word) -> Word:
    return phys_load32(pt.mem, pdir_entry_addr(pid, pdx))


def set_pdir_entry(pt: PTPool, pid: Word, pdx: Word, frame: int) -> None:
    phys_store32(pt.mem, pdir_entry_addr(pid, pdx), frame_base(frame) | PT_PERM_PTU)


def ptbl_entry_addr(pt: PTPool, pid: Word, pdx: Word, ptx: Word) -> Word:
    """The physical address of entry ptx of the page table pid's entry pdx names."""
    return PTE_ADDR(get_pdir_entry(pt, pid, pdx)) | ptx << 2


def get_ptbl_entry(pt: PTPool, pid: Word, pdx: Word, ptx: Word) -> Word:
    return phys_load32(pt.mem, ptbl_entry_addr(pt, pid, pdx, ptx))


def set_ptbl_entry(pt: PTPool, pid: Word, pdx: Word, ptx: Word, frame: int, perm: Word) -> None:
    phys_store32(pt.mem, ptbl_entry_addr(pt, pid, pdx, ptx), frame_base(frame) | perm)


def rmv_ptbl_entry(pt: PTPool, pid: Word, pdx: Word, ptx: Word) -> None:
    phys_store32(pt.mem, ptbl_entry_addr(pt, pid, pdx, ptx), u32(0))


# -- MPTOp: by virtual address --------------------------------------------------------------


def get_ptbl_entry_by_va(pt: PTPool, pid: Word, va: Word) -> Word:
    """pid's PTE for va, or 0 where va has no page table."""
    if not get_pdir_entry(pt, pid, PDX(va)) & PTE_P:
        return u32(0)
    return get_ptbl_entry(pt, pid, PDX(va), PTX(va))


def user_pa(pt: PTPool, pid: Word, va: Word, write: bool) -> tuple[bool, Word]:
    """(True, physical address) where pid may access va from user mode, as the MMU would
    decide, without touching accessed or dirty bits."""
    pde = get_pdir_entry(pt, pid, PDX(va))
    need = u32(PTE_P | PTE_U) | (u32(PTE_W) if write else u32(0))
    if pde & need != need:
        return False, u32(0)
    pte = get_ptbl_entry(pt, pid, PDX(va), PTX(va))
    if pte & need != need:
        return False, u32(0)
    return True, PTE_ADDR(pte) | (va & 0xFFF)


# -- MPTComm / MPTNew: page tables and pages -------------------------------------------------


def zero_frame(pt: PTPool, frame: int) -> None:
    for a in range(frame_base(frame), frame_base(frame) + PAGE_SIZE):
        pt.mem[a] = 0


def is_user_page(pt: PTPool, va: Word) -> bool:
    return va & 0xFFF == 0 and pt.userlo <= va and va < pt.userhi


def map_page(c: ContainerTable, pt: PTPool, pid: Word, va: Word, writable: bool) -> int:
    """A new zeroed user page at va, with a new page table first if va has none."""
    if not alive(c, int(pid)):
        return E_INVAL_PID
    if not is_user_page(pt, va) or get_ptbl_entry_by_va(pt, pid, va) & PTE_P:
        return E_INVAL_ADDR
    has_ptbl = get_pdir_entry(pt, pid, PDX(va)) & PTE_P != 0
    if not container_can_consume(c, int(pid), 1 if has_ptbl else 2):
        return E_EXCEEDS_QUOTA
    ptbl = 0
    if not has_ptbl:
        err, ptbl = container_alloc(c, int(pid))
        if err != E_SUCC:
            return err
    err, frame = container_alloc(c, int(pid))
    if err != E_SUCC:
        if not has_ptbl:
            container_free(c, int(pid), ptbl)
        return err
    if not has_ptbl:
        zero_frame(pt, ptbl)
        set_pdir_entry(pt, pid, PDX(va), ptbl)
        pt.is_ptbl[ptbl] = True
        pt.back_va[ptbl] = va & 0xFFC00000
    zero_frame(pt, frame)
    pt.is_ptbl[frame] = False
    pt.back_va[frame] = va
    perm = u32(PTE_P | PTE_U) | (u32(PTE_W) if writable else u32(0))
    set_ptbl_entry(pt, pid, PDX(va), PTX(va), frame, perm)
    return E_SUCC


def unmap_page(c: ContainerTable, pt: PTPool, pid: Word, va: Word) -> int:
    """The user page at va gone and its frame back with the container; its table stays."""
    if not alive(c, int(pid)):
        return E_INVAL_PID
    pte = get_ptbl_entry_by_va(pt, pid, va)
    if not is_user_page(pt, va) or not pte & PTE_P:
        return E_INVAL_ADDR
    err = container_free(c, int(pid), int(pte >> 12) - FIRST_FRAME)
    if err != E_SUCC:
        return err
    rmv_ptbl_entry(pt, pid, PDX(va), PTX(va))
    return E_SUCC


def in_user_range(pt: PTPool, va: Word, n: Word) -> bool:
    return pt.userlo <= va and va < pt.userhi and n <= pt.userhi - va


def pt_copyin(pt: PTPool, pid: Word, va: Word, n: Word) -> tuple[int, bytes]:
    """(errno, the n bytes pid sees at va); n is at most a page, so it spans two at most."""
    if n > PAGE_SIZE:
        return E_INVAL_ARG, b""
    if not in_user_range(pt, va, n):
        return E_INVAL_ADDR, b""
    if n == 0:
        return E_SUCC, b""
    if pid >= pt.nproc:
        return E_INVAL_ADDR, b""
    ok, first = user_pa(pt, pid, va, False)
    ok_last, last = user_pa(pt, pid, va + n - 1, False)
    if not ok or not ok_last:
        return E_INVAL_ADDR, b""
    k = min(n, PAGE_SIZE - (va & 0xFFF))
    second = PTE_ADDR(last)
    return E_SUCC, bytes(pt.mem[first + i] if i < k else pt.mem[second + i - k] for i in range(u32(0), n))


def pt_copyout(pt: PTPool, pid: Word, va: Word, buf: bytes) -> int:
    """pid's bytes at va become buf, or nothing changes; buf is at most a page."""
    n = u32(len(buf))
    if n > PAGE_SIZE:
        return E_INVAL_ARG
    if not in_user_range(pt, va, n):
        return E_INVAL_ADDR
    if n == 0:
        return E_SUCC
    if pid >= pt.nproc:
        return E_INVAL_ADDR
    ok, first = user_pa(pt, pid, va, True)
    ok_last, last = user_pa(pt, pid, va + n - 1, True)
    if not ok or not ok_last:
        return E_INVAL_ADDR
    k = min(n, PAGE_SIZE - (va & 0xFFF))
    second = PTE_ADDR(last)
    for a in range(first, first + k):
        pt.mem[a] = buf[a - first]
    for a in range(second, second + n - k):
        pt.mem[a] = buf[k + a - second]
    return E_SUCC


def pt_teardown(c: ContainerTable, pt: PTPool, pid: Word) -> int:
    """A childless process's address space gone: its container revoked (every page and page
    table freed, its quota back with its parent) and its user page-directory entries cleared."""
    err = container_revoke(c, int(pid))
    if err != E_SUCC:
        return err
    base = pdir_base(pid)
    for a in range(base | PDX(pt.userlo) << 2, base + ((PDX(pt.userhi - 1) + 1) << 2)):
        pt.mem[a] = 0
    return E_SUCC
