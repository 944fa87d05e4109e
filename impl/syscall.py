"""System calls as mCertikOS's TSyscall layer writes them.

Each `sys_*` reads its arguments from the caller's saved trap frame through the x86
layer (`syscall_get_arg2` .. `syscall_get_arg6`: ebx, ecx, edx, esi, edi), checks them in
the ABI's order, reaches user memory only through the VM layer (pt_copyin, pt_copyout,
map_page, unmap_page, and its page-table getters), runs the topic layer, and answers
through `syscall_set_errno` and `syscall_set_retval*`: eax, and on success the result
registers the call lists, no others.

The saved trap frames are kernel memory of their own, TF_SIZE bytes a pid (mCertikOS's
uctx_pool), not the paged physical memory a process can reach.
"""

from __future__ import annotations

from dataclasses import dataclass

from impl.container import ContainerTable, container_can_consume
from impl.message import MsgTable
from impl.topic import (
    TopicTable,
    topic_create,
    topic_destroy,
    topic_live,
    topic_lookup,
    topic_peek,
    topic_publish,
    topic_publish_error,
    topic_receive,
    topic_stat,
    topic_subscribe,
    topic_unsubscribe,
)
from impl.vm import PTPool, get_pdir_entry, get_ptbl_entry_by_va, map_page, pt_copyin, pt_copyout, unmap_page
from impl.x86 import (
    PDX,
    TF_SIZE,
    syscall_get_arg1,
    syscall_get_arg2,
    syscall_get_arg3,
    syscall_get_arg4,
    syscall_set_errno,
    syscall_set_retval1,
    syscall_set_retval2,
    syscall_set_retval3,
    syscall_set_retval4,
)
from spec.abi import (
    E_EXCEEDS_QUOTA,
    E_INVAL_ADDR,
    E_INVAL_ARG,
    E_INVAL_CALLNR,
    E_INVAL_TOPIC,
    E_SUCC,
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
)
from spec.x86 import PhysMem, Word, u32

PAGE_SIZE = 4096


@dataclass
class Kernel:
    """The layers below, as the kernel holds them, and the saved user trap frames."""

    c: ContainerTable
    pt: PTPool
    mq: MsgTable
    t: TopicTable
    uctx: PhysMem
    priv: list[bool]


def tf_of(pid: Word) -> Word:
    """The address of pid's saved trap frame in uctx."""
    return u32(pid * TF_SIZE)


def answer(k: Kernel, pid: Word, errno: int) -> None:
    syscall_set_errno(k.uctx, tf_of(pid), u32(errno))


# -- the address space ------------------------------------------------------------------------


def page_range_ok(k: Kernel, va: Word, npages: Word) -> bool:
    """Aligned, at least one page, every page in the user range."""
    size = npages * PAGE_SIZE
    return (va & 0xFFF == 0 and npages >= 1 and size <= 0xFFFFFFFF
            and k.pt.userlo <= va and va < k.pt.userhi and size <= k.pt.userhi - va)


def page_present(k: Kernel, pid: Word, va: Word) -> bool:
    return get_ptbl_entry_by_va(k.pt, pid, va) & PTE_P != 0


def tables_needed(k: Kernel, pid: Word, va: Word, npages: Word) -> int:
    """The page tables of [va, va + npages pages) that pid has not: one per PDX."""
    n = 0
    for pdx in range(PDX(va), PDX(u32(va + (npages - 1) * PAGE_SIZE)) + 1):
        if get_pdir_entry(k.pt, pid, pdx) & PTE_P == 0:
            n += 1
    return n


def sys_mmap(k: Kernel, pid: Word) -> None:
    tf = tf_of(pid)
    va, npages = syscall_get_arg2(k.uctx, tf), syscall_get_arg3(k.uctx, tf)
    writable = syscall_get_arg4(k.uctx, tf)
    if not page_range_ok(k, va, npages):
        return answer(k, pid, E_INVAL_ADDR)
    for i in range(npages):
        if page_present(k, pid, u32(va + i * PAGE_SIZE)):
            return answer(k, pid, E_INVAL_ADDR)
    if not container_can_consume(k.c, int(pid), npages + tables_needed(k, pid, va, npages)):
        return answer(k, pid, E_EXCEEDS_QUOTA)
    for i in range(npages):
        # cannot fail: every page is free and the quota holds them and their tables
        map_page(k.c, k.pt, pid, u32(va + i * PAGE_SIZE), writable != 0)
    return answer(k, pid, E_SUCC)


def sys_munmap(k: Kernel, pid: Word) -> None:
    tf = tf_of(pid)
    va, npages = syscall_get_arg2(k.uctx, tf), syscall_get_arg3(k.uctx, tf)
    if not page_range_ok(k, va, npages):
        return answer(k, pid, E_INVAL_ADDR)
    for i in range(npages):
        if not page_present(k, pid, u32(va + i * PAGE_SIZE)):
            return answer(k, pid, E_INVAL_ADDR)
    for i in range(npages):
        unmap_page(k.c, k.pt, pid, u32(va + i * PAGE_SIZE))
    return answer(k, pid, E_SUCC)


# -- topics ------------------------------------------------------------------------------------


def copy_name(k: Kernel, pid: Word, va: Word, n: Word) -> tuple[int, bytes]:
    """The name argument: its length checked before a byte is read, then copied in."""
    if n < 1 or n > k.t.name_max:
        return E_INVAL_ARG, b""
    return pt_copyin(k.pt, pid, va, n)


def sys_topic_create(k: Kernel, pid: Word) -> None:
    tf = tf_of(pid)
    err, name = copy_name(k, pid, syscall_get_arg2(k.uctx, tf), syscall_get_arg3(k.uctx, tf))
    if err != E_SUCC:
        return answer(k, pid, err)
    err, tid = topic_create(k.t, int(pid), k.priv[pid], name)
    if err != E_SUCC:
        return answer(k, pid, err)
    syscall_set_retval1(k.uctx, tf, u32(tid))
    return answer(k, pid, E_SUCC)


def sys_topic_lookup(k: Kernel, pid: Word) -> None:
    tf = tf_of(pid)
    err, name = copy_name(k, pid, syscall_get_arg2(k.uctx, tf), syscall_get_arg3(k.uctx, tf))
    if err != E_SUCC:
        return answer(k, pid, err)
    err, tid = topic_lookup(k.t, name)
    if err != E_SUCC:
        return answer(k, pid, err)
    syscall_set_retval1(k.uctx, tf, u32(tid))
    return answer(k, pid, E_SUCC)


def sys_topic_destroy(k: Kernel, pid: Word) -> None:
    tid = syscall_get_arg2(k.uctx, tf_of(pid))
    return answer(k, pid, topic_destroy(k.t, k.mq, k.c, int(pid), int(tid)))


# -- subscriptions -----------------------------------------------------------------------------


def callback_ok(k: Kernel, pid: Word, cb: Word) -> bool:
    """No callback, or one on a present user page of pid's: a one-byte copy-in would succeed."""
    return cb == 0 or pt_copyin(k.pt, pid, cb, u32(1))[0] == E_SUCC


def sys_sub(k: Kernel, pid: Word) -> None:
    tf = tf_of(pid)
    tid, qlen, cb = syscall_get_arg2(k.uctx, tf), syscall_get_arg3(k.uctx, tf), syscall_get_arg4(k.uctx, tf)
    if not topic_live(k.t, int(tid)):
        return answer(k, pid, E_INVAL_TOPIC)
    if qlen < 1 or qlen > k.t.qlen_max:
        return answer(k, pid, E_INVAL_ARG)
    if not callback_ok(k, pid, cb):
        return answer(k, pid, E_INVAL_ADDR)
    return answer(k, pid, topic_subscribe(k.t, k.mq, k.c, int(pid), int(tid), int(qlen), int(cb)))


def sys_unsub(k: Kernel, pid: Word) -> None:
    tid = syscall_get_arg2(k.uctx, tf_of(pid))
    return answer(k, pid, topic_unsubscribe(k.t, k.mq, k.c, int(pid), int(tid)))


def sys_stat(k: Kernel, pid: Word) -> None:
    tf = tf_of(pid)
    err, queued, dropped, qlen, cb = topic_stat(k.t, k.mq, int(pid), int(syscall_get_arg2(k.uctx, tf)))
    if err != E_SUCC:
        return answer(k, pid, err)
    syscall_set_retval1(k.uctx, tf, u32(queued))
    syscall_set_retval2(k.uctx, tf, u32(dropped))
    syscall_set_retval3(k.uctx, tf, u32(qlen))
    syscall_set_retval4(k.uctx, tf, u32(cb))
    return answer(k, pid, E_SUCC)


# -- messages ----------------------------------------------------------------------------------


def sys_pub(k: Kernel, pid: Word) -> None:
    tf = tf_of(pid)
    tid, va, n = syscall_get_arg2(k.uctx, tf), syscall_get_arg3(k.uctx, tf), syscall_get_arg4(k.uctx, tf)
    err = topic_publish_error(k.t, k.priv[pid], int(tid), int(n))
    if err != E_SUCC:
        return answer(k, pid, err)
    err, data = pt_copyin(k.pt, pid, va, n)
    if err != E_SUCC:
        return answer(k, pid, err)
    _, reached = topic_publish(k.t, k.mq, k.priv[pid], int(tid), data)
    syscall_set_retval1(k.uctx, tf, u32(reached))
    return answer(k, pid, E_SUCC)


def sys_recv(k: Kernel, pid: Word) -> None:
    tf = tf_of(pid)
    tid, va, cap = syscall_get_arg2(k.uctx, tf), syscall_get_arg3(k.uctx, tf), syscall_get_arg4(k.uctx, tf)
    err, _, data = topic_peek(k.t, k.mq, int(pid), int(tid), int(cap))
    if err != E_SUCC:
        return answer(k, pid, err)
    # the message leaves its queue only once it is in the buffer
    err = pt_copyout(k.pt, pid, va, data)
    if err != E_SUCC:
        return answer(k, pid, err)
    topic_receive(k.t, k.mq, int(pid), int(tid), int(cap))
    syscall_set_retval1(k.uctx, tf, u32(len(data)))
    return answer(k, pid, E_SUCC)


# -- the dispatcher ----------------------------------------------------------------------------


def syscall_dispatch(k: Kernel, pid: Word) -> None:
    """Run the system call pid, a live process, trapped with: its number is in eax."""
    nr = syscall_get_arg1(k.uctx, tf_of(pid))
    if nr == SYS_YIELD:
        answer(k, pid, E_SUCC)
    elif nr == SYS_MMAP:
        sys_mmap(k, pid)
    elif nr == SYS_MUNMAP:
        sys_munmap(k, pid)
    elif nr == SYS_TOPIC_CREATE:
        sys_topic_create(k, pid)
    elif nr == SYS_TOPIC_LOOKUP:
        sys_topic_lookup(k, pid)
    elif nr == SYS_TOPIC_DESTROY:
        sys_topic_destroy(k, pid)
    elif nr == SYS_SUB:
        sys_sub(k, pid)
    elif nr == SYS_UNSUB:
        sys_unsub(k, pid)
    elif nr == SYS_PUB:
        sys_pub(k, pid)
    elif nr == SYS_RECV:
        sys_recv(k, pid)
    elif nr == SYS_STAT:
        sys_stat(k, pid)
    else:
        answer(k, pid, E_INVAL_CALLNR)
