"""The x86 machine, abstractly: an address space as a map from virtual page to mapping,
the access decision of 32-bit paging (CR0.WP = 1), and the trap frame as a record.

Machine words are Python ints; `u32` and `u8` are the C casts to unsigned 32 and 8 bits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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


def u16(x: int) -> int:
    """x as an unsigned 16-bit value."""
    return x & 0xFFFF


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


# -- trap frames --------------------------------------------------------------------------------

Selector = Annotated[int, 16]  # a segment selector

VECTORS_WITH_ERROR_CODE = (8, 10, 11, 12, 13, 14, 17)


@dataclass(frozen=True)
class UserContext:
    """What a user program sees of the CPU: the registers a trap saves and iret restores."""

    edi: Word
    esi: Word
    ebp: Word
    ebx: Word
    edx: Word
    ecx: Word
    eax: Word
    es: Selector
    ds: Selector
    eip: Word
    cs: Selector
    eflags: Word
    esp: Word
    ss: Selector


@dataclass(frozen=True)
class TrapFrame:
    """mCertikOS's tf_t: pushal's registers (oesp is the kernel's esp at pushal, of no
    use), es and ds, the vector and error code, then what the CPU pushed."""

    edi: Word
    esi: Word
    ebp: Word
    oesp: Word
    ebx: Word
    edx: Word
    ecx: Word
    eax: Word
    es: Selector
    ds: Selector
    trapno: Word
    err: Word
    eip: Word
    cs: Selector
    eflags: Word
    esp: Word
    ss: Selector


def has_error_code(vector: int) -> bool:
    """Whether the CPU pushes an error code for this vector (Intel SDM vol. 3, 6.13)."""
    return (vector == 8 or vector == 10 or vector == 11 or vector == 12 or vector == 13
            or vector == 14 or vector == 17)


def trap_frame(ctx: UserContext, vector: int, err: int, oesp: int) -> TrapFrame:
    """The frame a trap from user mode leaves: the context, the vector, and the CPU's error
    code where the vector has one (0 elsewhere, pushed by the vector's stub)."""
    return TrapFrame(
        edi=ctx.edi, esi=ctx.esi, ebp=ctx.ebp, oesp=oesp, ebx=ctx.ebx, edx=ctx.edx, ecx=ctx.ecx,
        eax=ctx.eax, es=ctx.es, ds=ctx.ds, trapno=vector, err=err if has_error_code(vector) else u32(0),
        eip=ctx.eip, cs=ctx.cs, eflags=ctx.eflags, esp=ctx.esp, ss=ctx.ss,
    )


def context_of(tf: TrapFrame) -> UserContext:
    """The context that returning from the frame restores."""
    return UserContext(
        edi=tf.edi, esi=tf.esi, ebp=tf.ebp, ebx=tf.ebx, edx=tf.edx, ecx=tf.ecx, eax=tf.eax,
        es=tf.es, ds=tf.ds, eip=tf.eip, cs=tf.cs, eflags=tf.eflags, esp=tf.esp, ss=tf.ss,
    )


def syscall_args(tf: TrapFrame) -> tuple[int, int, int, int, int, int]:
    """(number, a1, .., a5): eax, then ebx, ecx, edx, esi, edi."""
    return tf.eax, tf.ebx, tf.ecx, tf.edx, tf.esi, tf.edi


def set_results(tf: TrapFrame, errno: int, n: int, r1: int, r2: int, r3: int, r4: int) -> TrapFrame:
    """eax = errno and the first n result registers (ebx, ecx, edx, esi) = r1..r4."""
    return replace(
        tf, eax=errno,
        ebx=r1 if n >= 1 else tf.ebx, ecx=r2 if n >= 2 else tf.ecx,
        edx=r3 if n >= 3 else tf.edx, esi=r4 if n >= 4 else tf.esi,
    )
