"""The trap-frame model on a real x86 core: what _alltraps pushes, and what trap_return
restores. (The CPU's own part of a trap, the push of ss, esp, eflags, cs, eip and the
error code, cannot be observed here: unicorn reports an exception to a hook and never
vectors through the IDT; docs/x86.md says so.)"""

from __future__ import annotations

import random
import struct

from unicorn.x86_const import (
    UC_X86_REG_CS,
    UC_X86_REG_DS,
    UC_X86_REG_EAX,
    UC_X86_REG_EBP,
    UC_X86_REG_EBX,
    UC_X86_REG_ECX,
    UC_X86_REG_EDI,
    UC_X86_REG_EDX,
    UC_X86_REG_EFLAGS,
    UC_X86_REG_EIP,
    UC_X86_REG_ES,
    UC_X86_REG_ESI,
    UC_X86_REG_ESP,
    UC_X86_REG_SS,
)

import impl.x86 as impl_x86
from proofs.x86 import frame_at
from tests.x86_machine import (
    FURNITURE,
    KERNEL_DS,
    KSTACK_TOP,
    MEM_SIZE,
    SAVE_CONTEXT,
    UCODE,
    USER_CS,
    USER_DS,
    furniture,
    run_ring0,
    run_to_user,
)

GENERAL = {"eax": UC_X86_REG_EAX, "ecx": UC_X86_REG_ECX, "edx": UC_X86_REG_EDX, "ebx": UC_X86_REG_EBX,
           "ebp": UC_X86_REG_EBP, "esi": UC_X86_REG_ESI, "edi": UC_X86_REG_EDI}
ARITHMETIC_FLAGS = 0x8D5  # CF PF AF ZF SF OF (DF left clear)
CASES = 300
# The upper halves of the es and ds slots (tf_t's padding1 and padding2): Intel lets a
# 32-bit push of a segment register either zero-extend or do a 16-bit move; QEMU
# zero-extends, recent Intel cores move 16 bits. The model claims nothing there.
PADDING = (34, 35, 38, 39)


def memory(rng: random.Random) -> bytearray:
    mem = bytearray(rng.randbytes(MEM_SIZE // 8)) + bytearray(MEM_SIZE - MEM_SIZE // 8)
    mem[:FURNITURE] = furniture()
    return mem


def test_alltraps_pushes_what_the_cpu_pushes() -> None:
    """push ds; push es; pushal on the core, and alltraps on the model, from the same
    registers onto the same (dirty) stack: the same bytes, the same esp."""
    rng = random.Random(11)
    for _ in range(CASES):
        mem = memory(rng)
        esp = KSTACK_TOP - 4 * rng.randrange(0, 64)
        mem[esp - 40:esp] = rng.randbytes(40)  # what the padding of ds and es slots keeps
        values = {name: rng.getrandbits(32) for name in GENERAL}
        regs = {GENERAL[n]: v for n, v in values.items()}
        regs[UC_X86_REG_ESP] = esp
        uc, cpu_memory = run_ring0(bytes(mem), SAVE_CONTEXT, regs)
        cpu = impl_x86.Cpu(esp=esp, eip=0, eflags=0x2, cs=0x08, ss=KERNEL_DS, ds=KERNEL_DS, es=KERNEL_DS,
                           **values)
        model = bytearray(mem)
        impl_x86.alltraps(model, cpu)
        assert uc.reg_read(UC_X86_REG_ESP) == cpu.esp
        got, want = bytearray(cpu_memory[cpu.esp:esp]), model[cpu.esp:esp]
        for padding in PADDING:
            got[padding] = want[padding] = 0
        assert got == want, (esp, values)


def test_trap_return_restores_what_the_cpu_restores() -> None:
    """trap_return on the core (popal, pop es, pop ds, add esp 8, iretd to ring 3) and on
    the model, from the same random tf_t: the same registers in user mode."""
    rng = random.Random(12)
    for _ in range(CASES):
        mem = memory(rng)
        tf = KSTACK_TOP - 68 - 4 * rng.randrange(0, 32)
        words = [rng.getrandbits(32) for _ in range(17)]
        words[8], words[9] = USER_DS | rng.getrandbits(16) << 16, USER_DS  # es, ds (padding random)
        words[12] = UCODE + 16  # eip: not at the page start, where unicorn probes the byte before
        words[13] = USER_CS | rng.getrandbits(16) << 16
        words[14] = 0x202 | (rng.getrandbits(32) & ARITHMETIC_FLAGS)
        words[16] = USER_DS
        mem[tf:tf + 68] = struct.pack("<17I", *words)
        uc = run_to_user(bytes(mem), tf)
        cpu = impl_x86.Cpu(eax=0, ecx=0, edx=0, ebx=0, esp=0, ebp=0, esi=0, edi=0, eip=0, eflags=0,
                           cs=0x08, ss=KERNEL_DS, ds=KERNEL_DS, es=KERNEL_DS)
        impl_x86.trap_return(mem, cpu, tf)
        frame = frame_at(mem, tf)
        assert uc.reg_read(UC_X86_REG_EIP) == cpu.eip == frame.eip
        for name, reg in {**GENERAL, "esp": UC_X86_REG_ESP, "eflags": UC_X86_REG_EFLAGS,
                          "cs": UC_X86_REG_CS, "ss": UC_X86_REG_SS, "ds": UC_X86_REG_DS,
                          "es": UC_X86_REG_ES}.items():
            assert uc.reg_read(reg) == getattr(cpu, name), (name, hex(uc.reg_read(reg)), getattr(cpu, name))
