"""The x86 machine, abstractly: an address space as a map from virtual page to mapping,
the access decision of 32-bit paging (CR0.WP = 1), and the trap frame as a record.

Machine words are Python ints; `u32` and `u8` are the C casts to unsigned 32 and 8 bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from spec.abi import (
    PFEC_P,
    PFEC_U,
    PFEC_W,
    PTE_A,
    PTE_D,
    PTE_G,
    PTE_P,
    PTE_PCD,
    PTE_PS,
    PTE_PWT,
    PTE_U,
    PTE_W,
)
from spec.map import Map

Word = Annotated[int, 32]  # an unsigned 32-bit machine word
PhysMem = Annotated[bytearray, 32]  # physical memory, byte-addressed by a 32-bit address

PAGE_SHIFT = 12
NPAGES = 1 << 20  # virtual pages in a 32-bit address space
OFFSET_MASK = 0xFFF


def u32(x: int) -> int:
    """x as an unsigned 32-bit machine word."""
    return x & 0xFFFFFFFF


def u8(x: int) -> int:
    """x as a byte."""
    return x & 0xFF


# -- page-table entries ---------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A page-directory or page-table entry, field by field (Intel SDM vol. 3, tables 4-5, 4-6)."""

    frame: Word  # physical frame number, bits 31..12
    present: bool
    writable: bool
    user: bool
    write_through: bool
    cache_disable: bool
    accessed: bool
    dirty: bool
    page_size: bool  # ignored while CR4.PSE = 0, as here
    global_: bool
    avail: Word  # bits 11..9, free for the kernel


def decode(word: int) -> Entry:
    """The entry a 32-bit word holds."""
    return Entry(
        frame=word >> PAGE_SHIFT,
        present=word & PTE_P != 0,
        writable=word & PTE_W != 0,
        user=word & PTE_U != 0,
        write_through=word & PTE_PWT != 0,
        cache_disable=word & PTE_PCD != 0,
        accessed=word & PTE_A != 0,
        dirty=word & PTE_D != 0,
        page_size=word & PTE_PS != 0,
        global_=word & PTE_G != 0,
        avail=(word >> 9) & 0x7,
    )


def flag(on: bool, bit: int) -> int:
    return u32(bit) if on else u32(0)


def encode(e: Entry) -> int:
    """The 32-bit word of an entry whose frame < 2**20 and avail < 8."""
    return (u32(e.frame) << PAGE_SHIFT | u32(e.avail) << 9
            | flag(e.present, PTE_P) | flag(e.writable, PTE_W) | flag(e.user, PTE_U)
            | flag(e.write_through, PTE_PWT) | flag(e.cache_disable, PTE_PCD)
            | flag(e.accessed, PTE_A) | flag(e.dirty, PTE_D) | flag(e.page_size, PTE_PS)
            | flag(e.global_, PTE_G))


# -- address spaces -------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping:
    """Where a virtual page lives and who may use it: writable and user hold only where
    every level of the walk allows it."""

    frame: Word
    writable: bool
    user: bool


AddressSpace = Map[Word, Mapping]  # virtual page number -> mapping


def page_of(va: int) -> int:
    return va >> PAGE_SHIFT


def fault_code(present: bool, write: bool, user: bool) -> int:
    """A page fault's error code: P (a protection fault), W (a write), U (from user mode)."""
    return flag(present, PFEC_P) | flag(write, PFEC_W) | flag(user, PFEC_U)


def allowed(m: Mapping, write: bool, user: bool) -> bool:
    """User accesses need a user page; writes, from either mode (CR0.WP = 1), a writable one."""
    return (m.user or not user) and (m.writable or not write)


def lookup(space: AddressSpace, va: int, write: bool, user: bool) -> tuple[bool, int]:
    """(True, physical address) for an allowed access; (False, error code) for a page fault."""
    page = page_of(va)
    if page not in space:
        return False, fault_code(False, write, user)
    m = space[page]
    if not allowed(m, write, user):
        return False, fault_code(True, write, user)
    return True, u32(m.frame) << PAGE_SHIFT | (va & OFFSET_MASK)
