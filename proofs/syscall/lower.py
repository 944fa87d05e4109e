"""The layers below the system calls, as their specs hold them, behind the interface the
impl calls.

`impl.syscall` reaches the topic layer (`topic_*`) and the VM layer (`pt_copyin`,
`pt_copyout`) through their interfaces. Over the specs, one record, `SpecLower`, holds
what those layers' specs hold together (the address spaces with the containers, physical
memory, the topics), and each interface function is the spec's operation on it: the
layer's state written back where the operation changes it. `SpecKernel` is the impl's
kernel record with that record in place of each lower table (`t`, `mq`, `c` and `pt`
all name it), beside the impl's own trap frames and privileged bits.

The calls proved over this interface read and write no other lower-layer function: those
that map or unmap user pages (SYS_MMAP, SYS_MUNMAP) are bound to `not_over_the_specs`,
which no proof here reaches. A subscription's queue pages are `SpecLower.frames`, taken in
order, as the spec's dispatcher takes its `Choices`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, NoReturn

import spec.topic as spec_topic
import spec.vm as spec_vm
from spec.syscall import Choices, take
from spec.topic import Topics, queue_pages
from spec.vm import Vm
from spec.x86 import PhysMem, Word


@dataclass
class SpecLower:
    """The VM layer's spec state and physical memory, the topic layer's spec state, and the
    frames the container layer hands out next (its spec takes the implementation's choice:
    here, these, in order)."""

    vm: Vm
    mem: PhysMem
    topics: Topics
    frames: tuple[int, ...]

    # the sizes the impl reads off its lower tables, read off the specs' states
    @property
    def name_max(self) -> int:
        return self.topics.name_max

    @property
    def qlen_max(self) -> int:
        return self.topics.qlen_max

    @property
    def userlo(self) -> Word:
        return self.vm.userlo

    @property
    def userhi(self) -> Word:
        return self.vm.userhi


@dataclass
class SpecKernel:
    """impl.syscall's Kernel over the lower specs: each lower table is `lower`."""

    lower: SpecLower
    uctx: PhysMem
    priv: list[bool]

    @property
    def t(self) -> SpecLower:
        return self.lower

    @property
    def mq(self) -> SpecLower:
        return self.lower

    @property
    def c(self) -> SpecLower:
        return self.lower

    @property
    def pt(self) -> SpecLower:
        return self.lower


# -- the topic layer's interface ---------------------------------------------------------------


def spec_topic_live(low: SpecLower, tid: int) -> bool:
    return spec_topic.is_topic(low.topics, tid)


def spec_topic_create(low: SpecLower, pid: int, privileged: bool, name: bytes) -> tuple[int, int]:
    err, tid, low.topics = spec_topic.create(low.topics, pid, privileged, name)
    return err, tid


def spec_topic_lookup(low: SpecLower, name: bytes) -> tuple[int, int]:
    return spec_topic.lookup(low.topics, name)


def spec_topic_publish_error(low: SpecLower, privileged: bool, tid: int, n: int) -> int:
    return spec_topic.publish_error(low.topics, privileged, tid, n)


def spec_topic_publish(low: SpecLower, mq: SpecLower, privileged: bool, tid: int,
                       data: bytes) -> tuple[int, int]:
    err, reached, low.topics = spec_topic.publish(low.topics, privileged, tid, data)
    return err, reached


def spec_topic_peek(low: SpecLower, mq: SpecLower, pid: int, tid: int, cap: int) -> tuple[int, int, bytes]:
    err, m = spec_topic.peek(low.topics, pid, tid, cap)
    return err, m.seq, m.data


def spec_topic_receive(low: SpecLower, mq: SpecLower, pid: int, tid: int, cap: int) -> tuple[int, int, bytes]:
    err, m, low.topics = spec_topic.receive(low.topics, pid, tid, cap)
    return err, m.seq, m.data


def spec_topic_stat(low: SpecLower, mq: SpecLower, pid: int, tid: int) -> tuple[int, int, int, int, int]:
    return spec_topic.stat(low.topics, pid, tid)


def spec_topic_subscribe(low: SpecLower, mq: SpecLower, c: SpecLower, pid: int, tid: int, qlen: int,
                         cb: int) -> int:
    frames = take(Choices(frames=low.frames), queue_pages(low.topics, qlen))
    err, low.topics, cs = spec_topic.subscribe(low.topics, low.vm.containers, pid, tid, qlen, cb, frames)
    low.vm = replace(low.vm, containers=cs)
    return err


def spec_topic_unsubscribe(low: SpecLower, mq: SpecLower, c: SpecLower, pid: int, tid: int) -> int:
    err, low.topics, cs = spec_topic.unsubscribe(low.topics, low.vm.containers, pid, tid)
    low.vm = replace(low.vm, containers=cs)
    return err


def spec_topic_destroy(low: SpecLower, mq: SpecLower, c: SpecLower, pid: int, tid: int) -> int:
    err, low.topics, cs = spec_topic.destroy(low.topics, low.vm.containers, pid, tid)
    low.vm = replace(low.vm, containers=cs)
    return err


# -- the VM layer's interface --------------------------------------------------------------------


def spec_pt_copyin(low: SpecLower, pid: Word, va: Word, n: Word) -> tuple[int, bytes]:
    return spec_vm.copyin(low.vm, low.mem, pid, va, n)


def spec_pt_copyout(low: SpecLower, pid: Word, va: Word, buf: bytes) -> int:
    err, low.mem = spec_vm.copyout(low.vm, low.mem, pid, va, buf)
    return err


def not_over_the_specs(*args: Any) -> NoReturn:
    raise NotImplementedError("a call that takes or gives back frames: not proved over the lower specs")


INTERFACE = {
    "topic_live": spec_topic_live, "topic_create": spec_topic_create, "topic_lookup": spec_topic_lookup,
    "topic_publish_error": spec_topic_publish_error, "topic_publish": spec_topic_publish,
    "topic_peek": spec_topic_peek, "topic_receive": spec_topic_receive, "topic_stat": spec_topic_stat,
    "topic_subscribe": spec_topic_subscribe, "topic_unsubscribe": spec_topic_unsubscribe,
    "topic_destroy": spec_topic_destroy, "pt_copyin": spec_pt_copyin, "pt_copyout": spec_pt_copyout,
    **dict.fromkeys(("map_page", "unmap_page",
                     "get_pdir_entry", "get_ptbl_entry_by_va", "container_can_consume"), not_over_the_specs),
}
