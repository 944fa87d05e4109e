"""The system calls of topics, subscriptions and messages, proved over the specs of the
topic and VM layers: SYS_TOPIC_CREATE, SYS_TOPIC_LOOKUP, SYS_TOPIC_DESTROY, SYS_SUB,
SYS_UNSUB, SYS_PUB, SYS_RECV, SYS_STAT.

`syscall.<call>.refines`: for every kernel over the lower specs (`lower.SpecKernel`) and
every live pid whose trap frame lies in the trap-frame area and holds the call's number
in eax, the impl's dispatcher, run over the lower specs' interface, leaves

- pid's registers as the spec's `answered` registers for what `spec.syscall.dispatch`
  answers (errno, and on success the results in their registers), read off the spec's
  view of the kernel and the same registers;
- the lower layers' states (address spaces and containers, topics) the spec's after the
  call, and physical memory too, byte by byte (at the point a);
- every byte of the trap-frame area outside pid's frame, and every privileged bit, as
  they were.

So the impl reads its arguments from the registers the ABI names, checks them in the
spec's order (the errno where several errors apply is the spec's), reaches user memory
and the topics as the spec does, and answers only in the registers the ABI lists. An
error changes nothing: the spec's `failed` keeps the kernel, and so the impl keeps the
lower states; a refused SYS_RECV keeps the message at the head of its queue.
"""

from __future__ import annotations

import copy
import types

import z3

import impl.syscall as impl_syscall
import spec.syscall as spec_syscall
from impl.syscall import tf_of
from impl.x86 import TF_SIZE, syscall_get_arg1, syscall_get_arg3
from spec.abi import (
    SYS_PUB,
    SYS_RECV,
    SYS_STAT,
    SYS_SUB,
    SYS_TOPIC_CREATE,
    SYS_TOPIC_DESTROY,
    SYS_TOPIC_LOOKUP,
    SYS_UNSUB,
)
from spec.map import Map
from spec.syscall import Choices, Kernel, Regs, answered
from spec.topic import Topics, queue_pages
from spec.vm import Vm
from spec.x86 import Word

from ..engine.interp import run
from ..engine.values import BVT, RecT, equal, flatten, fresh, unflatten, wellformed
from ..layer import over, same_leaf
from ..obligation import Goal, InvalidCase, Shown, obligation
from ..topic.delivery import distinct
from . import abstract_regs, kernel_size, outside_frame
from .lower import INTERFACE, SpecKernel

CALLS = {"pub": SYS_PUB, "recv": SYS_RECV, "stat": SYS_STAT, "sub": SYS_SUB, "unsub": SYS_UNSUB,
         "topic_create": SYS_TOPIC_CREATE, "topic_lookup": SYS_TOPIC_LOOKUP,
         "topic_destroy": SYS_TOPIC_DESTROY}
KERNEL = RecT(SpecKernel)
REGS = RecT(Regs)


def calls(k: SpecKernel, pid: Word, nr: int) -> bool:
    """pid's trap frame lies in the trap-frame area (said without a division: the first
    bound keeps its end below 2**32) and holds call number nr in eax."""
    return (pid < 0xFFFFFFFF // TF_SIZE and tf_of(pid) + TF_SIZE <= len(k.uctx)
            and syscall_get_arg1(k.uctx, tf_of(pid)) == nr)


def frames_given(k: SpecKernel, pid: Word) -> bool:
    """The frames the container layer hands out next are distinct, and as many as a
    subscription with the qlen in pid's ecx takes (the implementation's choice: each free
    frame once, and never too few once the quota check has passed; docs/topic.md)."""
    qlen = syscall_get_arg3(k.uctx, tf_of(pid))
    return distinct(k.lower.frames) and len(k.lower.frames) >= queue_pages(k.lower.topics, int(qlen))


# what a call's case assumes besides `calls`: of the lower layers' choices
CHOICES = {"sub": frames_given}


def spec_view(k: SpecKernel, pid: Word) -> Kernel:
    """The spec's kernel as far as a call of pid's reads it: the lower specs' states and
    pid's privileged bit (the dispatcher is given pid's registers)."""
    return Kernel(vm=k.lower.vm, mem=k.lower.mem, topics=k.lower.topics, regs=Map(),
                  privileged=Map({int(pid): k.priv[pid]}))


def spec_answer(k: Kernel, pid: Word, r: Regs, frames: tuple[int, ...]) -> tuple[Regs, Kernel]:
    """pid's registers after the spec's dispatcher has run the call in r, given the frames
    the implementation takes, and the kernel."""
    errno, results, after = spec_syscall.dispatch(k, pid, r, Choices(frames=frames))
    return answered(r, errno, results), after


def refines(call: str, impl: types.ModuleType = impl_syscall) -> Goal:
    """The impl's dispatcher over the lower specs answers and changes what the spec's does."""
    nr = CALLS[call]
    leaves = flatten(KERNEL, fresh(KERNEL, "k"))
    pid, a = z3.BitVec("pid", 32), z3.BitVec("a", 32)
    k0 = unflatten(KERNEL, leaves)
    case = run(calls, lambda: [k0, pid, nr])
    given = [case.result, *case.assumptions]
    with over(impl, INTERFACE):
        out = run(impl.syscall_dispatch, lambda: [unflatten(KERNEL, leaves), pid], assume=given)
    k1 = out.args[0]
    regs0 = run(abstract_regs, lambda: [k0.uctx, pid], assume=given)
    regs1 = run(abstract_regs, lambda: [k1.uctx, pid], assume=given)
    view = run(spec_view, lambda: [k0, pid])
    want = run(spec_answer, lambda: [view.result, pid, regs0.result, k0.lower.frames], assume=given)
    want_regs, after = want.result
    apart = run(outside_frame, lambda: [pid, a])
    low1 = k1.lower
    conclusion = z3.And(
        *out.obligations, *want.obligations, equal(REGS, regs1.result, want_regs),
        equal(RecT(Vm), low1.vm, after.vm),
        low1.mem.length == after.mem.length, low1.mem.get(a) == after.mem.get(a),
        equal(RecT(Topics), low1.topics, after.topics),
        *[same_leaf(x, y) for x, y in zip(flatten(KERNEL.fields[2][1], k0.priv),
                                          flatten(KERNEL.fields[2][1], k1.priv), strict=True)],
        k1.uctx.length == k0.uctx.length, z3.Implies(apart.result, k1.uctx.get(a) == k0.uctx.get(a)))
    facts = [*out.assumptions, *regs0.assumptions, *regs1.assumptions, *view.assumptions,
             *want.assumptions, *apart.assumptions]
    if call in CHOICES:  # a hypothesis only: quantified, so no help in pruning the runs
        chosen = run(CHOICES[call], lambda: [k0, pid])
        facts += [chosen.result, *chosen.assumptions]
    # the one subscription a call of pid's on topic ebx reads, and the maps' entries at pid
    # and at the topics in ebx and ecx: shown where a model has them
    r0 = regs0.result
    at = (z3.BV2Int(pid), z3.BV2Int(r0.ebx))
    keys = [at, z3.BV2Int(pid), z3.BV2Int(r0.ebx), z3.BV2Int(r0.ecx)]
    inputs = {"k": Shown(KERNEL, k0, kernel_size(k0, pid), keys=keys), "pid": Shown(BVT(32), pid),
              "a": Shown(BVT(32), a)}
    # the frames handed out too: a counterexample with a billion of them cannot be written down
    sizes = [z3.BV2Int(pid), z3.BV2Int(k0.uctx.length) - (z3.BV2Int(pid) + 1) * TF_SIZE,
             k0.lower.frames.length]
    return Goal([*given, wellformed(KERNEL, k0), *facts], conclusion, inputs, replay=replay_refines,
                replay_module=impl.__name__, replay_extra={"call": call}, points=[a], sizes=sizes)


for _call in CALLS:
    obligation(f"syscall.{_call}.refines")(lambda impl=impl_syscall, _call=_call: refines(_call, impl))


def replay_refines(impl: types.ModuleType | None, call: str, k: SpecKernel, pid: Word, a: Word) -> None:
    """The case natively: the impl's dispatcher over the lower specs, against the spec's."""
    module = impl or impl_syscall
    chosen = call not in CHOICES or CHOICES[call](k, pid)
    if not calls(k, pid, CALLS[call]) or pid >= len(k.priv) or not chosen:
        raise InvalidCase("pid's frame is not in the area, it does not make this call, it has no "
                          "privileged bit, or the frames handed out are not as the case says")
    before = copy.deepcopy(k)
    regs = abstract_regs(before.uctx, pid)
    try:
        want_regs, after = spec_answer(spec_view(before, pid), pid, regs, before.lower.frames)
    except (IndexError, KeyError) as e:  # a mapped frame past physical memory, a process with no
        # container: no kernel the spec describes
        raise InvalidCase(f"the spec reads what the kernel does not hold ({e!r})") from e
    with over(module, INTERFACE):
        module.syscall_dispatch(k, pid)
    got = abstract_regs(k.uctx, pid)
    assert got == want_regs, f"registers {got}, the spec's {want_regs}"
    assert (k.lower.vm, k.lower.mem, k.lower.topics) == (after.vm, after.mem, after.topics), \
        "the lower layers are not as the spec leaves them"
    assert k.priv == before.priv, "a privileged bit changed"
    if outside_frame(pid, a) and a < len(k.uctx):
        assert k.uctx[a] == before.uctx[a], f"byte {a} outside pid's frame changed"
