"""A real x86 core (QEMU's, through unicorn) set up to make one memory access through a
given page directory, from ring 3 (entered by iretd) or from ring 0.

Physical memory is the emulator's memory from address 0. The first 64 KiB hold the
machine's own furniture, mapped by page-directory entry 0 (identity): the GDT, the TSS,
the kernel's code and stack, and the user's code. Every entry and descriptor the
furniture uses is preset accessed (and dirty where written), so the CPU changes nothing
there and memory can be compared byte for byte after the access.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from unicorn import UC_ARCH_X86, UC_HOOK_INTR, UC_MODE_32, Uc
from unicorn.x86_const import (
    UC_X86_REG_CR0,
    UC_X86_REG_CR2,
    UC_X86_REG_CR3,
    UC_X86_REG_CR4,
    UC_X86_REG_CS,
    UC_X86_REG_DS,
    UC_X86_REG_EAX,
    UC_X86_REG_EBX,
    UC_X86_REG_EFLAGS,
    UC_X86_REG_EIP,
    UC_X86_REG_ES,
    UC_X86_REG_ESP,
    UC_X86_REG_GDTR,
    UC_X86_REG_SS,
    UC_X86_REG_TR,
)

from spec.abi import PTE_A, PTE_D, PTE_P, PTE_U, PTE_W

MEM_SIZE = 1 << 19
FURNITURE = 0x10000  # physical 0 .. 64 KiB, identity mapped by PDE 0
GDT = 0x1000
TSS = 0x1800
KCODE = 0x2000
UCODE = 0x3000
KSTACK_TOP = 0x5000
FURNITURE_PT = 0x8000  # the page table of PDE 0

KERNEL_CS, KERNEL_DS, USER_CS, USER_DS, TSS_SEL = 0x08, 0x10, 0x1B, 0x23, 0x28

LOAD = b"\x8b\x03"  # mov eax, [ebx]
STORE = b"\x89\x03"  # mov [ebx], eax
IRETD = b"\xcf"

CR0_PE, CR0_WP, CR0_PG = 0x1, 1 << 16, 1 << 31


def _descriptor(base: int, limit: int, access: int, flags: int) -> bytes:
    """A GDT descriptor (Intel SDM vol. 3, 3.4.5)."""
    return struct.pack(
        "<HHBBBB", limit & 0xFFFF, base & 0xFFFF, (base >> 16) & 0xFF, access,
        ((limit >> 16) & 0xF) | (flags << 4), (base >> 24) & 0xFF,
    )


def furniture() -> bytearray:
    """The first 64 KiB of physical memory: GDT, TSS, code, stack and PDE 0's page table."""
    mem = bytearray(FURNITURE)
    gdt = b"".join([
        bytes(8),
        _descriptor(0, 0xFFFFF, 0x9B, 0xC),  # kernel code, accessed
        _descriptor(0, 0xFFFFF, 0x93, 0xC),  # kernel data, accessed
        _descriptor(0, 0xFFFFF, 0xFB, 0xC),  # user code, DPL 3, accessed
        _descriptor(0, 0xFFFFF, 0xF3, 0xC),  # user data, DPL 3, accessed
        _descriptor(TSS, 0x67, 0x8B, 0x0),  # 32-bit TSS, busy
    ])
    mem[GDT:GDT + len(gdt)] = gdt
    mem[TSS + 4:TSS + 8] = struct.pack("<I", KSTACK_TOP)  # esp0
    mem[TSS + 8:TSS + 12] = struct.pack("<I", KERNEL_DS)  # ss0
    for page in range(FURNITURE >> 12):
        user = PTE_U if page == UCODE >> 12 else 0
        entry = (page << 12) | PTE_P | PTE_W | PTE_A | PTE_D | user
        mem[FURNITURE_PT + 4 * page:FURNITURE_PT + 4 * page + 4] = struct.pack("<I", entry)
    return mem


FURNITURE_PDE = FURNITURE_PT | PTE_P | PTE_W | PTE_U | PTE_A


@dataclass
class Outcome:
    fault: bool
    cr2: int
    eax: int
    memory: bytes


class Machine:
    """A fresh emulator for every access: no TLB entry, CPL or segment state carries over
    (unicorn cannot return from ring 3 to ring 0 without an IDT, and a context restore
    after a ring-3 run proved unreliable)."""

    def __init__(self, uc: Uc, memory: bytes, cr3: int) -> None:
        self.uc = uc
        self.faulted: list[int] = []
        uc.mem_map(0, MEM_SIZE)
        uc.mem_write(0, bytes(memory))
        uc.hook_add(UC_HOOK_INTR, self._interrupt)
        uc.reg_write(UC_X86_REG_CR4, 0)
        uc.reg_write(UC_X86_REG_GDTR, (0, GDT, 6 * 8 - 1, 0))
        uc.reg_write(UC_X86_REG_CR3, cr3)
        uc.reg_write(UC_X86_REG_CR0, CR0_PE | CR0_WP | CR0_PG)
        uc.reg_write(UC_X86_REG_CS, KERNEL_CS)
        uc.reg_write(UC_X86_REG_SS, KERNEL_DS)  # unicorn's initial SS is 16-bit (B = 0)
        uc.reg_write(UC_X86_REG_DS, KERNEL_DS)
        uc.reg_write(UC_X86_REG_ES, KERNEL_DS)
        uc.reg_write(UC_X86_REG_TR, (TSS_SEL, TSS, 0x67, 0x8B))

    def _interrupt(self, uc: Uc, intno: int, _data: object) -> None:
        self.faulted.append(intno)
        uc.emu_stop()  # else the faulting instruction is retried forever


def access(memory: bytes, cr3: int, va: int, write: bool, user: bool, value: int) -> Outcome:
    """One 4-byte load (into eax) or store (of value) at va, on a real x86 core."""
    m = Machine(Uc(UC_ARCH_X86, UC_MODE_32), memory, cr3)
    uc = m.uc
    code = STORE if write else LOAD
    uc.mem_write(UCODE, code)
    uc.mem_write(KCODE, IRETD if user else code)
    uc.reg_write(UC_X86_REG_EAX, value)
    uc.reg_write(UC_X86_REG_EBX, va)
    uc.reg_write(UC_X86_REG_EFLAGS, 0x2)
    if user:
        frame = struct.pack("<5I", UCODE, USER_CS, 0x202, KSTACK_TOP - 0x100, USER_DS)
        uc.mem_write(KSTACK_TOP - len(frame), frame)
        uc.reg_write(UC_X86_REG_ESP, KSTACK_TOP - len(frame))
        until = UCODE + len(code)
    else:
        uc.reg_write(UC_X86_REG_ESP, KSTACK_TOP)
        until = KCODE + len(code)
    uc.emu_start(KCODE, until, count=4)
    fault = 14 in m.faulted
    eip = uc.reg_read(UC_X86_REG_EIP)
    if m.faulted and not fault:
        raise RuntimeError(f"unexpected exception {m.faulted} at eip {eip:#x}")
    if not fault and eip != until:
        raise RuntimeError(f"stopped at {eip:#x}, not {until:#x}")
    if user and not fault and uc.reg_read(UC_X86_REG_CS) & 3 != 3:
        raise RuntimeError("the access did not run in ring 3")
    # The code bytes were written for this run only; give back what the caller had there.
    after = bytearray(uc.mem_read(0, len(memory)))
    after[UCODE:UCODE + 2] = memory[UCODE:UCODE + 2]
    after[KCODE:KCODE + 2] = memory[KCODE:KCODE + 2]
    after[KSTACK_TOP - 20:KSTACK_TOP] = memory[KSTACK_TOP - 20:KSTACK_TOP]
    return Outcome(fault, uc.reg_read(UC_X86_REG_CR2), uc.reg_read(UC_X86_REG_EAX), bytes(after))


def with_furniture_directory(memory: bytes) -> bytes:
    """memory with a page directory at FURNITURE that maps the furniture only."""
    mem = bytearray(memory)
    mem[FURNITURE:FURNITURE + 4096] = bytes(4096)
    mem[FURNITURE:FURNITURE + 4] = struct.pack("<I", FURNITURE_PDE)
    return bytes(mem)


SAVE_CONTEXT = b"\x1e\x06\x60"  # push ds; push es; pushal  (_alltraps)


def run_ring0(memory: bytes, code: bytes, regs: dict[int, int]) -> tuple[Uc, bytes]:
    """Run code in ring 0 at KCODE with the given registers; the memory afterwards."""
    m = Machine(Uc(UC_ARCH_X86, UC_MODE_32), with_furniture_directory(memory), FURNITURE)
    uc = m.uc
    uc.mem_write(KCODE, code)
    for reg, value in regs.items():
        uc.reg_write(reg, value)
    uc.emu_start(KCODE, KCODE + len(code), count=len(code))
    if m.faulted:
        raise RuntimeError(f"exception {m.faulted} at {uc.reg_read(UC_X86_REG_EIP):#x}")
    return uc, bytes(uc.mem_read(0, len(memory)))


def trap_return_code(tf: int) -> bytes:
    """mCertikOS's trap_return: movl tf, %esp; popal; popl %es; popl %ds; addl $8, %esp; iret."""
    return b"\xbc" + struct.pack("<I", tf) + b"\x61\x07\x1f\x83\xc4\x08\xcf"


def run_to_user(memory: bytes, tf: int) -> Uc:
    """Run trap_return from ring 0 on the frame at tf until the user's first instruction."""
    m = Machine(Uc(UC_ARCH_X86, UC_MODE_32), with_furniture_directory(memory), FURNITURE)
    uc = m.uc
    code = trap_return_code(tf)
    uc.mem_write(KCODE, code)
    uc.reg_write(UC_X86_REG_ESP, KSTACK_TOP)
    user_eip = struct.unpack("<I", memory[tf + 48:tf + 52])[0]
    uc.emu_start(KCODE, user_eip, count=6)  # the six instructions of trap_return
    if m.faulted:
        raise RuntimeError(f"exception {m.faulted} at {uc.reg_read(UC_X86_REG_EIP):#x}")
    return uc
