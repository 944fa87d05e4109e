"""The VM layer: impl.vm behaves as spec.vm step by step, over the container layer's spec
(the layer alone) and over its impl (the whole concrete stack: x86, container, VM).

After every step, each live process's pages are compared through both layers' accessors
(spec.vm.translate against impl.vm.user_pa, for reads and writes), the containers and the
bytes of every user page; the full abstraction and invariant are checked at the end of
every run. User stores go through the x86 layer's MMU (`impl.x86.walk`), which sets
accessed and dirty bits in the very tables the VM layer keeps.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from pathlib import Path

import hypothesis.strategies as st
import pytest
import z3
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import impl.container as impl_container
import impl.vm as impl_vm
import spec.container as spec_container
import spec.vm as spec_vm
from impl.x86 import PTE_ADDR, walk
from proofs.container import INTERFACE, SpecContainers
from proofs.container import abstract as abstract_containers
from proofs.engine.interp import run
from proofs.layer import over
from proofs.vm import (
    MAP_LEMMAS,
    PID_DOMAINS,
    abstract,
    allocated,
    entry_byte,
    invariant_at,
    isolation,
    map_invariant,
    map_invariant_example,
    map_invariant_witness,
    map_lemma,
    map_refines_on_success,
    map_success_case,
    map_success_example,
    map_words,
    mapped_at,
    maps,
    noted_at,
    outside,
    page_keys,
    replay_map_invariant,
    replay_map_refines_on_success,
    run_native,
    spec_frames,
    strict_case,
    table_keys,
    teardown_invariant,
    teardown_quota_back,
    tears_down,
    torn_at,
    unmap_invariant,
    user_write_invariant,
    vm_ok,
    word_mapped_at,
)
from spec.abi import E_EXCEEDS_QUOTA, E_INVAL_ADDR, E_SUCC, FIRST_FRAME, MAX_PROC, PTE_P, Config, PageFault
from spec.x86 import u32
from tests.checking import checked, fails_on_the_impl, run_replay

CFG = Config(NUM_PROC=8, ROOT_QUOTA=12, VM_USERLO=0x403FD000, VM_USERHI=0x40403000)
NFRAMES = 16
USER_PAGES = [CFG.VM_USERLO + i * 4096 for i in range((CFG.VM_USERHI - CFG.VM_USERLO) // 4096)]
pids = st.integers(-1, 9).map(u32)
addresses = st.one_of(st.sampled_from(USER_PAGES),
                      st.integers(CFG.VM_USERLO - 0x2000, CFG.VM_USERHI + 0x2000),
                      st.sampled_from([0, 0xFFFFF000, CFG.VM_USERHI - 1]))
page_addresses = st.one_of(st.sampled_from(USER_PAGES), addresses)
buffers = st.one_of(st.binary(max_size=80), st.binary(min_size=4090, max_size=4097))


class Stack(RuleBasedStateMachine):
    """The spec's state beside the impl's; subclasses choose the container layer below."""

    def __init__(self) -> None:
        super().__init__()
        self.spec = spec_vm.boot(CFG, NFRAMES)
        self.spec_mem = impl_vm.pt_init(CFG, NFRAMES).mem
        self.pt = impl_vm.pt_init(CFG, NFRAMES)

    # the layer below, as the impl holds it
    def lower(self) -> object:
        raise NotImplementedError

    def containers(self) -> spec_container.Containers:
        raise NotImplementedError

    def call(self, fn: object, *args: object) -> object:
        return fn(self.lower(), self.pt, *args)  # type: ignore[operator]

    # -- steps --------------------------------------------------------------------------

    @rule(pid=pids, quota=st.integers(0, 8))
    def spawn(self, pid: int, quota: int) -> None:
        err, child, cs = spec_container.split(self.spec.containers, pid, quota)
        self.spec = dataclasses.replace(self.spec, containers=cs)
        self.split(pid, quota, (err, child))

    def split(self, pid: int, quota: int, want: tuple[int, int]) -> None:
        raise NotImplementedError

    @rule(pid=pids, va=page_addresses, writable=st.booleans(), data=st.data())
    def map_page(self, pid: int, va: int, writable: bool, data: st.DataObject) -> None:
        choices = self.choose(data)
        err = self.call(impl_vm.map_page, pid, va, writable)
        table_frame, frame = self.frames_used(pid, va, choices)
        want, self.spec, self.spec_mem = spec_vm.map_page(self.spec, self.spec_mem, pid, va, writable,
                                                          table_frame, frame)
        assert err == want, f"map_page({pid}, {va:#x}): impl {err}, spec {want}"

    @rule(pid=pids, va=page_addresses)
    def unmap_page(self, pid: int, va: int) -> None:
        err = self.call(impl_vm.unmap_page, pid, va)
        want, self.spec = spec_vm.unmap_page(self.spec, pid, va)
        assert err == want, f"unmap_page({pid}, {va:#x}): impl {err}, spec {want}"

    @rule(pid=pids, va=addresses, n=st.integers(0, 4097))
    def copyin(self, pid: int, va: int, n: int) -> None:
        got = impl_vm.pt_copyin(self.pt, pid, va, n)
        want = spec_vm.copyin(self.spec, self.spec_mem, pid, va, n)
        assert got == want, f"copyin({pid}, {va:#x}, {n})"

    @rule(pid=pids, va=addresses, buf=buffers)
    def copyout(self, pid: int, va: int, buf: bytes) -> None:
        err = impl_vm.pt_copyout(self.pt, pid, va, buf)
        want, self.spec_mem = spec_vm.copyout(self.spec, self.spec_mem, pid, va, buf)
        assert err == want, f"copyout({pid}, {va:#x}, {len(buf)} bytes): impl {err}, spec {want}"

    @rule(pid=pids, va=addresses, byte=st.integers(0, 255), write=st.booleans())
    def user_access(self, pid: int, va: int, byte: int, write: bool) -> None:
        """A load or store by pid in user mode, through the MMU."""
        if not 0 <= pid < CFG.NUM_PROC or pid not in self.spec.containers.live:
            return
        ok, pa = spec_vm.translate(self.spec, pid, va, write)
        try:
            got = walk(self.pt.mem, impl_vm.pdir_base(pid), va, write, True)
        except PageFault:
            assert not ok or not self.spec.userlo <= va < self.spec.userhi, f"fault at {va:#x}"
            return
        assert ok and got == pa, f"{va:#x}: MMU {got:#x}, spec {ok, pa}"
        if write:
            self.pt.mem[got] = self.spec_mem[pa] = byte

    @rule(pid=pids)
    def exit_space(self, pid: int) -> None:
        err = self.call(impl_vm.pt_teardown, pid)
        want, self.spec = spec_vm.teardown(self.spec, pid)
        assert err == want, f"teardown({pid}): impl {err}, spec {want}"

    # -- comparison -------------------------------------------------------------------

    def choose(self, data: st.DataObject) -> list[int]:
        return []

    def frames_used(self, pid: int, va: int, choices: list[int]) -> tuple[int, int]:
        raise NotImplementedError

    @invariant()
    def compare(self) -> None:
        assert self.containers() == self.spec.containers
        for pid in self.spec.containers.live:
            for va in USER_PAGES:
                for write in (False, True):
                    ok, pa = spec_vm.translate(self.spec, pid, va, write)
                    assert impl_vm.user_pa(self.pt, pid, va, write) == (ok, pa if ok else 0), (pid, hex(va))
                    if ok and not write:
                        assert self.pt.mem[pa:pa + 4096] == self.spec_mem[pa:pa + 4096], (pid, hex(va))
            for pdx in {va >> 22 for va in USER_PAGES}:
                present = impl_vm.get_pdir_entry(self.pt, pid, pdx) & PTE_P != 0
                assert present == (spec_vm.table_of(pid, pdx << 10) in self.spec.tables)

    def teardown(self) -> None:
        """At the end of a run: the full abstraction is the spec's state, and the invariant holds."""
        cs = self.containers()
        assert vm_ok(cs, self.pt)
        assert abstract(cs, self.pt) == self.spec


class OverSpecContainers(Stack):
    """The VM layer alone: impl.vm over the container layer's spec."""

    def __init__(self) -> None:
        super().__init__()
        self.box = SpecContainers(cs=self.spec.containers, choices=[], taken=0)

    def lower(self) -> object:
        return self.box

    def containers(self) -> spec_container.Containers:
        return self.box.cs

    def call(self, fn: object, *args: object) -> object:
        with over(impl_vm, INTERFACE):
            return super().call(fn, *args)

    def split(self, pid: int, quota: int, want: tuple[int, int]) -> None:
        err, child, self.box.cs = spec_container.split(self.box.cs, pid, quota)
        assert (err, child) == want

    def choose(self, data: st.DataObject) -> list[int]:
        free = [f for f in range(NFRAMES) if f not in self.box.cs.owner]
        self.box.choices = data.draw(st.permutations(free)) + [0, 0]
        self.box.taken = 0
        return self.box.choices

    def frames_used(self, pid: int, va: int, choices: list[int]) -> tuple[int, int]:
        return spec_frames(self.spec, pid, va, choices)


class Composed(Stack):
    """The whole concrete stack: impl.vm over impl.container (next-fit frames)."""

    def __init__(self) -> None:
        super().__init__()
        self.table = impl_container.container_init(CFG, NFRAMES)

    def lower(self) -> object:
        return self.table

    def containers(self) -> spec_container.Containers:
        return abstract_containers(self.table)

    def split(self, pid: int, quota: int, want: tuple[int, int]) -> None:
        assert impl_container.container_split(self.table, pid, quota) == want

    def frames_used(self, pid: int, va: int, choices: list[int]) -> tuple[int, int]:
        """The frames the impl took, read from its tables: the spec takes them as given."""
        if not 0 <= pid < CFG.NUM_PROC or va & 0xFFF or not CFG.VM_USERLO <= va < CFG.VM_USERHI:
            return 0, 0
        pde = impl_vm.get_pdir_entry(self.pt, pid, va >> 22)
        pte = impl_vm.get_ptbl_entry_by_va(self.pt, pid, va)
        return (PTE_ADDR(pde) >> 12) - FIRST_FRAME, (PTE_ADDR(pte) >> 12) - FIRST_FRAME


TestVmOverSpecContainers = OverSpecContainers.TestCase
TestVmComposed = Composed.TestCase
TestVmOverSpecContainers.settings = settings(max_examples=15, stateful_step_count=30, deadline=None)
TestVmComposed.settings = settings(max_examples=15, stateful_step_count=30, deadline=None)


def everywhere_ok(cs: spec_container.Containers, pt: impl_vm.PTPool) -> bool:
    """`invariant_at` at every point of each domain. Each of its parts reads one point, so
    stepping through the domains side by side (the shorter ones over again) covers them."""
    lo, hi = page_keys(pt)
    tlo, thi = table_keys(pt)
    kernel = [*range(0, pt.nproc << 12), *range(impl_vm.kern_ptbl(), impl_vm.kern_ptbl() + 4096)]
    domains = [range(lo, hi), range(tlo, thi), [*cs.owner, -1], [*cs.live, -1], kernel]
    steps = max(map(len, domains))
    return all(invariant_at(cs, pt, *(d[i % len(d)] for d in domains)) for i in range(steps))


def test_the_invariant_at_every_point_is_the_invariant() -> None:
    """`invariant_at`, the pointwise invariant the VM invariant obligations state, holds at
    every point exactly where `vm_ok` holds: on a reachable state and on each of its
    corruptions (an entry, a kernel byte, a frame's notes, the containers, the sizes, the
    container tree's shape)."""
    cfg = Config(NUM_PROC=3, ROOT_QUOTA=12, VM_USERLO=0x40000000, VM_USERHI=0x40003000)
    table = impl_container.container_init(cfg, 8)
    pt = impl_vm.pt_init(cfg, 8)
    assert impl_container.container_split(table, 0, 5) == (E_SUCC, 1)
    for pid, va in ((0, cfg.VM_USERLO), (1, cfg.VM_USERLO + 4096), (1, cfg.VM_USERLO + 8192)):
        assert impl_vm.map_page(table, pt, pid, va, True) == E_SUCC
    cs = abstract_containers(table)
    pte = impl_vm.ptbl_entry_addr(pt, 1, cfg.VM_USERLO >> 22, 1)
    user = FIRST_FRAME << 12  # the first container frame: a page table or a user page
    free = min(set(range(8)) - set(cs.owner))
    of_1 = max(f for f in cs.owner if cs.owner[f] == 1)

    def poke(a: int, v: int) -> impl_vm.PTPool:
        broken = copy.deepcopy(pt)
        broken.mem[a] = v
        return broken

    cases = [(cs, pt), (cs, poke(pte, pt.mem[pte] ^ 2)), (cs, poke(pte + 1, pt.mem[pte + 1] ^ 1)),
             (cs, poke(impl_vm.pdir_entry_addr(2, cfg.VM_USERLO >> 22), 7)),
             (cs, poke(impl_vm.pdir_base(2) + 4, 0)), (cs, poke(impl_vm.kern_ptbl() + 9, 1)),
             (cs, poke(user + 5, 1)), (cs, dataclasses.replace(pt, nproc=u32(4))),
             (cs, dataclasses.replace(pt, is_ptbl=[not x for x in pt.is_ptbl])),
             (cs, dataclasses.replace(pt, back_va=[u32(v + 4096) for v in pt.back_va])),
             (dataclasses.replace(cs, owner=cs.owner.set(free, 1)), pt),
             (dataclasses.replace(cs, owner=cs.owner.set(of_1, 0)), pt),
             (dataclasses.replace(cs, live=cs.live.remove(1)), pt),
             (dataclasses.replace(cs, live=cs.live.set(1, dataclasses.replace(cs.live[1], parent=1))), pt)]
    verdicts = [vm_ok(c, p) for c, p in cases]
    assert verdicts[:2] == [True, True] and not any(verdicts[2:])  # a read-only page is a valid state
    for (c, p), verdict in zip(cases, verdicts, strict=True):
        assert everywhere_ok(c, p) == verdict


def test_user_write_invariant_fails_with_a_failing_replay_without_protected_bytes_kept(
        tmp_path: Path) -> None:
    result = checked("vm.user_write.invariant", lambda: user_write_invariant(with_kept=False), 300,
                     tmp_path / "replay")
    assert result.status == "counterexample", result.detail
    fails_on_the_impl(run_replay(result.replay_file, tmp_path))


def test_unmap_invariant_fails_with_a_failing_replay_with_the_entry_kept(
        tmp_path: Path) -> None:
    """Freeing the page's frame but keeping its PTE breaks the invariant: the entry maps a
    frame its process no longer owns."""
    result = checked("vm.unmap_page.invariant", lambda: unmap_invariant(cleared=False), 300,
                     tmp_path / "replay")
    assert result.status == "counterexample", result.detail
    fails_on_the_impl(run_replay(result.replay_file, tmp_path))


def test_teardown_invariant_fails_with_a_failing_replay_with_the_directory_kept(
        tmp_path: Path) -> None:
    """Revoking the container but keeping the page directory breaks the invariant: a PDE
    names a page table of a process that is gone."""
    result = checked("vm.teardown.invariant", lambda: teardown_invariant(cleared=False), 300,
                     tmp_path / "replay")
    assert result.status == "counterexample", result.detail
    fails_on_the_impl(run_replay(result.replay_file, tmp_path))


def test_map_page_invariant_fails_with_a_failing_replay_with_the_notes_forgotten(tmp_path: Path) -> None:
    """A map_page that takes a frame but leaves its notes (page table or page, and back
    pointer) as they were breaks the invariant: the frame names no entry that maps it.
    (`python -m proofs` proves the goal itself.)"""
    result = checked("vm.map_page.invariant", lambda: map_invariant(noted=False), 300, tmp_path / "replay")
    assert result.status == "counterexample", result.detail
    fails_on_the_impl(run_replay(result.replay_file, tmp_path))


def test_map_page_refines_on_success_fails_with_a_failing_replay_with_every_page_read_only(
        tmp_path: Path) -> None:
    """Read through a footprint that maps every page read-only, the state after a success
    is not the spec's: the page at pid's own key lacks the writable bit it was asked for.
    (`python -m proofs` proves the goal itself.)"""
    result = checked("vm.map_page.refines_on_success", lambda: map_refines_on_success(rights=False), 300,
                     tmp_path / "replay")
    assert result.status == "counterexample", result.detail
    fails_on_the_impl(run_replay(result.replay_file, tmp_path))


def test_map_success_example_meets_its_hypotheses_and_the_claims() -> None:
    """The case that shows the success refinement's hypotheses satisfiable meets them in
    full and its replay passes; the witness refuses it where the footprint maps the page
    read-only, or where the page's frame is not the one the containers hand out."""
    case = map_success_example()
    assert strict_case(map_success_case)(dict(case))
    replay_map_refines_on_success(None, **case)
    assert not strict_case(map_success_case, rights=False)(dict(case))
    assert not strict_case(map_success_case)({**case, "choice0": case["choice1"]})


def test_the_bytes_of_an_entry_are_the_four_at_its_address_natively_as_in_the_proof() -> None:
    """`entry_byte` is a word difference in the proof; natively a byte below the entry must
    not count as one of its bytes either (the replay of unmap_page's footprint reads it)."""
    table = impl_container.container_init(CFG, NFRAMES)
    pt = impl_vm.pt_init(CFG, NFRAMES)
    assert impl_vm.map_page(table, pt, 0, CFG.VM_USERLO, True) == E_SUCC
    a = impl_vm.ptbl_entry_addr(pt, 0, CFG.VM_USERLO >> 22, (CFG.VM_USERLO >> 12) & 0x3FF)
    around = [entry_byte(pt, 0, CFG.VM_USERLO, x) for x in range(a - 2, a + 6)]
    assert around == [False, False, True, True, True, True, False, False]


def test_frame_arithmetic_means_in_the_proof_what_it_does_natively_at_every_frame() -> None:
    """`frame_base` and `outside` wrap at 32 bits natively as their terms do, even for a
    frame number no pool has (a negative or huge one, as a proof's free choice may be): a
    replay of CI's first `maps_words` counterexample was refused because `frame_base` did
    not."""
    c, a = z3.Int("c"), z3.BitVec("a", 32)
    base, apart = run(impl_vm.frame_base, lambda: [c]), run(outside, lambda: [c, a])
    top = (1 << 20) - FIRST_FRAME - 1
    frames = [0, 1, top, top + 1, -1, -FIRST_FRAME, -5142216449, -4026532097, 1 << 40]
    for f, x in itertools.product(frames, [0, 2, 0xFFF, 0x1000, 0xFFFFF000, 0xFFFFFFFF]):
        at = [(c, z3.IntVal(f)), (a, z3.BitVecVal(x, 32))]
        assert z3.simplify(z3.substitute(base.result, *at)).as_long() == impl_vm.frame_base(f)
        assert z3.is_true(z3.simplify(z3.substitute(apart.result, *at))) == outside(f, x), (f, hex(x))


def test_map_page_leaves_memory_as_mapped_byte_says_natively() -> None:
    """The footprint the proof states (`maps` before, `mapped_byte` and `mapped_word`,
    `noted_at`, `allocated`), checked on
    the impl run natively at every byte of the pages it touches and around them, and at
    every frame's notes: a va with a page table, and one that needs a new one (USER_PAGES
    spans two page tables)."""
    table = impl_container.container_init(CFG, NFRAMES)
    pt = impl_vm.pt_init(CFG, NFRAMES)
    assert impl_vm.map_page(table, pt, 0, USER_PAGES[0], True) == E_SUCC
    cs = abstract_containers(table)
    for va, writable in [(USER_PAGES[1], False), (USER_PAGES[-1], True)]:
        before = copy.deepcopy(pt)
        choices = [f for f in range(NFRAMES) if f not in cs.owner][:2]
        assert maps(cs, before, u32(0), va, choices)
        got, lower = run_native(None, "map_page", cs, choices, pt, {"pid": 0, "va": va, "writable": writable})
        assert got == (E_SUCC,)
        pages = [0, *[(FIRST_FRAME + f) << 12 for f in choices]]
        touched = [x for base in pages for x in range(max(0, base - 8), base + 4096 + 8)]
        assert all(mapped_at(before, pt, 0, va, writable, choices, u32(x)) for x in touched)
        assert all(word_mapped_at(before, pt, 0, va, writable, choices, u32(x)) for x in touched[::4])
        assert all(noted_at(before, pt, 0, va, choices, f) for f in range(NFRAMES))
        assert lower.cs == allocated(cs, before, 0, va, choices)
        assert pt.mem != before.mem and pt.back_va != before.back_va
        cs = lower.cs


def test_teardown_leaves_memory_as_torn_byte_says_natively() -> None:
    """The footprint the proof states (`tears_down` before, `torn_byte`), checked on teardown run natively at
    every byte of the page directories and of a page and page table the process had."""
    table = impl_container.container_init(CFG, NFRAMES)
    pt = impl_vm.pt_init(CFG, NFRAMES)
    assert impl_container.container_split(table, 0, 4) == (E_SUCC, 1)
    for va in (USER_PAGES[0], USER_PAGES[-1]):
        assert impl_vm.map_page(table, pt, 1, va, True) == E_SUCC
    before, cs = copy.deepcopy(pt), abstract_containers(table)
    assert tears_down(cs, before, u32(1))
    assert impl_vm.pt_teardown(table, pt, u32(1)) == E_SUCC
    frames = [(FIRST_FRAME + f) << 12 for f in range(NFRAMES) if before.is_ptbl[f] or before.back_va[f]]
    touched = [*range(CFG.NUM_PROC << 12), *[x for base in frames for x in range(base, base + 4096)]]
    assert all(torn_at(before, pt, u32(1), u32(x)) for x in touched)
    assert pt.mem != before.mem


def test_a_new_page_reads_as_zeros_even_in_a_reused_frame() -> None:
    table = impl_container.container_init(CFG, NFRAMES)
    pt = impl_vm.pt_init(CFG, NFRAMES)
    va = CFG.VM_USERLO
    assert impl_vm.map_page(table, pt, 0, va, True) == E_SUCC
    assert impl_vm.pt_copyout(pt, 0, va, b"secret") == E_SUCC
    assert impl_vm.unmap_page(table, pt, 0, va) == E_SUCC
    assert impl_vm.map_page(table, pt, 0, va + 4096, True) == E_SUCC
    assert impl_vm.pt_copyin(pt, 0, va + 4096, 6) == (E_SUCC, bytes(6))


def test_the_whole_quota_comes_back_after_teardown() -> None:
    table = impl_container.container_init(CFG, NFRAMES)
    pt = impl_vm.pt_init(CFG, NFRAMES)
    err, child = impl_container.container_split(table, 0, 5)
    assert err == E_SUCC
    before = abstract_containers(table)
    for va in USER_PAGES[:3]:  # one page table and three pages
        assert impl_vm.map_page(table, pt, child, va, True) == E_SUCC
    assert impl_vm.map_page(table, pt, child, USER_PAGES[3], True) == E_EXCEEDS_QUOTA  # needs a new table
    assert impl_vm.pt_teardown(table, pt, child) == E_SUCC
    after = abstract_containers(table)
    assert after.live[0].usage == before.live[0].usage - 5
    assert after.owner == spec_container.Map()
    assert vm_ok(after, pt)


def test_kernel_and_out_of_range_addresses_are_refused() -> None:
    table = impl_container.container_init(CFG, NFRAMES)
    pt = impl_vm.pt_init(CFG, NFRAMES)
    for va in (0, CFG.VM_USERLO - 4096, CFG.VM_USERHI, 0xFFFFF000, CFG.VM_USERLO + 1):
        assert impl_vm.map_page(table, pt, 0, va, True) == E_INVAL_ADDR
        assert impl_vm.pt_copyin(pt, 0, va, 1)[0] == E_INVAL_ADDR
    try:
        walk(pt.mem, impl_vm.pdir_base(0), 0x100000, False, True)
    except PageFault as fault:
        assert fault.error_code == 0x5  # present, read, user: the kernel region is supervisor-only
    else:
        raise AssertionError("a user read of the kernel region succeeded")


def test_words_mapped_fail_with_a_failing_replay_at_an_unaligned_address(
        tmp_path: Path) -> None:
    result = checked("vm.map_page.maps_words", lambda: map_words(aligned=False), 120, tmp_path / "replay")
    assert result.status == "counterexample", result.detail
    fails_on_the_impl(run_replay(result.replay_file, tmp_path))


@pytest.mark.parametrize("name", sorted(MAP_LEMMAS))
def test_map_page_lemmas_fail_with_a_failing_replay_without_their_key_hypothesis(
        name: str, tmp_path: Path) -> None:
    """Each lemma map_page's invariant assumes (proved by `python -m proofs`) fails without
    the hypothesis its claims rest on (the notes map_page writes, the entries as words, the invariant at
    the frame or key, the byte as map_page leaves it)."""
    result = checked(f"vm.map_page.{name}", lambda: map_lemma(name, with_key=False), 120, tmp_path / "replay")
    assert result.status == "counterexample", result.detail
    fails_on_the_impl(run_replay(result.replay_file, tmp_path))


def test_quota_back_fails_without_the_container_tree() -> None:
    result = checked("vm.teardown.quota_back", lambda: teardown_quota_back(with_tree=False), 60)
    assert result.status == "counterexample", result.detail


def test_isolation_fails_with_a_failing_replay_without_the_page_table_entries(
        tmp_path: Path) -> None:
    result = checked("vm.state.isolation", lambda: isolation(with_tables=False), 60, tmp_path)
    assert result.status == "counterexample", result.detail
    replay = run_replay(result.replay_file, tmp_path, mutants=False)
    assert replay.returncode == 1, replay.stdout + replay.stderr


def test_the_refinement_pid_domains_cover_every_pid_once_and_every_process_is_keyed() -> None:
    keyed, beyond, every = (range(*PID_DOMAINS[d]) for d in ("keyed", "beyond", "any"))
    assert keyed.stop == beyond.start and keyed.start == every.start and beyond.stop == every.stop
    assert MAX_PROC <= len(keyed) and spec_vm.PID_MASK == keyed.stop - 1


def test_map_invariant_example_meets_its_hypotheses_and_keeps_the_invariant() -> None:
    """The case that shows map_page's invariant's hypotheses satisfiable meets them in full,
    its replay passes, and the witness refuses it where map_page would forget the notes
    (`noted=False`) or where the page's frame is not the one the containers hand out."""
    case = map_invariant_example()
    assert map_invariant_witness(noted=True)(dict(case))
    replay_map_invariant(None, **case)
    assert not map_invariant_witness(noted=False)(dict(case))
    assert not map_invariant_witness(noted=True)({**case, "choice0": case["choice1"]})
