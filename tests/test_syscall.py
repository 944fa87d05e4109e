"""The system-call layer: impl.syscall over the impl stack behaves as spec.syscall over the
spec stack, register for register, with valid and invalid arguments."""

from __future__ import annotations

import dataclasses
from typing import Any

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import impl.container as impl_container
import impl.message as impl_message
import impl.syscall as impl_syscall
import impl.topic as impl_topic
import impl.vm as impl_vm
import spec.container as spec_container
import spec.syscall as spec_syscall
import spec.vm as spec_vm
from impl.x86 import TF_SIZE
from proofs.container import abstract as abstract_containers
from proofs.syscall import abstract_regs, save_regs
from proofs.topic import abstract as abstract_topics
from proofs.topic import table_ok as topics_ok
from spec.abi import (
    DEFAULT,
    E_ALREADY_SUBSCRIBED,
    E_EXCEEDS_QUOTA,
    E_INVAL_ADDR,
    E_INVAL_ARG,
    E_INVAL_CALLNR,
    E_INVAL_TOPIC,
    E_MSGSIZE,
    E_NOSPACE,
    E_PERM,
    E_SUCC,
    E_TOPIC_EXISTS,
    PTE_P,
    SYS_MMAP,
    SYS_MUNMAP,
    SYS_PUB,
    SYS_RECV,
    SYS_STAT,
    SYS_SUB,
    SYS_TOPIC_CREATE,
    SYS_TOPIC_DESTROY,
    SYS_TOPIC_LOOKUP,
    SYS_UNSUB,
    SYS_YIELD,
    Config,
    errors_of,
)
from spec.syscall import TAKEN_ABOVE, Choices, Regs
from spec.x86 import u32

# a user range of six pages across two page tables; tables small enough to fill
CFG = Config(NUM_PROC=8, ROOT_QUOTA=24, VM_USERLO=0x403FD000, VM_USERHI=0x40403000, NUM_TOPIC=4,
             NUM_SUB=5, QLEN_MAX=5, MSG_MAX=6, NAME_MAX=9, PAGE_SIZE=8)
USER_PAGES = [CFG.VM_USERLO + i * 4096 for i in range(6)]
CALLS = [SYS_YIELD, SYS_MMAP, SYS_MUNMAP, SYS_TOPIC_CREATE, SYS_TOPIC_LOOKUP, SYS_TOPIC_DESTROY, SYS_SUB,
         SYS_UNSUB, SYS_PUB, SYS_RECV, SYS_STAT]


def boot_both(cfg: Config) -> tuple[spec_syscall.Kernel, impl_syscall.Kernel]:
    """Spec and impl booted with the same memory; the frames are as many as the root's quota."""
    nframes = cfg.ROOT_QUOTA
    pt = impl_vm.pt_init(cfg, nframes)
    regs = Regs(eip=cfg.VM_USERLO, esp=cfg.VM_USERHI, cs=0x1B, ds=0x23, es=0x23, ss=0x23, eflags=0x200)
    k = impl_syscall.Kernel(c=impl_container.container_init(cfg, nframes), pt=pt,
                            mq=impl_message.msgq_init(cfg), t=impl_topic.topic_init(cfg),
                            uctx=bytearray(cfg.NUM_PROC * TF_SIZE), priv=[False] * cfg.NUM_PROC)
    k.priv[0] = True
    save_regs(k.uctx, 0, regs)
    return spec_syscall.boot(cfg, nframes, bytearray(pt.mem), regs), k


def frames_taken(hint: int, owned: set[int], c: impl_container.ContainerTable) -> tuple[int, ...]:
    """The frames the impl took since the container table had that hint and those frames
    owned, in the order next-fit took them."""
    new = [f for f in range(c.nframes) if c.at_used[f] and f not in owned]
    return tuple(sorted(new, key=lambda f: (f - hint) % c.nframes))


class Differential(RuleBasedStateMachine):
    cfg = CFG
    isys: Any = impl_syscall  # the impl module under test (a planted bug's copy in test_planted_bugs)

    def __init__(self) -> None:
        super().__init__()
        self.spec, self.impl = boot_both(self.cfg)
        self.pids = [0]

    @rule(parent=st.integers(0, 3), quota=st.integers(0, 8), privileged=st.booleans())
    def spawn(self, parent: int, quota: int, privileged: bool) -> None:
        """What the process layer will do: a child container, its registers and its flag."""
        if parent not in self.pids:
            return
        err, child = impl_container.container_split(self.impl.c, parent, quota)
        want_err, want_child, cs = spec_container.split(self.spec.vm.containers, parent, quota)
        assert (err, child) == (want_err, want_child)
        if err != E_SUCC:
            return
        regs = self.spec.regs[parent]
        save_regs(self.impl.uctx, child, regs)
        self.impl.priv[child] = privileged
        self.spec = dataclasses.replace(self.spec, vm=dataclasses.replace(self.spec.vm, containers=cs),
                                        regs=self.spec.regs.set(child, regs),
                                        privileged=self.spec.privileged.set(child, privileged))
        self.pids.append(child)

    def call(self, pid: int, nr: int, *args: int) -> Regs:
        """pid traps with eax = nr and the arguments in ebx, ecx, edx, esi, edi."""
        names = ["ebx", "ecx", "edx", "esi", "edi"][:len(args)]
        regs = dataclasses.replace(self.spec.regs[pid], eax=u32(nr),
                                   **{n: u32(a) for n, a in zip(names, args, strict=True)})
        self.spec = dataclasses.replace(self.spec, regs=self.spec.regs.set(pid, regs))
        save_regs(self.impl.uctx, pid, regs)
        hint, owned = self.impl.c.at_hint, {f for f in range(self.impl.c.nframes) if self.impl.c.at_used[f]}
        self.isys.syscall_dispatch(self.impl, u32(pid))
        choices = Choices(frames_taken(hint, owned, self.impl.c))
        before = self.spec
        self.spec = spec_syscall.syscall(self.spec, u32(pid), choices)
        got, want = abstract_regs(self.impl.uctx, pid), self.spec.regs[pid]
        assert got == want, f"{nr}{args}: impl {got}, spec {want}"
        allowed = (E_INVAL_CALLNR,) if nr in TAKEN_ABOVE else errors_of(nr)
        assert want.eax == E_SUCC or want.eax in allowed, f"{nr}{args}: {want.eax} is not the ABI's"
        if want.eax != E_SUCC:
            assert dataclasses.replace(self.spec, regs=before.regs) == before, "an error changed the kernel"
        return got

    who = st.integers(0, 7)
    va = st.one_of(st.sampled_from(USER_PAGES), st.sampled_from([0, 0x40000000, 0xFFFFF000]),
                   st.integers(CFG.VM_USERLO - 0x1000, CFG.VM_USERHI + 0x10))
    small = st.one_of(st.integers(0, 10), st.integers(0, 2**32 - 1))

    def pid_of(self, who: int) -> int:
        return self.pids[who % len(self.pids)]

    @rule(who=who, va=va, npages=st.integers(0, 7), writable=st.integers(0, 2))
    def mmap(self, who: int, va: int, npages: int, writable: int) -> None:
        self.call(self.pid_of(who), SYS_MMAP, va, npages, writable)

    @rule(who=who, va=va, npages=st.integers(0, 7))
    def munmap(self, who: int, va: int, npages: int) -> None:
        self.call(self.pid_of(who), SYS_MUNMAP, va, npages)

    @rule(who=who, va=va, data=st.binary(max_size=12), offset=st.integers(0, 4095))
    def store(self, who: int, va: int, data: bytes, offset: int) -> None:
        """What a user store would do where pid may write: the same bytes in both memories."""
        pid = self.pid_of(who)
        for i, b in enumerate(data):
            a = u32(va + offset + i)
            ok, pa = spec_vm.translate(self.spec.vm, u32(pid), a, True)
            if ok:
                self.spec.mem[pa] = b
                self.impl.pt.mem[pa] = b

    @rule(who=who, nr=st.sampled_from([SYS_TOPIC_CREATE, SYS_TOPIC_LOOKUP]), va=va, n=st.integers(0, 10))
    def name_call(self, who: int, nr: int, va: int, n: int) -> None:
        self.call(self.pid_of(who), nr, va, n)

    @rule(who=who, nr=st.sampled_from([SYS_TOPIC_DESTROY, SYS_UNSUB, SYS_STAT]), tid=st.integers(0, 5))
    def topic_call(self, who: int, nr: int, tid: int) -> None:
        self.call(self.pid_of(who), nr, tid)

    @rule(who=who, tid=st.integers(0, 5), qlen=st.integers(0, 6), cb=st.one_of(st.just(0), va))
    def sub(self, who: int, tid: int, qlen: int, cb: int) -> None:
        self.call(self.pid_of(who), SYS_SUB, tid, qlen, cb)

    @rule(who=who, tid=st.integers(0, 5), va=va, n=st.integers(0, 8))
    def pub(self, who: int, tid: int, va: int, n: int) -> None:
        self.call(self.pid_of(who), SYS_PUB, tid, va, n)

    @rule(tid=st.integers(0, 1), va=va, n=st.integers(0, 8))
    def root_pub(self, tid: int, va: int, n: int) -> None:
        """The privileged root publishes on a reserved topic: a publish that succeeds often."""
        self.call(0, SYS_PUB, tid, va, n)

    @rule(who=who, tid=st.integers(0, 5), va=va, cap=st.integers(0, 8))
    def recv(self, who: int, tid: int, va: int, cap: int) -> None:
        self.call(self.pid_of(who), SYS_RECV, tid, va, cap)

    @rule(who=who, nr=st.integers(0, 40), a=st.lists(small, min_size=5, max_size=5))
    def any_call(self, who: int, nr: int, a: list[int]) -> None:
        """Any number, any register values."""
        self.call(self.pid_of(who), nr, *a)

    @invariant()
    def abstraction_matches_spec(self) -> None:
        """Containers, topics and registers as the spec has them; every user page and page
        table as the spec maps it, with the same bytes where a page is mapped (what
        proofs.vm.abstract reads, at the pages of this configuration's user range)."""
        cs = abstract_containers(self.impl.c)
        assert cs == self.spec.vm.containers
        assert abstract_topics(self.impl.t, self.impl.mq) == self.spec.topics
        assert topics_ok(self.impl.t, self.impl.mq, self.impl.c)
        for pid in self.pids:
            assert abstract_regs(self.impl.uctx, pid) == self.spec.regs[pid]
            for va in USER_PAGES:
                ok, pa = spec_vm.translate(self.spec.vm, u32(pid), u32(va), False)
                assert impl_vm.user_pa(self.impl.pt, u32(pid), u32(va), False) == (ok, pa if ok else 0)
                if ok:
                    assert self.impl.pt.mem[pa:pa + 4096] == self.spec.mem[pa:pa + 4096], (pid, hex(va))
            for pdx in {va >> 22 for va in USER_PAGES}:
                present = impl_vm.get_pdir_entry(self.impl.pt, u32(pid), pdx) & PTE_P != 0
                assert present == (spec_vm.table_of(u32(pid), pdx << 10) in self.spec.vm.tables)


class DifferentialDefaultConfig(Differential):
    """The ABI's sizes (the same pages near VM_USERLO are touched and compared)."""

    cfg = DEFAULT


TestDifferential = Differential.TestCase
TestDifferential.settings = settings(max_examples=60, stateful_step_count=50, deadline=None)
TestDifferentialDefault = DifferentialDefaultConfig.TestCase
TestDifferentialDefault.settings = settings(max_examples=15, stateful_step_count=40, deadline=None)


# -- the ABI, call by call ------------------------------------------------------------------------


def booted() -> Differential:
    return Differential()


def test_only_the_listed_registers_change_on_success() -> None:
    m = booted()
    m.call(0, SYS_SUB, 0, 2, 0)
    r = m.call(0, SYS_STAT, 0, 0xAA, 0xBB, 0xCC, 0xDD)
    assert (r.eax, r.ebx, r.ecx, r.edx, r.esi, r.edi) == (E_SUCC, 0, 0, 2, 0, 0xDD)
    r = m.call(0, SYS_UNSUB, 0, 0xAA, 0xBB, 0xCC, 0xDD)
    assert (r.eax, r.ebx, r.ecx, r.edx, r.esi, r.edi) == (E_SUCC, 0, 0xAA, 0xBB, 0xCC, 0xDD)


def test_an_unknown_call_number_is_refused() -> None:
    m = booted()
    for nr in (0, 3, 4, 8, 9, 19, 0xFFFFFFFF):
        assert m.call(0, nr).eax == E_INVAL_CALLNR


def test_topic_create_checks_length_before_the_address_and_the_address_before_the_name() -> None:
    m = booted()
    assert m.call(0, SYS_TOPIC_CREATE, 0, 0).eax == E_INVAL_ARG
    assert m.call(0, SYS_TOPIC_CREATE, 0, 4).eax == E_INVAL_ADDR
    m.call(0, SYS_MMAP, USER_PAGES[0], 1, 1)
    m.store(0, USER_PAGES[0], b"sys.kbd\0", 0)
    assert m.call(0, SYS_TOPIC_CREATE, USER_PAGES[0], 8).eax == E_INVAL_ARG  # the NUL
    assert m.call(0, SYS_TOPIC_CREATE, USER_PAGES[0], 7).eax == E_TOPIC_EXISTS
    r = m.call(0, SYS_TOPIC_LOOKUP, USER_PAGES[0], 7)
    assert (r.eax, r.ebx) == (E_SUCC, 0)


def test_mmap_is_all_or_nothing() -> None:
    m = booted()
    assert m.call(0, SYS_MMAP, USER_PAGES[2], 1, 1).eax == E_SUCC
    assert m.call(0, SYS_MMAP, USER_PAGES[0], 4, 1).eax == E_INVAL_ADDR  # the third is mapped
    assert not spec_vm.is_mapped(m.spec.vm, 0, USER_PAGES[0])
    assert m.call(0, SYS_MMAP, USER_PAGES[5], 2, 1).eax == E_INVAL_ADDR  # past the user range
    assert m.call(0, SYS_MUNMAP, USER_PAGES[1], 2).eax == E_INVAL_ADDR  # the second is not mapped
    assert m.call(0, SYS_MUNMAP, USER_PAGES[2], 1).eax == E_SUCC


def test_a_message_refused_by_recv_stays_at_the_head() -> None:
    m = booted()
    m.call(0, SYS_MMAP, USER_PAGES[0], 1, 1)
    m.call(0, SYS_MMAP, USER_PAGES[1], 1, 0)  # read-only
    m.call(0, SYS_SUB, 1, 2, 0)
    m.store(0, USER_PAGES[0], b"tick", 0)
    assert m.call(0, SYS_PUB, 1, USER_PAGES[0], 4).eax == E_SUCC
    assert m.call(0, SYS_RECV, 1, USER_PAGES[2], 3).eax == E_MSGSIZE
    assert m.call(0, SYS_RECV, 1, USER_PAGES[1], 4).eax == E_INVAL_ADDR  # not writable
    assert m.call(0, SYS_STAT, 1).ebx == 1
    r = m.call(0, SYS_RECV, 1, USER_PAGES[0] + 100, 64)
    assert (r.eax, r.ebx) == (E_SUCC, 4)
    assert spec_vm.copyin(m.spec.vm, m.spec.mem, 0, USER_PAGES[0] + 100, 4) == (E_SUCC, b"tick")
    assert m.call(0, SYS_STAT, 1).ebx == 0


def test_reserved_topics_take_only_privileged_publishers_and_no_destroy() -> None:
    m = booted()
    m.spawn(0, 4, False)
    child = m.pids[-1]
    assert m.call(child, SYS_PUB, 0, USER_PAGES[0], 0).eax == E_PERM
    assert m.call(0, SYS_PUB, 0, USER_PAGES[0], 0).eax == E_SUCC  # no byte to read
    assert m.call(0, SYS_TOPIC_DESTROY, 0).eax == E_PERM
    assert m.call(child, SYS_PUB, 7, 0, 0).eax == E_INVAL_TOPIC


def test_sub_answers_nospace_before_quota_and_quota_last() -> None:
    m = booted()
    m.spawn(0, 2, False)
    m.spawn(0, 1, False)
    a, b = m.pids[1:]
    assert m.call(a, SYS_SUB, 0, 5, 0).eax == E_EXCEEDS_QUOTA  # 5 * 6 bytes on pages of 8: 4 pages
    for pid, tid in ((0, 0), (0, 1), (a, 0), (a, 1), (b, 0)):
        assert m.call(pid, SYS_SUB, tid, 1, 0).eax == E_SUCC
    assert len(m.spec.topics.subs) == CFG.NUM_SUB
    assert m.call(b, SYS_SUB, 1, 1, 0).eax == E_NOSPACE  # b's quota is spent too
    assert m.call(b, SYS_SUB, 0, 1, 0).eax == E_ALREADY_SUBSCRIBED
    assert m.call(a, SYS_UNSUB, 1).eax == E_SUCC
    assert m.call(b, SYS_SUB, 1, 1, 0).eax == E_EXCEEDS_QUOTA
