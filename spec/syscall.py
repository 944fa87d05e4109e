"""The system-call layer: registers in, registers out, every bad input answered.

A process traps with `int $0x30`; its saved user registers (mCertikOS's tf_t) hold the
call number in eax and the arguments in ebx, ecx, edx, esi, edi. The kernel answers in
eax (the errno) and, on success, in the result registers the ABI lists for the call;
every other register keeps its value, and an error changes nothing else at all.

This layer runs the calls of the address space (SYS_YIELD, SYS_MMAP, SYS_MUNMAP) and of
the topics (SYS_TOPIC_*, SYS_SUB, SYS_UNSUB, SYS_PUB, SYS_RECV, SYS_STAT) over the VM
layer (user pointers, pages) and the topic layer. SYS_SPAWN, SYS_EXIT and SYS_CB_RET
belong to the process and callback layers above, which take them before this layer
does; any number this layer does not run is E_INVAL_CALLNR.

Frames are the implementation's choice (`spec.container.alloc`): a call that takes
frames is given them, in the order it takes them (`Choices`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from spec.abi import (
    E_EXCEEDS_QUOTA,
    E_INVAL_ADDR,
    E_INVAL_ARG,
    E_INVAL_CALLNR,
    E_INVAL_TOPIC,
    E_SUCC,
    SYS_CB_RET,
    SYS_EXIT,
    SYS_MMAP,
    SYS_MUNMAP,
    SYS_PUB,
    SYS_RECV,
    SYS_SPAWN,
    SYS_STAT,
    SYS_SUB,
    SYS_TOPIC_CREATE,
    SYS_TOPIC_DESTROY,
    SYS_TOPIC_LOOKUP,
    SYS_UNSUB,
    SYS_YIELD,
    Config,
)
from spec.container import can_consume
from spec.map import Map
from spec.topic import Topics, is_topic, publish_error, qlen_ok, queue_pages
from spec.topic import boot as topics_boot
from spec.topic import create as topic_create
from spec.topic import destroy as topic_destroy
from spec.topic import lookup as topic_lookup
from spec.topic import peek as topic_peek
from spec.topic import publish as topic_publish
from spec.topic import receive as topic_receive
from spec.topic import stat as topic_stat
from spec.topic import subscribe as topic_subscribe
from spec.topic import unsubscribe as topic_unsubscribe
from spec.vm import Vm, accessible, copyin, copyout, in_user_range, is_mapped, map_page, table_of, unmap_page
from spec.vm import boot as vm_boot
from spec.x86 import PAGE_SHIFT, PhysMem, Word, u32

PAGE_SIZE = 1 << PAGE_SHIFT
# taken by the process and callback layers before they reach this one
TAKEN_ABOVE = (SYS_SPAWN, SYS_EXIT, SYS_CB_RET)


@dataclass(frozen=True)
class Regs:
    """A process's saved user registers, with mCertikOS tf_t's field names."""

    edi: Word = 0
    esi: Word = 0
    ebp: Word = 0
    oesp: Word = 0
    ebx: Word = 0
    edx: Word = 0
    ecx: Word = 0
    eax: Word = 0
    es: Word = 0
    ds: Word = 0
    trapno: Word = 0
    err: Word = 0
    eip: Word = 0
    cs: Word = 0
    eflags: Word = 0
    esp: Word = 0
    ss: Word = 0


@dataclass(frozen=True)
class Kernel:
    """The state the system calls of this layer read and write: the address spaces (with
    the containers), physical memory, the topics, every live process's saved registers,
    and which processes are privileged."""

    vm: Vm
    mem: PhysMem
    topics: Topics
    regs: Map[int, Regs]
    privileged: Map[int, bool]


@dataclass
class Choices:
    """The frames the implementation takes, in order; each allocation takes the next."""

    frames: tuple[int, ...]
    taken: int = 0

    def next(self) -> int:
        f = self.frames[self.taken] if self.taken < len(self.frames) else -1
        self.taken += 1
        return f


def take(choices: Choices, n: int) -> tuple[int, ...]:
    """The next n frames of the choices, at once (-1 past the last)."""
    first = choices.taken
    choices.taken += n
    return tuple(choices.frames[first + i] if first + i < len(choices.frames) else -1 for i in range(n))


def boot(cfg: Config, nframes: int, mem: PhysMem, regs: Regs) -> Kernel:
    """Only the root process, privileged, with `regs`; the reserved topics."""
    return Kernel(vm=vm_boot(cfg, nframes), mem=mem, topics=topics_boot(cfg),
                  regs=Map({0: regs}), privileged=Map({0: True}))


# -- results --------------------------------------------------------------------------------


def answered(r: Regs, errno: int, results: tuple[int, ...]) -> Regs:
    """r with eax = errno and, on success, ebx, ecx, edx, esi = the results, as many as there
    are; every other register as it was."""
    if errno != E_SUCC:
        return replace(r, eax=u32(errno))
    n = len(results)
    return replace(r, eax=u32(E_SUCC),
                   ebx=u32(results[0]) if n >= 1 else r.ebx,
                   ecx=u32(results[1]) if n >= 2 else r.ecx,
                   edx=u32(results[2]) if n >= 3 else r.edx,
                   esi=u32(results[3]) if n >= 4 else r.esi)


Outcome = tuple[int, tuple[int, ...], Kernel]


def failed(k: Kernel, errno: int) -> Outcome:
    return errno, (), k


def with_containers(k: Kernel, topics: Topics, cs: object) -> Kernel:
    return replace(k, topics=topics, vm=replace(k.vm, containers=cs))


# -- the address space: SYS_MMAP, SYS_MUNMAP -------------------------------------------------


def page_range_ok(k: Kernel, va: Word, npages: Word) -> bool:
    """va is page-aligned, npages at least 1, and every page of [va, va + npages pages) in
    the user range."""
    size = npages * PAGE_SIZE
    return va % PAGE_SIZE == 0 and npages >= 1 and size <= 0xFFFFFFFF and in_user_range(k.vm, va, u32(size))


def pages_of(va: Word, npages: Word) -> tuple[Word, ...]:
    return tuple(u32(va + i * PAGE_SIZE) for i in range(npages))


def new_tables(k: Kernel, pid: Word, va: Word, npages: Word) -> int:
    """The page tables that mapping the pages would add: those of the range pid lacks."""
    keys = {table_of(pid, p >> PAGE_SHIFT) for p in pages_of(va, npages)}
    return len([key for key in keys if key not in k.vm.tables])


def sys_mmap(k: Kernel, pid: Word, va: Word, npages: Word, writable: Word, choices: Choices) -> Outcome:
    """npages new zeroed pages from va, all or none."""
    if not page_range_ok(k, va, npages) or any(is_mapped(k.vm, pid, p) for p in pages_of(va, npages)):
        return failed(k, E_INVAL_ADDR)
    if not can_consume(k.vm.containers, int(pid), npages + new_tables(k, pid, va, npages)):
        return failed(k, E_EXCEEDS_QUOTA)
    vm, mem = k.vm, k.mem
    for p in pages_of(va, npages):
        table = choices.next() if table_of(pid, p >> PAGE_SHIFT) not in vm.tables else 0
        err, vm, mem = map_page(vm, mem, pid, p, writable != 0, table, choices.next())
        if err != E_SUCC:
            return failed(k, err)
    return E_SUCC, (), replace(k, vm=vm, mem=mem)


def sys_munmap(k: Kernel, pid: Word, va: Word, npages: Word) -> Outcome:
    """npages pages from va unmapped, all or none; their page tables stay."""
    if not page_range_ok(k, va, npages) or not all(is_mapped(k.vm, pid, p) for p in pages_of(va, npages)):
        return failed(k, E_INVAL_ADDR)
    vm = k.vm
    for p in pages_of(va, npages):
        err, vm = unmap_page(vm, pid, p)
        if err != E_SUCC:
            return failed(k, err)
    return E_SUCC, (), replace(k, vm=vm)


# -- topics: SYS_TOPIC_CREATE, SYS_TOPIC_LOOKUP, SYS_TOPIC_DESTROY ----------------------------


def read_name(k: Kernel, pid: Word, va: Word, n: Word) -> tuple[int, bytes]:
    """The name of n bytes at va: E_INVAL_ARG for a length outside 1..NAME_MAX (before any
    byte is read), E_INVAL_ADDR if pid cannot read them all."""
    if n < 1 or n > k.topics.name_max:
        return E_INVAL_ARG, b""
    return copyin(k.vm, k.mem, pid, va, n)


def sys_topic_create(k: Kernel, pid: Word, va: Word, n: Word) -> Outcome:
    err, name = read_name(k, pid, va, n)
    if err != E_SUCC:
        return failed(k, err)
    err, tid, topics = topic_create(k.topics, int(pid), k.privileged[int(pid)], name)
    if err != E_SUCC:
        return failed(k, err)
    return E_SUCC, (tid,), replace(k, topics=topics)


def sys_topic_lookup(k: Kernel, pid: Word, va: Word, n: Word) -> Outcome:
    err, name = read_name(k, pid, va, n)
    if err != E_SUCC:
        return failed(k, err)
    err, tid = topic_lookup(k.topics, name)
    if err != E_SUCC:
        return failed(k, err)
    return E_SUCC, (tid,), k


def sys_topic_destroy(k: Kernel, pid: Word, tid: Word) -> Outcome:
    err, topics, cs = topic_destroy(k.topics, k.vm.containers, int(pid), int(tid))
    if err != E_SUCC:
        return failed(k, err)
    return E_SUCC, (), with_containers(k, topics, cs)


# -- subscriptions: SYS_SUB, SYS_UNSUB, SYS_STAT ---------------------------------------------


def callback_ok(k: Kernel, pid: Word, cb: Word) -> bool:
    """No callback, or one on a present user page of pid's."""
    return cb == 0 or accessible(k.vm, pid, cb, u32(1), False)


def sys_sub(k: Kernel, pid: Word, tid: Word, qlen: Word, cb: Word, choices: Choices) -> Outcome:
    if not is_topic(k.topics, int(tid)):
        return failed(k, E_INVAL_TOPIC)
    if not qlen_ok(k.topics, int(qlen)):
        return failed(k, E_INVAL_ARG)
    if not callback_ok(k, pid, cb):
        return failed(k, E_INVAL_ADDR)
    frames = take(choices, queue_pages(k.topics, int(qlen)))
    err, topics, cs = topic_subscribe(k.topics, k.vm.containers, int(pid), int(tid), int(qlen), int(cb),
                                      frames)
    if err != E_SUCC:
        return failed(k, err)
    return E_SUCC, (), with_containers(k, topics, cs)


def sys_unsub(k: Kernel, pid: Word, tid: Word) -> Outcome:
    err, topics, cs = topic_unsubscribe(k.topics, k.vm.containers, int(pid), int(tid))
    if err != E_SUCC:
        return failed(k, err)
    return E_SUCC, (), with_containers(k, topics, cs)


def sys_stat(k: Kernel, pid: Word, tid: Word) -> Outcome:
    err, queued, dropped, qlen, cb = topic_stat(k.topics, int(pid), int(tid))
    if err != E_SUCC:
        return failed(k, err)
    return E_SUCC, (queued, dropped, qlen, cb), k


# -- messages: SYS_PUB, SYS_RECV -------------------------------------------------------------


def sys_pub(k: Kernel, pid: Word, tid: Word, va: Word, n: Word) -> Outcome:
    err = publish_error(k.topics, k.privileged[int(pid)], int(tid), int(n))
    if err != E_SUCC:
        return failed(k, err)
    err, data = copyin(k.vm, k.mem, pid, va, n)
    if err != E_SUCC:
        return failed(k, err)
    err, reached, topics = topic_publish(k.topics, k.privileged[int(pid)], int(tid), data)
    return E_SUCC, (reached,), replace(k, topics=topics)


def sys_recv(k: Kernel, pid: Word, tid: Word, va: Word, cap: Word) -> Outcome:
    """The oldest message of pid's queue on tid into the buffer at va, if cap bytes hold it
    and pid may write every byte of it there; a message refused stays at the head."""
    err, m = topic_peek(k.topics, int(pid), int(tid), int(cap))
    if err != E_SUCC:
        return failed(k, err)
    err, mem = copyout(k.vm, k.mem, pid, va, m.data)
    if err != E_SUCC:
        return failed(k, err)
    _, _, topics = topic_receive(k.topics, int(pid), int(tid), int(cap))
    return E_SUCC, (len(m.data),), replace(k, mem=mem, topics=topics)


# -- the dispatcher ---------------------------------------------------------------------------


def dispatch(k: Kernel, pid: Word, r: Regs, choices: Choices) -> Outcome:
    """(errno, results, kernel) of the call r.eax with the arguments in r."""
    nr = r.eax
    if nr == SYS_YIELD:
        return E_SUCC, (), k
    if nr == SYS_MMAP:
        return sys_mmap(k, pid, r.ebx, r.ecx, r.edx, choices)
    if nr == SYS_MUNMAP:
        return sys_munmap(k, pid, r.ebx, r.ecx)
    if nr == SYS_TOPIC_CREATE:
        return sys_topic_create(k, pid, r.ebx, r.ecx)
    if nr == SYS_TOPIC_LOOKUP:
        return sys_topic_lookup(k, pid, r.ebx, r.ecx)
    if nr == SYS_TOPIC_DESTROY:
        return sys_topic_destroy(k, pid, r.ebx)
    if nr == SYS_SUB:
        return sys_sub(k, pid, r.ebx, r.ecx, r.edx, choices)
    if nr == SYS_UNSUB:
        return sys_unsub(k, pid, r.ebx)
    if nr == SYS_PUB:
        return sys_pub(k, pid, r.ebx, r.ecx, r.edx)
    if nr == SYS_RECV:
        return sys_recv(k, pid, r.ebx, r.ecx, r.edx)
    if nr == SYS_STAT:
        return sys_stat(k, pid, r.ebx)
    return failed(k, E_INVAL_CALLNR)


def syscall(k: Kernel, pid: Word, choices: Choices) -> Kernel:
    """pid, a live process, has trapped with a system call: the kernel after it, with pid's
    registers answered."""
    r = k.regs[int(pid)]
    errno, results, after = dispatch(k, pid, r, choices)
    return replace(after, regs=after.regs.set(int(pid), answered(r, errno, results)))
