"""Random page tables and accesses, and their comparison with a real x86 core."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from impl.x86 import PDX, PTE_ADDR, PTX, phys_load32, phys_store32, walk
from spec.abi import PTE_P, PTE_U, PTE_W, PageFault
from tests.x86_machine import FURNITURE, FURNITURE_PDE, MEM_SIZE, access, furniture

POOL = range(FURNITURE >> 12, MEM_SIZE >> 12)  # frames free for tables and data


@dataclass
class Case:
    memory: bytearray
    cr3: int
    va: int
    write: bool
    user: bool
    value: int


def random_entry(rng: random.Random, frame: int) -> int:
    """An entry naming frame with every low bit random: present four times in five,
    writable and user three times in four (so that half the accesses succeed)."""
    bits = rng.getrandbits(12) & ~(PTE_P | PTE_W | PTE_U)
    for bit, p in ((PTE_P, 0.8), (PTE_W, 0.75), (PTE_U, 0.75)):
        bits |= bit if rng.random() < p else 0
    return (frame << 12) | bits


def put(mem: bytearray, pa: int, word: int) -> None:
    mem[pa:pa + 4] = struct.pack("<I", word)


def random_case(rng: random.Random) -> Case:
    mem = bytearray(MEM_SIZE)
    mem[:FURNITURE] = furniture()
    pd = rng.choice(POOL) << 12
    va = rng.randrange(1 << 22, 1 << 32) & ~3  # outside PDE 0, the furniture's
    for _ in range(rng.randrange(4)):  # unrelated directory entries
        put(mem, pd + 4 * rng.randrange(1, 1024), random_entry(rng, rng.choice(POOL)))
    pde = random_entry(rng, pd >> 12 if rng.random() < 0.05 else rng.choice(POOL))
    put(mem, pd + 4 * PDX(va), pde)
    put(mem, PTE_ADDR(pde) + 4 * PTX(va), random_entry(rng, rng.choice(POOL)))
    data = rng.choice(POOL) << 12
    mem[data:data + 4096] = rng.randbytes(4096)
    put(mem, pd, FURNITURE_PDE)  # last: the tables may share frames, and the CPU needs the furniture
    return Case(mem, pd, va, rng.random() < 0.5, rng.random() < 0.5, rng.getrandbits(32))


def model(case: Case) -> tuple[bool, int, int, bytes]:
    """(fault, cr2, eax, memory afterwards) as impl.x86 predicts them."""
    mem = bytearray(case.memory)
    try:
        pa = walk(mem, case.cr3, case.va, case.write, case.user)
    except PageFault as fault:
        return True, fault.va, case.value, bytes(mem)
    if case.write:
        phys_store32(mem, pa, case.value)
        return False, 0, case.value, bytes(mem)
    return False, 0, phys_load32(mem, pa), bytes(mem)


def usable(case: Case) -> bool:
    """The emulator can run it: the walk stays inside its memory (the emulator stops on a
    physical address with no memory, where the model reads zeros), and the access does not
    land on the furniture the CPU is running on."""
    pde = phys_load32(case.memory, case.cr3 + 4 * PDX(case.va))
    if pde & PTE_P and PTE_ADDR(pde) + 4 * PTX(case.va) + 4 > len(case.memory):
        return False
    try:
        pa = walk(bytearray(case.memory), case.cr3, case.va, case.write, case.user)
    except PageFault:
        return True
    return FURNITURE <= pa and pa + 4 <= len(case.memory)


def compare(case: Case) -> list[str]:
    """What the model and the CPU disagree on; empty when they agree."""
    fault, cr2, eax, memory = model(case)
    cpu = access(case.memory, case.cr3, case.va, case.write, case.user, case.value)
    problems = []
    if cpu.fault != fault:
        problems.append(f"fault: cpu {cpu.fault}, model {fault}")
    elif fault and cpu.cr2 != cr2:
        problems.append(f"cr2: cpu {cpu.cr2:#x}, model {cr2:#x}")
    elif not fault and not case.write and cpu.eax != eax:
        problems.append(f"eax: cpu {cpu.eax:#x}, model {eax:#x}")
    if cpu.memory != memory:
        diff = [i for i in range(len(memory)) if cpu.memory[i] != memory[i]]
        problems.append(f"memory differs at {[hex(i) for i in diff[:8]]}")
    return problems


def cases(seed: int, n: int) -> list[Case]:
    rng = random.Random(seed)
    out: list[Case] = []
    while len(out) < n:
        case = random_case(rng)
        if usable(case):
            out.append(case)
    return out
