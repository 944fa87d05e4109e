"""The x86 machine as the kernel sees it: 32-bit two-level paging over physical memory.

`walk` is the MMU: it translates one access exactly as the CPU does (CR0.PG = 1,
CR0.WP = 1, CR4.PSE = 0), setting the accessed and dirty bits in the entries it uses
and raising `PageFault` where the CPU raises #PF. Physical memory is a bytearray;
addresses past its end read as 0 (not present) and are never written.
"""

from __future__ import annotations

from spec.abi import PFEC_P, PFEC_U, PFEC_W, PTE_A, PTE_D, PTE_P, PTE_U, PTE_W, PageFault
from spec.x86 import PhysMem, Word, u8, u32


def PDX(va: Word) -> Word:  # noqa: N802 - mCertikOS's macro names
    """Page-directory index: bits 31..22."""
    return (va >> 22) & 0x3FF


def PTX(va: Word) -> Word:  # noqa: N802
    """Page-table index: bits 21..12."""
    return (va >> 12) & 0x3FF


def PTE_ADDR(e: Word) -> Word:  # noqa: N802
    """The physical address of the frame an entry names."""
    return e & 0xFFFFF000


def phys_load32(mem: PhysMem, pa: Word) -> Word:
    """The little-endian word at pa; 0 past the end of memory."""
    if len(mem) < 4 or pa > len(mem) - 4:
        return u32(0)
    return u32(mem[pa]) | u32(mem[pa + 1]) << 8 | u32(mem[pa + 2]) << 16 | u32(mem[pa + 3]) << 24


def phys_store32(mem: PhysMem, pa: Word, v: Word) -> None:
    if len(mem) < 4 or pa > len(mem) - 4:
        return
    mem[pa] = u8(v)
    mem[pa + 1] = u8(v >> 8)
    mem[pa + 2] = u8(v >> 16)
    mem[pa + 3] = u8(v >> 24)


def pde_addr(cr3: Word, va: Word) -> Word:
    return PTE_ADDR(cr3) | PDX(va) << 2


def pte_addr(pde: Word, va: Word) -> Word:
    return PTE_ADDR(pde) | PTX(va) << 2


def pf_errcode(present: bool, write: bool, user: bool) -> Word:
    return ((u32(PFEC_P) if present else u32(0)) | (u32(PFEC_W) if write else u32(0))
            | (u32(PFEC_U) if user else u32(0)))


def walk(mem: PhysMem, cr3: Word, va: Word, write: bool, user: bool) -> Word:
    """The physical address of one access by the CPU, or PageFault(va, error code).

    In the order QEMU's MMU follows: the PDE's accessed bit is set as soon as the PDE is
    found present, before the PTE is read; the PTE's accessed bit, and its dirty bit for a
    write, only once the access is allowed.
    """
    pde_pa = pde_addr(cr3, va)
    pde = phys_load32(mem, pde_pa)
    if not pde & PTE_P:
        raise PageFault(va, pf_errcode(False, write, user))
    if not pde & PTE_A:
        pde = pde | PTE_A
        phys_store32(mem, pde_pa, pde)
    pte_pa = pte_addr(pde, va)
    pte = phys_load32(mem, pte_pa)
    if not pte & PTE_P:
        raise PageFault(va, pf_errcode(False, write, user))
    perm = pde & pte
    if (user and not perm & PTE_U) or (write and not perm & PTE_W):
        raise PageFault(va, pf_errcode(True, write, user))
    if not pte & PTE_A or (write and not pte & PTE_D):
        pte = pte | PTE_A | (u32(PTE_D) if write else u32(0))
        phys_store32(mem, pte_pa, pte)
    return PTE_ADDR(pte) | (va & 0xFFF)
