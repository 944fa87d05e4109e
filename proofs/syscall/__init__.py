"""The system-call layer's proof: impl.syscall refines spec.syscall over the layers below.

The abstraction reads each live process's saved registers out of the trap-frame area
(uctx), the containers, address spaces and topics through the lower layers'
abstractions, and the privileged bits.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

import impl.syscall as impl_syscall
from impl.syscall import Kernel as KernelState
from impl.syscall import tf_of
from impl.x86 import (
    TF_CS,
    TF_DS,
    TF_EAX,
    TF_EBP,
    TF_EBX,
    TF_ECX,
    TF_EDI,
    TF_EDX,
    TF_EFLAGS,
    TF_EIP,
    TF_ERR,
    TF_ES,
    TF_ESI,
    TF_ESP,
    TF_OESP,
    TF_SIZE,
    TF_SS,
    TF_TRAPNO,
    phys_load16,
    phys_load32,
    phys_store16,
    phys_store32,
    syscall_get_arg1,
)
from spec.abi import (
    E_INVAL_CALLNR,
    E_SUCC,
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
from spec.map import Map
from spec.syscall import Kernel, Regs, answered
from spec.x86 import PhysMem, Word

from ..container import abstract as abstract_containers
from ..engine.interp import run
from ..engine.values import BVT, RecT, equal, flatten, fresh, unflatten, wellformed
from ..layer import same_leaf
from ..obligation import Goal, InvalidCase, Shown, obligation
from ..topic import abstract as abstract_topics
from ..vm import abstract as abstract_vm

WORDS = {"edi": TF_EDI, "esi": TF_ESI, "ebp": TF_EBP, "oesp": TF_OESP, "ebx": TF_EBX, "edx": TF_EDX,
         "ecx": TF_ECX, "eax": TF_EAX, "trapno": TF_TRAPNO, "err": TF_ERR, "eip": TF_EIP,
         "eflags": TF_EFLAGS, "esp": TF_ESP}
SELECTORS = {"es": TF_ES, "ds": TF_DS, "cs": TF_CS, "ss": TF_SS}


def abstract_regs(uctx: PhysMem, pid: Word) -> Regs:
    """pid's saved trap frame as the ABI's registers (the selectors are 16 bits wide)."""
    tf = tf_of(pid)
    return Regs(edi=phys_load32(uctx, tf + TF_EDI), esi=phys_load32(uctx, tf + TF_ESI),
                ebp=phys_load32(uctx, tf + TF_EBP), oesp=phys_load32(uctx, tf + TF_OESP),
                ebx=phys_load32(uctx, tf + TF_EBX), edx=phys_load32(uctx, tf + TF_EDX),
                ecx=phys_load32(uctx, tf + TF_ECX), eax=phys_load32(uctx, tf + TF_EAX),
                es=phys_load16(uctx, tf + TF_ES), ds=phys_load16(uctx, tf + TF_DS),
                trapno=phys_load32(uctx, tf + TF_TRAPNO), err=phys_load32(uctx, tf + TF_ERR),
                eip=phys_load32(uctx, tf + TF_EIP), cs=phys_load16(uctx, tf + TF_CS),
                eflags=phys_load32(uctx, tf + TF_EFLAGS), esp=phys_load32(uctx, tf + TF_ESP),
                ss=phys_load16(uctx, tf + TF_SS))


def save_regs(uctx: PhysMem, pid: Word, r: Regs) -> None:
    """Write r as pid's saved trap frame (what the trap entry does)."""
    tf = tf_of(pid)
    for name, off in WORDS.items():
        phys_store32(uctx, tf + off, getattr(r, name))
    for name, off in SELECTORS.items():
        phys_store16(uctx, tf + off, getattr(r, name))


def abstract(k: KernelState, mem: PhysMem) -> Kernel:
    """The kernel's state as the spec holds it; `mem` is the spec's physical memory, which
    the tests compare page by page where a process can read (the impl's also holds page
    tables)."""
    cs = abstract_containers(k.c)
    return Kernel(vm=abstract_vm(cs, k.pt), mem=mem, topics=abstract_topics(k.t, k.mq),
                  regs=Map({p: abstract_regs(k.uctx, p) for p in cs.live}),
                  privileged=Map({p: k.priv[p] for p in cs.live}))


# -- obligations: the calls answered without the layers below ---------------------------------
#
# A call number this layer does not run, and SYS_YIELD, reach no layer below: in those
# cases the impl answers pid's registers as the spec's `answered` says (eax alone) and
# changes nothing else, not another process's trap frame, not the layers below.

HERE = (SYS_YIELD, SYS_MMAP, SYS_MUNMAP, SYS_TOPIC_CREATE, SYS_TOPIC_LOOKUP, SYS_TOPIC_DESTROY, SYS_SUB,
        SYS_UNSUB, SYS_PUB, SYS_RECV, SYS_STAT)
KERNEL = RecT(KernelState)
REGS = RecT(Regs)


def frame_in_uctx(k: KernelState, pid: Word) -> bool:
    """pid's trap frame lies inside the trap-frame area. (Said without a division, which
    the solver takes slowly: the first bound keeps the frame's end below 2**32.)"""
    return pid < 0xFFFFFFFF // TF_SIZE and tf_of(pid) + TF_SIZE <= len(k.uctx)


def calls_an_unknown_number(k: KernelState, pid: Word) -> bool:
    nr = syscall_get_arg1(k.uctx, tf_of(pid))
    return frame_in_uctx(k, pid) and all(nr != x for x in HERE)


def yields(k: KernelState, pid: Word) -> bool:
    return frame_in_uctx(k, pid) and syscall_get_arg1(k.uctx, tf_of(pid)) == SYS_YIELD


@dataclass(frozen=True)
class Answer:
    """A case of the dispatcher and what the spec answers in it."""

    case: Callable[[KernelState, Word], bool]
    errno: int


ANSWERS = {"unknown": Answer(calls_an_unknown_number, E_INVAL_CALLNR), "yield": Answer(yields, E_SUCC)}


def outside_frame(pid: Word, a: Word) -> bool:
    """Byte a of the trap-frame area is not in pid's frame."""
    return a < tf_of(pid) or a >= tf_of(pid) + TF_SIZE


def answers(call: str, impl: types.ModuleType = impl_syscall) -> Goal:
    """In the case, the registers after are the spec's `answered` registers, every byte of
    the area outside pid's frame is as it was (the point a), and so is every layer below."""
    rule = ANSWERS[call]
    leaves = flatten(KERNEL, fresh(KERNEL, "k"))
    pid, a = z3.BitVec("pid", 32), z3.BitVec("a", 32)
    k0 = unflatten(KERNEL, leaves)
    case = run(rule.case, lambda: [k0, pid])
    # what prunes the runs' branches: the case alone, quantifier-free, so each question is quick
    given = [case.result, *case.assumptions]
    out = run(impl.syscall_dispatch, lambda: [unflatten(KERNEL, leaves), pid], assume=given)
    k1 = out.args[0]
    # pid's frame is in the area: no load of it is past its end
    regs0 = run(abstract_regs, lambda: [k0.uctx, pid], assume=given)
    regs1 = run(abstract_regs, lambda: [k1.uctx, pid], assume=given)
    want = run(answered, lambda: [regs0.result, rule.errno, ()])
    apart = run(outside_frame, lambda: [pid, a])
    below = [same_leaf(x, y) for name, ty in KERNEL.fields if name != "uctx"
             for x, y in zip(flatten(ty, getattr(k0, name)), flatten(ty, getattr(k1, name)), strict=True)]
    conclusion = z3.And(*out.obligations, equal(REGS, regs1.result, want.result), *below,
                        k1.uctx.length == k0.uctx.length,
                        z3.Implies(apart.result, k1.uctx.get(a) == k0.uctx.get(a)))
    facts = [*out.assumptions, *regs0.assumptions, *regs1.assumptions, *want.assumptions,
             *apart.assumptions]
    inputs = {"k": Shown(KERNEL, k0, kernel_size(k0)), "pid": Shown(BVT(32), pid), "a": Shown(BVT(32), a)}
    # a small case: a low pid, and an area that ends a little past its frame
    sizes = [z3.BV2Int(pid), z3.BV2Int(k0.uctx.length) - (z3.BV2Int(pid) + 1) * TF_SIZE]
    return Goal([*given, wellformed(KERNEL, k0), *facts], conclusion, inputs, replay=replay_answers,
                replay_module=impl.__name__, replay_extra={"call": call}, points=[a], sizes=sizes)


def kernel_size(k: Any, pid: Any = None) -> Callable[[Any, z3.ModelRef], int]:
    """The trap-frame area is as long as the case says; the privileged bits reach pid's
    (when it is low enough to show); the lower layers' tables, which these calls do not
    reach, are shown with two entries."""
    def size(arr: Any, model: z3.ModelRef) -> int:
        def is_(x: Any) -> bool:
            return arr is x or bool(getattr(arr, "leaves", None) and arr.leaves[0].eq(x.leaves[0]))

        if is_(k.uctx):
            return int(model.eval(z3.BV2Int(k.uctx.length), model_completion=True).as_long())
        lower = getattr(k, "lower", None)
        if lower is not None and is_(lower.mem):  # physical memory, where it is small enough to show
            n = int(model.eval(z3.BV2Int(lower.mem.length), model_completion=True).as_long())
            return n if n <= 1 << 16 else 2
        if pid is not None and is_(k.priv):
            shown = int(model.eval(z3.BV2Int(pid), model_completion=True).as_long()) + 1
            return shown if 2 <= shown <= 4096 else 2
        return 2

    return size


for _call in ANSWERS:
    obligation(f"syscall.{_call}.answers")(lambda impl=impl_syscall, _call=_call: answers(_call, impl))


def replay_answers(impl: types.ModuleType | None, call: str, k: KernelState, pid: Word, a: Word) -> None:
    module = impl or impl_syscall
    rule = ANSWERS[call]
    if not rule.case(k, pid):
        raise InvalidCase("not the case the obligation is about")
    before = copy.deepcopy(k)
    module.syscall_dispatch(k, pid)
    assert abstract_regs(k.uctx, pid) == answered(abstract_regs(before.uctx, pid), rule.errno, ())
    assert all(getattr(k, f) == getattr(before, f) for f in ("c", "pt", "mq", "t", "priv"))
    if outside_frame(pid, a) and a < len(k.uctx):
        assert k.uctx[a] == before.uctx[a], f"byte {a} outside pid's frame changed"


from . import errnos, refines  # noqa: E402, F401 - their obligations are the layer's
