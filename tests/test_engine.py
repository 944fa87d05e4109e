"""The engine's terms mean what the code does: for many concrete inputs, the Z3 terms
derived from a function's source, instantiated with those inputs, can only equal the
function's native result (hyperkernel's irpy checks its LLVM emitter the same way)."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import random
import sys
from typing import Any

import pytest
import z3

import impl.message as impl_message
import spec.message as spec_message
from impl.message import MsgTable
from proofs.engine.interp import Given, Pruner, Unsupported, run
from proofs.engine.terms import subterms
from proofs.engine.values import (
    BYTES,
    INT,
    ArrT,
    RecT,
    SArray,
    Ty,
    equal,
    flatten,
    fresh,
    ty_of_value,
    unflatten,
)
from proofs.layer import over
from proofs.message import BITMAP, OPERATIONS, abstract, table_ok
from proofs.obligation import quantifier_free
from spec.map import Map
from spec.message import Mailboxes
from spec.x86 import u32
from tests.tables import random_table

TABLE = RecT(MsgTable)
CASES = 40


def agree(ty: Ty, sym: Any, native: Any) -> z3.BoolRef:
    """sym equals native on every index native has (arrays are compared entry by entry)."""
    if isinstance(ty, ArrT):
        assert isinstance(sym, SArray)
        return z3.And([agree(ty.elem, sym.get(i), x) for i, x in enumerate(native)] or [True])
    if isinstance(ty, RecT):
        return z3.And([agree(t, getattr(sym, n), getattr(native, n)) for n, t in ty.fields])
    return equal(ty, sym, native)


def only_native(constraints: list[z3.BoolRef], claim: z3.BoolRef) -> None:
    s = z3.Solver()
    s.set("timeout", 20000)
    s.add(*constraints)
    assert s.check() == z3.sat, "the bindings of the inputs are contradictory"
    s.add(z3.Not(claim))
    assert s.check() == z3.unsat, f"the derived term can differ from the native run: {s.model()}"


def random_args(rng: random.Random, op: str, t: MsgTable) -> list[Any]:
    args: list[Any] = []
    for _, ty in OPERATIONS[op].args:
        if ty is BITMAP:
            args.append([rng.random() < 0.5 for _ in range(t.nslots)])
        elif ty is BYTES:
            args.append(bytes(rng.randrange(256) for _ in range(rng.randrange(t.msg_max + 2))))
        elif op == "create":
            args.append(rng.randrange(-1, t.qlen_max + 2))
        else:
            args.append(rng.randrange(-1, t.nslots + 1) if len(args) == 0 else rng.randrange(100))
    return args


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_impl_terms_equal_native_runs(op: str) -> None:
    fn = getattr(impl_message, f"queue_{op}")
    sym_table = fresh(TABLE, "t")
    leaves = flatten(TABLE, sym_table)
    sym_args = [fresh(ty, f"a{i}") for i, ty in enumerate(ty for _, ty in OPERATIONS[op].args)]
    out = run(fn, lambda: [unflatten(TABLE, leaves), *sym_args])
    rng = random.Random(op)
    for _ in range(CASES):
        t = random_table(rng)
        args = random_args(rng, op, t)
        before = copy.deepcopy(t)
        result = fn(t, *args)
        constraints = [agree(TABLE, sym_table, before), *out.assumptions]
        arg_types = [ty for _, ty in OPERATIONS[op].args]
        constraints += [agree(ty, a, v) for ty, a, v in zip(arg_types, sym_args, args, strict=True)]
        results = result if isinstance(result, tuple) else (result,)
        sym_results = out.result if isinstance(out.result, tuple) else (out.result,)
        claim = z3.And([equal(ty_of_value(r), s, r) for s, r in zip(sym_results, results, strict=True)]
                       + [agree(TABLE, out.args[0], t)])
        only_native(constraints, claim)


@pytest.mark.parametrize("fn", [abstract, table_ok], ids=lambda f: f.__name__)
def test_abstraction_and_invariant_terms_equal_native_runs(fn: Any) -> None:
    sym_table = fresh(TABLE, "t")
    leaves = flatten(TABLE, sym_table)
    out = run(fn, lambda: [unflatten(TABLE, leaves)])
    rng = random.Random(fn.__name__)
    for _ in range(CASES):
        t = random_table(rng)
        native = fn(t)
        ty = RecT(Mailboxes) if fn is abstract else ty_of_value(native)
        only_native([agree(TABLE, sym_table, t), *out.assumptions], equal(ty, out.result, native))


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_spec_terms_equal_native_runs(op: str) -> None:
    fn = getattr(spec_message, f"queue_{op}")
    mb_ty = RecT(Mailboxes)
    sym_mb = fresh(mb_ty, "mb")
    sym_args = [fresh(ty, f"a{i}") for i, ty in enumerate(ty for _, ty in OPERATIONS[op].args)]
    out = run(fn, lambda: [sym_mb, *sym_args])
    rng = random.Random(f"spec-{op}")
    inputs = [(mb_ty, sym_mb), *zip([ty for _, ty in OPERATIONS[op].args], sym_args, strict=True)]
    for _ in range(CASES):
        t = random_table(rng)
        mb = abstract(t)
        args = random_args(rng, op, t)
        native = fn(mb, *args)
        # Instantiate the derived terms: every input leaf becomes the native value's term.
        pairs = [(x, y) for (ty, sym), v in zip(inputs, [mb, *args], strict=True)
                 for x, y in zip(flatten(ty, sym), flatten(ty, v), strict=True)]
        claim = z3.And([equal(ty_of_value(n), s, n) for s, n in zip(out.result, native, strict=True)])
        only_native([z3.substitute(a, *pairs) for a in out.assumptions], z3.substitute(claim, *pairs))


def test_code_outside_the_subset_is_refused_not_approximated() -> None:
    def uses_while(t: MsgTable) -> int:
        n = 0
        while n < t.nslots:
            n += 1
        return n

    with pytest.raises(Unsupported):
        run(uses_while, lambda: [fresh(TABLE, "t")])


def test_a_loop_that_is_neither_map_nor_search_is_refused() -> None:
    def sums(t: MsgTable) -> int:
        total = 0
        for q in range(t.nslots):
            total = total + t.count[q]
        return total

    with pytest.raises(Unsupported):
        run(sums, lambda: [fresh(TABLE, "t")])


def test_branches_are_explored_on_every_path() -> None:
    def sign(x: int) -> int:
        if x < 0:
            return -1
        if x == 0:
            return 0
        return 1

    x = z3.Int("x")
    out = run(sign, lambda: [x])
    assert out.paths == 3
    for v, want in ((-5, -1), (0, 0), (7, 1)):
        assert z3.simplify(z3.substitute(out.result, (x, z3.IntVal(v)))).as_long() == want


def test_the_value_of_a_computed_word_is_tied_to_it_and_equals_native_runs() -> None:
    """int() of a word computed from others is an opaque term that an assumption of the run
    ties to the word's value; under a binder, where an assumption could not name the bound
    variable, it is the value itself."""
    def frame_of(pte: int) -> int:
        return int(pte >> 12)

    def frames_of(pte: int) -> list[int]:
        return [int(pte >> i) for i in range(u32(12), u32(16))]

    pte = z3.BitVec("pte", 32)
    out = run(frame_of, lambda: [pte])
    assert out.result.decl().kind() == z3.Z3_OP_UNINTERPRETED
    assert len(out.assumptions) == 1
    rng = random.Random("word value")
    for v in [0, 0xFFFFFFFF, *(rng.getrandbits(32) for _ in range(CASES))]:
        bound = [z3.substitute(a, (pte, z3.BitVecVal(v, 32))) for a in out.assumptions]
        only_native(bound, z3.substitute(out.result, (pte, z3.BitVecVal(v, 32))) == frame_of(v))
    under_binder = run(frames_of, lambda: [pte])
    assert under_binder.assumptions == []



def test_all_and_any_over_a_concrete_map_are_its_members_written_out() -> None:
    """A boot state's maps have concrete keys: all() and any() over them are a conjunction
    and a disjunction of the members, with no quantifier, equal to native runs."""
    def below(m: Map[int, int], x: int) -> bool:
        return all(m[k] < x for k in m)

    def some_positive_key_at(m: Map[int, int], x: int) -> bool:
        return any(m[k] == x for k in m if k > 0)

    x = z3.Int("x")
    for fn in (below, some_positive_key_at):
        for m in (Map(), Map({0: 3}), Map({0: 3, 2: 7, 5: -1})):
            out = run(fn, lambda m=m: [m, x])
            assert quantifier_free(out.result)
            for v in range(-2, 9):
                only_native([], z3.substitute(out.result, (x, z3.IntVal(v))) == fn(m, v))


def test_all_over_a_list_of_terms_is_its_members_written_out() -> None:
    """A list of computed points (where an obligation assumes the invariant) has a concrete
    length: all() over it is the conjunction at each point, equal to native runs."""
    def all_below(xs: list[int], y: int) -> bool:
        return all(x < y for x in xs)

    a, b, y = z3.Ints("a b y")
    out = run(all_below, lambda: [[a, b + 1], y])
    assert quantifier_free(out.result)
    for va, vb, vy in itertools.product(range(-1, 3), repeat=3):
        values = [(a, z3.IntVal(va)), (b, z3.IntVal(vb)), (y, z3.IntVal(vy))]
        only_native([], z3.substitute(out.result, *values) == all_below([va, vb + 1], vy))


def test_a_list_returned_on_two_paths_is_merged_elementwise() -> None:
    """A function whose list result depends on a branch returns, symbolically, the list of
    the merged elements, equal to native runs."""
    def points(x: int) -> list[int]:
        if x > 2:
            return [x, 0]
        return [1, x + 1]

    x = z3.Int("x")
    out = run(points, lambda: [x])
    assert isinstance(out.result, list) and len(out.result) == 2
    for v in range(-1, 5):
        only_native([], z3.And([z3.substitute(e, (x, z3.IntVal(v))) == w
                                for e, w in zip(out.result, points(v), strict=True)]))


def test_a_new_zeroed_memory_of_a_symbolic_size_equals_native_boots() -> None:
    """pt_init's physical memory, a bytearray of a size computed from the config, is
    word-addressed memory of that length: zero but where boot writes, as natively."""
    from impl.vm import PTPool, pt_init
    from spec.abi import KERN_PTBL_FRAME, Config

    names = ("NUM_PROC", "VM_USERLO", "VM_USERHI")
    words = {name: z3.BitVec(name, 32) for name in (*names, "nframes")}
    cfg = Config(**{name: z3.BV2Int(words[name]) for name in names})
    out = run(pt_init, lambda: [cfg, z3.BV2Int(words["nframes"])])
    sym: PTPool = out.result
    kpt = KERN_PTBL_FRAME << 12
    rng = random.Random("boot")
    for _ in range(6):
        lo, tables = rng.randrange(1, 1 << 10) << 22, rng.randrange(1, 3)
        native = Config(NUM_PROC=rng.randrange(1, 4), VM_USERLO=lo, VM_USERHI=lo + (tables << 22))
        nframes = rng.randrange(0, 4)
        pt = pt_init(native, nframes)
        given = {"nframes": nframes, **{name: getattr(native, name) for name in names}}
        pairs = [(words[name], z3.BitVecVal(v, 32)) for name, v in given.items()]
        addresses = [*range(0, 8192, 4), *range(kpt, kpt + 4096, 64), *rng.sample(range(len(pt.mem)), 8)]
        claim = z3.And(sym.mem.length == len(pt.mem), sym.nproc == pt.nproc, sym.nframes == pt.nframes,
                       *[z3.Select(sym.mem.leaves[0], a) == pt.mem[a] for a in addresses])
        only_native([z3.substitute(a, *pairs) for a in out.assumptions], z3.substitute(claim, *pairs))


# -- bit-vector code: the MMU walk and the trap path ------------------------------------------


def sparse_memory(rng: random.Random) -> bytearray:
    """16 KiB, zero but for page-table entries and data around a few addresses."""
    mem = bytearray(16384)
    for _ in range(12):
        pa = rng.randrange(0, len(mem) - 4) & ~3
        frame = rng.randrange(0, 5)  # a frame inside memory, or just past it
        mem[pa:pa + 4] = ((frame << 12) | rng.getrandbits(12)).to_bytes(4, "little")
    return mem


def lift_memory(mem: bytearray) -> list[z3.ExprRef]:
    array = z3.K(z3.BitVecSort(32), z3.BitVecVal(0, 8))
    for i, b in enumerate(mem):
        if b:
            array = z3.Store(array, i, b)
    return [z3.BitVecVal(len(mem), 32), array]


def test_walk_terms_equal_native_runs() -> None:
    from impl import x86
    from proofs.x86 import MEM
    from spec.abi import PageFault

    leaves = flatten(MEM, fresh(MEM, "mem"))
    cr3, va = z3.BitVecs("cr3 va", 32)
    write, user = z3.Bools("write user")
    out = run(x86.walk, lambda: [unflatten(MEM, leaves), cr3, va, write, user])
    rng = random.Random("walk")
    for _ in range(CASES):
        mem = sparse_memory(rng)
        c, v = rng.randrange(0, 4) << 12, rng.getrandbits(32)
        w, u = rng.random() < 0.5, rng.random() < 0.5
        pairs = [*zip(leaves, lift_memory(mem), strict=True), (cr3, z3.BitVecVal(c, 32)),
                 (va, z3.BitVecVal(v, 32)), (write, z3.BoolVal(w)), (user, z3.BoolVal(u))]
        after = bytearray(mem)
        try:
            claim = z3.And(z3.Not(out.raised), out.result == x86.walk(after, c, v, w, u))
        except PageFault as fault:
            claim = z3.And(out.raised, out.exception_args[0] == fault.va,
                           out.exception_args[1] == fault.error_code)
        touched = [i for i in range(len(mem)) if after[i] != mem[i]] + [rng.randrange(len(mem))]
        claim = z3.And(claim, *[z3.Select(out.args[0].leaves[0], i) == after[i] for i in touched])
        only_native([z3.substitute(a, *pairs) for a in out.assumptions], z3.substitute(claim, *pairs))


def test_trap_terms_equal_native_runs() -> None:
    """The terms x86.trap.* prove things about (derived under those obligations' givens: the
    TSS and the kernel stack lie in memory), on cases where the givens hold."""
    from impl import x86
    from proofs.x86 import CPU, Trap

    t = Trap()
    leaves, cpu_leaves, tss, vector, err, out = t.leaves, t.cpu_leaves, t.tss, t.vector, t.err, t.out
    rng = random.Random("trap")
    for _ in range(CASES):
        mem = bytearray(4096)
        tss_pa = rng.randrange(0, 4000) & ~3
        mem[tss_pa + 4:tss_pa + 8] = rng.randrange(68, 4096).to_bytes(4, "little")
        cpu = x86.Cpu(**{f.name: rng.getrandbits(16 if f.name in ("cs", "ss", "ds", "es") else 32)
                         for f in dataclasses.fields(x86.Cpu)})
        vec, e = rng.choice([3, 8, 13, 14, 17, 32, 48]), rng.getrandbits(32)
        pairs = [*zip(leaves, lift_memory(mem), strict=True),
                 *zip(cpu_leaves, flatten(CPU, cpu), strict=True),
                 (tss, z3.BitVecVal(tss_pa, 32)), (vector, z3.BitVecVal(vec, 32)), (err, z3.BitVecVal(e, 32))]
        after, cpu_after = bytearray(mem), copy.deepcopy(cpu)
        tf = x86.trap(after, cpu_after, tss_pa, vec, e)
        claim = z3.And(out.result == tf, agree(CPU, out.args[1], cpu_after),
                       *[z3.Select(out.args[0].leaves[0], i) == after[i] for i in range(tf, tf + 68)])
        given = [z3.substitute(g, *pairs) for g in t.given]
        only_native([*given, *[z3.substitute(a, *pairs) for a in out.assumptions]],
                    z3.substitute(claim, *pairs))


def two_branches(x: int, y: int) -> int:
    r = 0
    if x > 0:
        r += 1
    if y > 0:
        r += 2
    return r


def test_a_branch_the_assumptions_rule_out_is_not_explored() -> None:
    x, y = z3.Int("x"), z3.Int("y")
    out = run(two_branches, lambda: [x, y], assume=[x > 10])
    assert out.paths == 2
    s = z3.Solver()
    s.add(x > 10, out.result != z3.If(y > 0, 3, 1))
    assert s.check() == z3.unsat


def test_each_pruning_question_is_answered_once_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every path replays the branches of the one before; the pruner answers each
    (branch, path so far) once: 2 questions at the first branch, 2 at the second on each
    side of the first, where asking on every path would take 16. The solver is asked only
    those that no model found before answers."""
    answered, asked = [], []
    possible = Pruner.possible
    monkeypatch.setattr(Pruner, "possible", lambda self, q: answered.append(1) or possible(self, q))
    check = z3.Solver.check
    monkeypatch.setattr(z3.Solver, "check", lambda self, *a: asked.append(1) or check(self, *a))
    x, y = z3.Int("x"), z3.Int("y")
    out = run(two_branches, lambda: [x, y], assume=[x + y > -100])
    assert out.paths == 4
    assert len(answered) == 6
    assert 2 <= len(asked) < len(answered)


def test_runs_over_the_same_assumptions_share_the_pruners_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second run over the same givens asks no question the first answered, and gets
    the same paths; a run over other givens asks its own."""
    x, y = z3.Int("x"), z3.Int("y")
    first = run(two_branches, lambda: [x, y], assume=[x + y > -200])
    answered = []
    possible = Pruner.possible
    monkeypatch.setattr(Pruner, "possible", lambda self, q: answered.append(1) or possible(self, q))
    again = run(two_branches, lambda: [x, y], assume=[x + y > -200])
    assert (again.paths, answered) == (first.paths, [])
    other = run(two_branches, lambda: [x, y], assume=[x > 20])
    assert other.paths == 2 and len(answered) > 0


# -- each loops: a walk over a table that changes entry i alone at step i ----------------------


@dataclasses.dataclass
class Counters:
    n: int
    c: list[int]


def bump(t: Counters, i: int) -> None:
    t.c[i] = t.c[i] + 1 if t.c[i] < 7 else 0


def bump_each(t: Counters, lo: int) -> None:
    for i in range(lo, t.n):
        if i % 2 == 0:
            bump(t, i)


def take_left(t: Counters, i: int) -> None:
    t.c[i] = t.c[i - 1] if i > 0 else t.c[i]


def shift_each(t: Counters) -> None:
    for i in range(t.n):
        take_left(t, i)


def bump_next(t: Counters, i: int) -> None:
    t.c[i + 1] = 5


def bump_next_each(t: Counters) -> None:
    for i in range(t.n):
        bump_next(t, i)


COUNTERS = RecT(Counters)


def _valid(claims: list[z3.BoolRef], given: list[z3.BoolRef] | None = None) -> z3.CheckSatResult:
    s = z3.Solver()
    s.add(*(given or []), z3.Not(z3.And(claims)))
    return s.check()


def test_an_each_loop_equals_native_runs_and_its_independence_is_proved() -> None:
    sym = fresh(COUNTERS, "t")
    leaves = flatten(COUNTERS, sym)
    lo = z3.Int("lo")
    out = run(bump_each, lambda: [unflatten(COUNTERS, leaves), lo])
    assert out.obligations and _valid(out.obligations) == z3.unsat
    rng = random.Random(0)
    for _ in range(CASES):
        n = rng.randrange(0, 9)
        t = Counters(n, [rng.randrange(9) for _ in range(n)])
        start = rng.randrange(-1, 4)
        before = copy.deepcopy(t)
        bump_each(t, start)
        claim = agree(COUNTERS, out.args[0], t)
        only_native([agree(COUNTERS, sym, before), lo == start, *out.assumptions], claim)


@pytest.mark.parametrize("fn", [shift_each, bump_next_each], ids=lambda f: f.__name__)
def test_an_each_loop_whose_steps_depend_on_each_other_is_refused_by_its_obligation(fn: Any) -> None:
    """Step i reads entry i - 1, which step i - 1 changed; or writes entry i + 1: the terms
    would describe a simultaneous update, so the obligation the run carries is false."""
    sym = fresh(COUNTERS, "t")
    leaves = flatten(COUNTERS, sym)
    out = run(fn, lambda: [unflatten(COUNTERS, leaves)])
    assert out.obligations and _valid(out.obligations) == z3.sat


def first_zero(xs: list[int], n: int) -> int:
    for i in range(n):
        if xs[i] == 0:
            return i
    return n


def test_paths_that_run_a_search_in_one_state_share_its_witness() -> None:
    """A fork after a search loop: both paths ran the loop in the same state, so the merged
    result names one witness, and it equals native runs."""
    def probe(xs: list[int], n: int, flag: bool) -> int:
        w = first_zero(xs, n)
        if flag:
            return w
        return w + 1

    xs, n, flag = fresh(ArrT(INT), "xs"), z3.Int("n"), z3.Bool("flag")
    out = run(probe, lambda: [xs, n, flag])
    witnesses = {x.get_id() for x in subterms(out.result) if z3.is_const(x) and str(x).startswith("first_i")}
    assert out.paths >= 2 and len(witnesses) == 1
    for native, f in (([3, 0, 0], True), ([3, 0, 0], False), ([1, 2], False)):
        bound = [n == len(native), flag == f, *[xs.get(i) == v for i, v in enumerate(native)]]
        only_native([*bound, *out.assumptions], out.result == probe(list(native), len(native), f))


def test_a_given_answers_the_value_it_holds() -> None:
    """A Given stands for a function whose result the proof leaves open: every call answers
    its value, natively as symbolically."""
    def twice(h: Given, name: bytes) -> int:
        return h(name) + h(name)

    v = z3.Int("v")
    out = run(twice, lambda: [Given(v), fresh(BYTES, "name")])
    only_native([v == 21], out.result == 42)
    assert twice(Given(21), b"x") == 42


def test_a_row_read_through_the_stores_into_a_two_level_array_is_the_row_stored() -> None:
    """SArray.get on a two-level array reads through the last stores by index comparisons:
    equal to the plain read at every index, however many rows were stored, and the read of a
    row stored at that very index is that row."""
    rows = z3.Array("rows", z3.IntSort(), z3.ArraySort(z3.IntSort(), z3.IntSort()))
    i, *js = z3.Ints("i j0 j1 j2 j3 j4 j5")
    vs = [z3.Array(f"v{n}", z3.IntSort(), z3.IntSort()) for n in range(len(js))]
    a = rows
    for j, v in zip(js, vs, strict=True):
        a = z3.Store(a, j, v)
    table = SArray(ArrT(ArrT(INT, list), list), [a])
    s = z3.Solver()
    s.add(z3.Not(table.get(i).leaves[0] == z3.Select(a, i)))
    assert s.check() == z3.unsat
    assert table.get(js[-1]).leaves[0].eq(vs[-1])
    assert table.get(3).leaves[0].sort() == vs[0].sort()


@dataclasses.dataclass(frozen=True)
class _Successor:
    """A contract for `_successor`: for i >= 0 it answers i + 1 (and changes nothing)."""

    points: tuple[str, ...] = ()
    reads_only: bool = True

    @staticmethod
    def pre(state: int, i: int) -> bool:
        return i >= 0

    @staticmethod
    def post(before: int, after: int, r: int, i: int) -> bool:
        return r == i + 1


def _successor(state: int, i: int) -> int:
    return i + 1 if i >= 0 else 0


def _twice_the_successor(state: int, i: int) -> int:
    return 2 * _successor(state, i)


def test_a_call_by_contract_proves_the_pre_and_assumes_the_post_only_where_the_pre_holds() -> None:
    """The caller's run carries the pre as an obligation and the post, under the pre, as an
    assumption: with i >= 0 both give 2 * (i + 1); with no hypothesis the pre fails."""
    from proofs.engine.standins import ByContract

    i = z3.Int("i")
    module = sys.modules[__name__]
    with over(module, {"_successor": ByContract(_successor, INT, [_Successor()])}):
        assert _twice_the_successor(0, 3) == 8  # natively, the function itself
        out = run(_twice_the_successor, lambda: [0, i])
    s = z3.Solver()
    s.add(*out.assumptions, i >= 0, z3.Not(z3.And(*out.obligations, out.result == 2 * (i + 1))))
    assert s.check() == z3.unsat
    s = z3.Solver()
    s.add(*out.assumptions, z3.Not(z3.And(*out.obligations)))
    assert s.check() == z3.sat  # i < 0: the pre is not met, and the assumptions do not hide it
