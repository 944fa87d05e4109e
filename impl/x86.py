"""The x86 machine as the kernel sees it: 32-bit two-level paging over physical memory.

`walk` is the MMU: it translates one access exactly as the CPU does (CR0.PG = 1,
CR0.WP = 1, CR4.PSE = 0), setting the accessed and dirty bits in the entries it uses
and raising `PageFault` where the CPU raises #PF. Physical memory is a bytearray;
addresses past its end read as 0 (not present) and are never written.
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.abi import PFEC_P, PFEC_U, PFEC_W, PTE_A, PTE_D, PTE_P, PTE_U, PTE_W, PageFault
from spec.x86 import PhysMem, Selector, Word, u8, u16, u32


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


# -- trap frames --------------------------------------------------------------------------------

KERNEL_CS = 0x08  # mCertikOS CPU_GDT_KCODE
KERNEL_DS = 0x10  # mCertikOS CPU_GDT_KDATA
FL_TF, FL_IF, FL_NT, FL_RF, FL_VM = 0x100, 0x200, 0x4000, 0x10000, 0x20000

# offsets in tf_t (68 bytes): pushal's registers, es, ds, trapno, err, then the CPU's frame
TF_EDI, TF_ESI, TF_EBP, TF_OESP, TF_EBX, TF_EDX, TF_ECX, TF_EAX = 0, 4, 8, 12, 16, 20, 24, 28
TF_ES, TF_DS, TF_TRAPNO, TF_ERR, TF_EIP, TF_CS, TF_EFLAGS, TF_ESP, TF_SS = (
    32, 36, 40, 44, 48, 52, 56, 60, 64)
TF_SIZE = 68


@dataclass
class Cpu:
    """The registers of the CPU that a trap and its return touch."""

    eax: Word
    ecx: Word
    edx: Word
    ebx: Word
    esp: Word
    ebp: Word
    esi: Word
    edi: Word
    eip: Word
    eflags: Word
    cs: Selector
    ss: Selector
    ds: Selector
    es: Selector


def phys_load16(mem: PhysMem, pa: Word) -> Selector:
    if len(mem) < 2 or pa > len(mem) - 2:
        return u16(0)
    return u16(mem[pa]) | u16(mem[pa + 1]) << 8


def phys_store16(mem: PhysMem, pa: Word, v: Selector) -> None:
    if len(mem) < 2 or pa > len(mem) - 2:
        return
    mem[pa] = u8(v)
    mem[pa + 1] = u8(v >> 8)


def push32(mem: PhysMem, cpu: Cpu, v: Word) -> None:
    cpu.esp = u32(cpu.esp - 4)
    phys_store32(mem, cpu.esp, v)


def push_sel(mem: PhysMem, cpu: Cpu, sel: Selector) -> None:
    """Push a selector in a 4-byte slot with a 16-bit move, as recent CPUs do: the upper
    half of the slot keeps what it held (Intel SDM vol. 2, PUSH)."""
    cpu.esp = u32(cpu.esp - 4)
    phys_store16(mem, cpu.esp, sel)


def pop32(mem: PhysMem, cpu: Cpu) -> Word:
    v = phys_load32(mem, cpu.esp)
    cpu.esp = u32(cpu.esp + 4)
    return v


def pop_sel(mem: PhysMem, cpu: Cpu) -> Selector:
    v = phys_load16(mem, cpu.esp)
    cpu.esp = u32(cpu.esp + 4)
    return v


def has_error_code(vector: Word) -> bool:
    return (vector == 8 or vector == 10 or vector == 11 or vector == 12 or vector == 13
            or vector == 14 or vector == 17)


def cpu_trap_entry(mem: PhysMem, cpu: Cpu, tss: Word, vector: Word, err: Word) -> None:
    """The CPU's part of a trap from ring 3 through an interrupt gate: switch to the TSS's
    ss0:esp0, push ss, esp, eflags, cs, eip and, for the vectors that have one, the error
    code; enter the kernel's code segment with IF, TF, NT, RF and VM clear."""
    old_ss = cpu.ss
    old_esp = cpu.esp
    cpu.esp = phys_load32(mem, tss + 4)
    cpu.ss = phys_load16(mem, tss + 8)
    push_sel(mem, cpu, old_ss)
    push32(mem, cpu, old_esp)
    push32(mem, cpu, cpu.eflags)
    push_sel(mem, cpu, cpu.cs)
    push32(mem, cpu, cpu.eip)
    if has_error_code(vector):
        push32(mem, cpu, err)
    cpu.cs = u16(KERNEL_CS)
    cpu.eflags = cpu.eflags & ~(FL_TF | FL_IF | FL_NT | FL_RF | FL_VM)


def vector_stub(mem: PhysMem, cpu: Cpu, vector: Word) -> None:
    """TRAPHANDLER / TRAPHANDLER_NOEC: an error code of 0 where the CPU pushed none, then
    the vector number."""
    if not has_error_code(vector):
        push32(mem, cpu, u32(0))
    push32(mem, cpu, vector)


def alltraps(mem: PhysMem, cpu: Cpu) -> None:
    """_alltraps: push ds and es, then pushal; then load the kernel's data segments."""
    push_sel(mem, cpu, cpu.ds)
    push_sel(mem, cpu, cpu.es)
    oesp = cpu.esp
    push32(mem, cpu, cpu.eax)
    push32(mem, cpu, cpu.ecx)
    push32(mem, cpu, cpu.edx)
    push32(mem, cpu, cpu.ebx)
    push32(mem, cpu, oesp)
    push32(mem, cpu, cpu.ebp)
    push32(mem, cpu, cpu.esi)
    push32(mem, cpu, cpu.edi)
    cpu.ds = u16(KERNEL_DS)
    cpu.es = u16(KERNEL_DS)


def trap(mem: PhysMem, cpu: Cpu, tss: Word, vector: Word, err: Word) -> Word:
    """A trap from user mode up to the C handler: returns the address of the tf_t."""
    cpu_trap_entry(mem, cpu, tss, vector, err)
    vector_stub(mem, cpu, vector)
    alltraps(mem, cpu)
    return cpu.esp


def trap_return(mem: PhysMem, cpu: Cpu, tf: Word) -> None:
    """trap_return: esp = tf; popal; pop es and ds; skip trapno and err; iret to ring 3."""
    cpu.esp = tf
    cpu.edi = pop32(mem, cpu)
    cpu.esi = pop32(mem, cpu)
    cpu.ebp = pop32(mem, cpu)
    pop32(mem, cpu)  # popal discards the saved esp
    cpu.ebx = pop32(mem, cpu)
    cpu.edx = pop32(mem, cpu)
    cpu.ecx = pop32(mem, cpu)
    cpu.eax = pop32(mem, cpu)
    cpu.es = pop_sel(mem, cpu)
    cpu.ds = pop_sel(mem, cpu)
    cpu.esp = u32(cpu.esp + 8)
    cpu.eip = pop32(mem, cpu)
    cpu.cs = pop_sel(mem, cpu)
    cpu.eflags = pop32(mem, cpu)
    user_esp = pop32(mem, cpu)
    cpu.ss = pop_sel(mem, cpu)
    cpu.esp = user_esp


# -- system-call arguments and results (mCertikOS's syscall_get_arg*, syscall_set_*) ------------


def syscall_get_arg1(mem: PhysMem, tf: Word) -> Word:
    return phys_load32(mem, tf + TF_EAX)


def syscall_get_arg2(mem: PhysMem, tf: Word) -> Word:
    return phys_load32(mem, tf + TF_EBX)


def syscall_get_arg3(mem: PhysMem, tf: Word) -> Word:
    return phys_load32(mem, tf + TF_ECX)


def syscall_get_arg4(mem: PhysMem, tf: Word) -> Word:
    return phys_load32(mem, tf + TF_EDX)


def syscall_get_arg5(mem: PhysMem, tf: Word) -> Word:
    return phys_load32(mem, tf + TF_ESI)


def syscall_get_arg6(mem: PhysMem, tf: Word) -> Word:
    return phys_load32(mem, tf + TF_EDI)


def syscall_set_errno(mem: PhysMem, tf: Word, errno: Word) -> None:
    phys_store32(mem, tf + TF_EAX, errno)


def syscall_set_retval1(mem: PhysMem, tf: Word, v: Word) -> None:
    phys_store32(mem, tf + TF_EBX, v)


def syscall_set_retval2(mem: PhysMem, tf: Word, v: Word) -> None:
    phys_store32(mem, tf + TF_ECX, v)


def syscall_set_retval3(mem: PhysMem, tf: Word, v: Word) -> None:
    phys_store32(mem, tf + TF_EDX, v)


def syscall_set_retval4(mem: PhysMem, tf: Word, v: Word) -> None:
    phys_store32(mem, tf + TF_ESI, v)


def syscall_return(mem: PhysMem, tf: Word, errno: Word, n: Word, r1: Word, r2: Word, r3: Word,
                   r4: Word) -> None:
    """eax = errno, and the first n of ebx, ecx, edx, esi = r1..r4; nothing else."""
    syscall_set_errno(mem, tf, errno)
    if n >= 1:
        syscall_set_retval1(mem, tf, r1)
    if n >= 2:
        syscall_set_retval2(mem, tf, r2)
    if n >= 3:
        syscall_set_retval3(mem, tf, r3)
    if n >= 4:
        syscall_set_retval4(mem, tf, r4)
