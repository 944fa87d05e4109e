"""The x86 layer's proof: the MMU walk refines the abstract lookup, for every 32-bit
address, every memory and every CR3 (all bit-vectors: no address is enumerated)."""

from __future__ import annotations

import types
from typing import Any

import z3

import impl.x86 as impl_x86
import spec.x86 as spec_x86
from impl.x86 import pde_addr, phys_load32, pte_addr
from spec.abi import PFEC_P, PFEC_U, PFEC_W, PTE_A, PTE_D, PTE_P, PTE_U, PTE_W, PageFault
from spec.map import Map
from spec.x86 import NPAGES, AddressSpace, Entry, Mapping, PhysMem, TrapFrame, UserContext, u32

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
    """The 32-bit word at pa, as the x86 layer reads one (0 past the end of memory)."""
    return run(impl_x86.phys_load32, lambda: [mem, pa]).result


class Entries:
    """The two entries a walk reads, as they are in memory before it."""

    def __init__(self, a: Access) -> None:
        self.before, self.after = a.pre(), a.out.args[0]
        self.pde_pa = impl_x86.pde_addr(a.cr3, a.va)
        self.pde = _word_at(self.before, self.pde_pa)
        self.pte_pa = pte_addr(self.pde, a.va)  # branch-free: runs on the Z3 words as they are
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
    """The walk natively, against the abstract lookup and the accessed/dirty rules."""
    impl = impl or impl_x86
    if len(mem) > 1 << 24:
        raise InvalidCase("memory too large to replay")
    before = bytes(mem)
    ok, value = spec_x86.lookup(address_space(mem, cr3), va, write, user)
    pde_pa = pde_addr(cr3, va)
    pde = phys_load32(before, pde_pa)
    pte_pa = pte_addr(pde, va)
    pte = phys_load32(before, pte_pa)
    try:
        pa = impl.walk(mem, cr3, va, write, user)
    except PageFault as fault:
        assert not ok and fault.va == va and fault.error_code == value, (ok, value, fault.error_code)
    else:
        assert ok and pa == value, (ok, value, pa)
    entries = set(range(pde_pa, pde_pa + 4)) | set(range(pte_pa, pte_pa + 4))
    assert all(mem[i] == before[i] for i in range(len(mem)) if i not in entries), "wrote outside the entries"
    if pde & PTE_P and pde_pa != pte_pa and pte_pa + 4 <= len(mem):
        assert phys_load32(mem, pde_pa) == pde | PTE_A, "PDE accessed bit"
        want = pte | PTE_A | (PTE_D if write else 0) if ok else pte
        assert phys_load32(mem, pte_pa) == want, "PTE accessed/dirty bits"


# -- trap frames ----------------------------------------------------------------------------------

CPU = RecT(impl_x86.Cpu)
FRAME = RecT(TrapFrame)
CONTEXT = RecT(UserContext)


def user_context(cpu: impl_x86.Cpu) -> UserContext:
    return UserContext(edi=cpu.edi, esi=cpu.esi, ebp=cpu.ebp, ebx=cpu.ebx, edx=cpu.edx, ecx=cpu.ecx,
                       eax=cpu.eax, es=cpu.es, ds=cpu.ds, eip=cpu.eip, cs=cpu.cs, eflags=cpu.eflags,
                       esp=cpu.esp, ss=cpu.ss)


def frame_at(mem: PhysMem, tf: int) -> TrapFrame:
    """The tf_t at address tf, read field by field at mCertikOS's offsets."""
    w = impl_x86.phys_load32
    s = impl_x86.phys_load16
    return TrapFrame(
        edi=w(mem, tf + 0), esi=w(mem, tf + 4), ebp=w(mem, tf + 8), oesp=w(mem, tf + 12),
        ebx=w(mem, tf + 16), edx=w(mem, tf + 20), ecx=w(mem, tf + 24), eax=w(mem, tf + 28),
        es=s(mem, tf + 32), ds=s(mem, tf + 36), trapno=w(mem, tf + 40), err=w(mem, tf + 44),
        eip=w(mem, tf + 48), cs=s(mem, tf + 52), eflags=w(mem, tf + 56), esp=w(mem, tf + 60),
        ss=s(mem, tf + 64),
    )


def _fits(mem: Any, lo: z3.BitVecRef, size: int) -> z3.BoolRef:
    """[lo, lo + size) lies in memory without wrapping around 2**32."""
    return z3.And(z3.UGE(mem.length, size), z3.ULE(lo, mem.length - size))


def _unchanged_outside(before: Any, after: Any, lo: z3.BitVecRef, size: int) -> z3.BoolRef:
    x = z3.BitVec("x", 32)
    return z3.And(after.length == before.length,
                  z3.ForAll([x], z3.Implies(z3.UGE(x - lo, size),
                                            z3.Select(after.leaves[0], x) == z3.Select(before.leaves[0], x))))


class Trap:
    """A symbolic memory and CPU, a trap taken from them, and the kernel stack it uses."""

    def __init__(self, impl: types.ModuleType = impl_x86) -> None:
        self.leaves = flatten(MEM, fresh(MEM, "mem"))
        self.cpu_leaves = flatten(CPU, fresh(CPU, "cpu"))
        self.tss, self.vector, self.err = z3.BitVecs("tss vector err", 32)
        mem = self.mem()
        self.esp0 = run(impl_x86.phys_load32, lambda: [mem, self.tss + 4]).result
        self.given = [_fits(mem, self.tss, 12), z3.UGE(self.esp0, impl_x86.TF_SIZE),
                      z3.ULE(self.esp0, mem.length)]
        self.out = self.run(impl.trap, lambda: [self.mem(), self.cpu(), self.tss, self.vector, self.err])
        self.hypotheses = [*self.given, *self.out.assumptions]
        self.impl = impl

    def run(self, fn: Any, make_args: Any) -> Any:
        return run(fn, make_args, assume=self.given)

    def mem(self) -> Any:
        return unflatten(MEM, self.leaves)

    def cpu(self) -> impl_x86.Cpu:
        return unflatten(CPU, self.cpu_leaves)

    def goal(self, conclusion: z3.BoolRef, extra: list[z3.BoolRef] | None = None) -> Goal:
        inputs = {"mem": Shown(MEM, self.mem()), "cpu": Shown(CPU, self.cpu()),
                  "tss": Shown(WORD, self.tss), "vector": Shown(WORD, self.vector),
                  "err": Shown(WORD, self.err)}
        return Goal([*self.hypotheses, *(extra or [])], conclusion, inputs,
                    sizes=[z3.LShR(self.mem().length, 8)], replay=replay_trap,
                    replay_module=self.impl.__name__)


@obligation("x86.trap.frame")
def trap_frame_layout(impl: types.ModuleType = impl_x86) -> Goal:
    """A trap from user mode leaves, 68 bytes below the TSS's esp0, the tf_t that the
    spec's trap_frame describes: the user's context, the vector and the error code."""
    t = Trap(impl)
    mem, cpu, _, _, _ = t.out.args
    tf = t.out.result
    got = t.run(frame_at, lambda: [mem, tf]).result
    ctx = run(user_context, lambda: [t.cpu()]).result
    want = run(spec_x86.trap_frame, lambda: [ctx, t.vector, t.err, t.esp0 - 36]).result
    return t.goal(z3.And(tf == t.esp0 - impl_x86.TF_SIZE, equal(FRAME, got, want)))


@obligation("x86.trap.roundtrip")
def trap_roundtrip(impl: types.ModuleType = impl_x86) -> Goal:
    """Returning from the frame a trap made restores the user's context exactly."""
    t = Trap(impl)
    mem, cpu, _, _, _ = t.out.args
    back = t.run(impl.trap_return, lambda: [mem, cpu, t.out.result])
    before = run(user_context, lambda: [t.cpu()]).result
    after = run(user_context, lambda: [back.args[1]]).result
    return t.goal(equal(CONTEXT, after, before), back.assumptions)


@obligation("x86.trap.stack_only")
def trap_stack_only(impl: types.ModuleType = impl_x86) -> Goal:
    """A trap writes the 68 bytes of its frame below esp0 and no other byte."""
    t = Trap(impl)
    lo = t.esp0 - impl_x86.TF_SIZE
    return t.goal(_unchanged_outside(t.mem(), t.out.args[0], lo, impl_x86.TF_SIZE))


class Syscall:
    """A symbolic memory holding a tf_t at address tf."""

    def __init__(self, impl: types.ModuleType) -> None:
        self.impl = impl
        self.leaves = flatten(MEM, fresh(MEM, "mem"))
        self.tf = z3.BitVec("tf", 32)
        self.hypotheses = [_fits(self.mem(), self.tf, impl_x86.TF_SIZE)]

    def run(self, fn: Any, make_args: Any) -> Any:
        return run(fn, make_args, assume=self.hypotheses)

    def mem(self) -> Any:
        return unflatten(MEM, self.leaves)

    def goal(self, conclusion: z3.BoolRef, inputs: dict[str, Shown]) -> Goal:
        return Goal(self.hypotheses, conclusion,
                    {"mem": Shown(MEM, self.mem()), "tf": Shown(WORD, self.tf), **inputs},
                    sizes=[z3.LShR(self.mem().length, 8)], replay=replay_syscall,
                    replay_module=self.impl.__name__)


@obligation("x86.syscall.args")
def syscall_args_decoded(impl: types.ModuleType = impl_x86) -> Goal:
    """syscall_get_arg1..6 read eax (the number), then ebx, ecx, edx, esi, edi."""
    s = Syscall(impl)
    want = run(spec_x86.syscall_args, lambda: [s.run(frame_at, lambda: [s.mem(), s.tf]).result]).result
    got = [s.run(getattr(impl, f"syscall_get_arg{i}"), lambda: [s.mem(), s.tf]).result for i in range(1, 7)]
    return s.goal(z3.And([g == w for g, w in zip(got, want, strict=True)]), {})


@obligation("x86.syscall.results")
def syscall_results_written(impl: types.ModuleType = impl_x86) -> Goal:
    """Returning from a system call writes eax and the listed result registers (ebx, ecx,
    edx, esi, in that order) of the frame, and no other byte of memory."""
    s = Syscall(impl)
    errno, n, r1, r2, r3, r4 = z3.BitVecs("errno n r1 r2 r3 r4", 32)
    out = s.run(impl.syscall_return, lambda: [s.mem(), s.tf, errno, n, r1, r2, r3, r4])
    got = s.run(frame_at, lambda: [out.args[0], s.tf]).result
    before = s.run(frame_at, lambda: [s.mem(), s.tf]).result
    want = run(spec_x86.set_results, lambda: [before, errno, n, r1, r2, r3, r4]).result
    conclusion = z3.And(equal(FRAME, got, want),
                        _unchanged_outside(s.mem(), out.args[0], s.tf, impl_x86.TF_SIZE))
    shown = {"errno": errno, "n": n, "r1": r1, "r2": r2, "r3": r3, "r4": r4}
    return s.goal(conclusion, {k: Shown(WORD, v) for k, v in shown.items()})


def replay_trap(impl: types.ModuleType | None, mem: bytearray, cpu: impl_x86.Cpu, tss: int, vector: int,
                err: int) -> None:
    """A trap and its return, natively: the frame, the restored context, the bytes written."""
    impl = impl or impl_x86
    esp0 = impl_x86.phys_load32(mem, tss + 4)
    if not (tss + 12 <= len(mem) and impl_x86.TF_SIZE <= esp0 <= len(mem)):
        raise InvalidCase("the TSS or the kernel stack lies outside memory")
    before, ctx = bytes(mem), user_context(cpu)
    tf = impl.trap(mem, cpu, tss, vector, err)
    assert tf == esp0 - impl_x86.TF_SIZE
    assert frame_at(mem, tf) == spec_x86.trap_frame(ctx, vector, err, esp0 - 36), frame_at(mem, tf)
    changed = [i for i in range(len(mem)) if mem[i] != before[i]]
    assert all(tf <= i < esp0 for i in changed), changed
    impl.trap_return(mem, cpu, tf)
    assert user_context(cpu) == ctx, (user_context(cpu), ctx)


def replay_syscall(impl: types.ModuleType | None, mem: bytearray, tf: int, **results: int) -> None:
    impl = impl or impl_x86
    if tf + impl_x86.TF_SIZE > len(mem):
        raise InvalidCase("the frame lies outside memory")
    frame = frame_at(mem, tf)
    args = tuple(getattr(impl, f"syscall_get_arg{i}")(mem, tf) for i in range(1, 7))
    assert args == spec_x86.syscall_args(frame), args
    if results:
        before = bytes(mem)
        values = [results[k] for k in ("errno", "n", "r1", "r2", "r3", "r4")]
        impl.syscall_return(mem, tf, *values)
        assert frame_at(mem, tf) == spec_x86.set_results(frame, *values)
        assert all(tf <= i < tf + impl_x86.TF_SIZE for i in range(len(mem)) if mem[i] != before[i])
