"""The x86 layer's proof: the MMU walk refines the abstract lookup, for every 32-bit
address, every memory and every CR3 (all bit-vectors: no address is enumerated)."""

from __future__ import annotations

import types
from typing import Any

import z3

import impl.x86 as impl_x86
import spec.x86 as spec_x86
from impl.x86 import PTE_ADDR, pde_addr, phys_load32, pte_addr
from spec.abi import PFEC_P, PFEC_U, PFEC_W, PTE_A, PTE_D, PTE_P, PTE_U, PTE_W, PageFault
from spec.map import Map
from spec.x86 import NPAGES, AddressSpace, Entry, Mapping, PhysMem, u32

from .engine.interp import run
from .engine.values import BOOL, BVT, RecT, equal, flatten, fresh, ty_of_hint, unflatten
from .obligation import Goal, InvalidCase, Shown, obligation

MEM = ty_of_hint(PhysMem)
WORD = BVT(32)
ENTRY = RecT(Entry)


# -- abstraction (executable) -----------------------------------------------------------------


def is_mapped(mem: PhysMem, cr3: int, page: int) -> bool:
    va = page << 12
    pde = phys_load32(mem, pde_addr(cr3, va))
    return pde & PTE_P != 0 and phys_load32(mem, pte_addr(pde, va)) & PTE_P != 0


def mapping_at(mem: PhysMem, cr3: int, page: int) -> Mapping:
    va = page << 12
    pde = phys_load32(mem, pde_addr(cr3, va))
    pte = phys_load32(mem, pte_addr(pde, va))
    perm = pde & pte
    return Mapping(frame=pte >> 12, writable=perm & PTE_W != 0, user=perm & PTE_U != 0)


def address_space(mem: PhysMem, cr3: int) -> AddressSpace:
    """The pages that page directory cr3 maps in mem, with the rights of both levels."""
    return Map({page: mapping_at(mem, cr3, page) for page in range(u32(NPAGES))
                if is_mapped(mem, cr3, page)})


# -- goals --------------------------------------------------------------------------------------


class Access:
    """A symbolic memory, CR3 and access, and the walk's outcome on them."""

    def __init__(self, impl: types.ModuleType = impl_x86) -> None:
        self.mem = fresh(MEM, "mem")
        self.leaves = flatten(MEM, self.mem)
        self.cr3, self.va = z3.BitVecs("cr3 va", 32)
        self.write, self.user = z3.Bools("write user")
        self.out = run(impl.walk, lambda: [self.pre(), self.cr3, self.va, self.write, self.user])
        self.impl = impl

    def pre(self) -> Any:
        return unflatten(MEM, self.leaves)

    def inputs(self) -> dict[str, Shown]:
        return {"mem": Shown(MEM, self.pre()),
                "cr3": Shown(WORD, self.cr3), "va": Shown(WORD, self.va),
                "write": Shown(BOOL, self.write), "user": Shown(BOOL, self.user)}

    def goal(self, conclusion: z3.BoolRef, extra: list[z3.BoolRef] | None = None) -> Goal:
        return Goal([*self.out.assumptions, *(extra or [])], conclusion, self.inputs(),
                    replay=replay_walk, replay_module=self.impl.__name__,
                    sizes=[z3.LShR(self.pre().length, 12)])


@obligation("x86.walk.refines")
def walk_refines(impl: types.ModuleType = impl_x86) -> Goal:
    """The walk faults exactly where the abstract lookup does, with its error code, and
    otherwise lands on the address the lookup gives."""
    a = Access(impl)
    space = run(address_space, lambda: [a.pre(), a.cr3])
    want = run(spec_x86.lookup, lambda: [space.result, a.va, a.write, a.user])
    ok, value = want.result
    out = a.out
    fault_va, fault_code = out.exception_args
    conclusion = z3.And(ok == z3.Not(out.raised),
                        z3.Implies(ok, out.result == value),
                        z3.Implies(z3.Not(ok), z3.And(fault_va == a.va, fault_code == value)))
    return a.goal(conclusion, [*space.assumptions, *want.assumptions])


def _word_at(mem: Any, pa: z3.BitVecRef) -> z3.BitVecRef:
    return z3.Concat(*[z3.Select(mem.leaves[0], pa + i) for i in (3, 2, 1, 0)])


class Entries:
    """The two entries a walk reads, as they are in memory before it."""

    def __init__(self, a: Access) -> None:
        self.before, self.after = a.pre(), a.out.args[0]
        self.pde_pa = impl_x86.pde_addr(a.cr3, a.va)
        self.pde = _word_at(self.before, self.pde_pa)
        self.pte_pa = PTE_ADDR(self.pde) | ((a.va >> 12) & 0x3FF) << 2
        self.pte = _word_at(self.before, self.pte_pa)
        n = self.before.length
        self.in_mem = z3.And(z3.UGE(n, 4), z3.ULE(self.pde_pa, n - 4), z3.ULE(self.pte_pa, n - 4))


@obligation("x86.walk.writes_only_entries")
def walk_writes_only_entries(impl: types.ModuleType = impl_x86) -> Goal:
    """No byte of memory changes but those of the PDE and the PTE the walk uses."""
    a = Access(impl)
    e = Entries(a)
    x = z3.BitVec("x", 32)
    entry = z3.Or(z3.ULT(x - e.pde_pa, 4), z3.ULT(x - e.pte_pa, 4))
    kept = z3.ForAll([x], z3.Implies(z3.Not(entry),
                                     z3.Select(e.after.leaves[0], x) == z3.Select(e.before.leaves[0], x)))
    return a.goal(z3.And(e.after.length == e.before.length, kept))


@obligation("x86.walk.accessed_dirty")
def walk_accessed_dirty(impl: types.ModuleType = impl_x86) -> Goal:
    """The PDE gets its accessed bit once it is present; the PTE its accessed bit, and its
    dirty bit for a write, once the access is allowed; nothing else in them changes."""
    a = Access(impl)
    e = Entries(a)
    ad = z3.BitVecVal(PTE_A | PTE_D, 32)
    pde_present = e.pde & PTE_P != 0
    pte_after = e.pte | PTE_A | z3.If(a.write, z3.BitVecVal(PTE_D, 32), z3.BitVecVal(0, 32))
    conclusion = z3.And(
        z3.Implies(z3.Not(pde_present), _word_at(e.after, e.pde_pa) == e.pde),
        z3.Implies(z3.And(e.in_mem, pde_present, e.pte_pa != e.pde_pa),
                   z3.And(_word_at(e.after, e.pde_pa) == e.pde | PTE_A,
                          _word_at(e.after, e.pte_pa) == z3.If(a.out.raised, e.pte, pte_after))),
        z3.Implies(z3.And(e.in_mem, pde_present, e.pte_pa == e.pde_pa),
                   (_word_at(e.after, e.pde_pa) & ~ad) == (e.pde & ~ad)),
    )
    return a.goal(conclusion)


@obligation("x86.walk.error_code")
def walk_error_code(impl: types.ModuleType = impl_x86) -> Goal:
    """A page fault reports the faulting address (CR2) and Intel's error code: P when both
    levels are present (a protection fault), W for a write, U for a user-mode access."""
    a = Access(impl)
    fault_va, code = a.out.exception_args
    pde = _word_at(a.pre(), impl_x86.pde_addr(a.cr3, a.va))
    in_mem = z3.And(z3.UGE(a.pre().length, 4), z3.ULE(impl_x86.pde_addr(a.cr3, a.va), a.pre().length - 4))
    bit = lambda b: code & b != 0  # noqa: E731
    conclusion = z3.Implies(a.out.raised, z3.And(
        fault_va == a.va, z3.ULT(code, 8), bit(PFEC_W) == a.write, bit(PFEC_U) == a.user,
        z3.Implies(z3.Or(z3.Not(in_mem), pde & PTE_P == 0), z3.Not(bit(PFEC_P)))))
    return a.goal(conclusion)


@obligation("x86.entry.roundtrip")
def entry_roundtrip(impl: types.ModuleType = impl_x86) -> Goal:
    """Decoding a word and encoding the entry gives the word back, and the other way round
    for every entry whose fields are in range."""
    word = z3.BitVec("word", 32)
    e = fresh(ENTRY, "entry")
    back = run(spec_x86.encode, lambda: [run(spec_x86.decode, lambda: [word]).result]).result
    again = run(spec_x86.decode, lambda: [run(spec_x86.encode, lambda: [e]).result]).result
    fits = z3.And(z3.ULT(e.frame, 1 << 20), z3.ULT(e.avail, 8))
    return Goal([fits], z3.And(back == word, equal(ENTRY, again, e)),
                {"word": Shown(WORD, word), "entry": Shown(ENTRY, e)})


# -- replay -----------------------------------------------------------------------------------


def replay_walk(impl: types.ModuleType | None, mem: bytearray, cr3: int, va: int, write: bool,
                user: bool) -> None:
    """Run the walk natively and compare it with the abstract lookup on the same case."""
    impl = impl or impl_x86
    if len(mem) > 1 << 24:
        raise InvalidCase("memory too large to replay")
    space = address_space(mem, cr3)
    ok, value = spec_x86.lookup(space, va, write, user)
    try:
        pa = impl.walk(mem, cr3, va, write, user)
    except PageFault as fault:
        assert not ok and fault.va == va and fault.error_code == value, (ok, value, fault.error_code)
        return
    assert ok and pa == value, (ok, value, pa)
