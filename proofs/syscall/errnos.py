"""Only the errnos the ABI lists for a call come out of it.

`syscall.<call>.errnos`: for every kernel state of the spec, every pid and every value in
every register, the spec's dispatcher answers the call in eax either E_SUCC or one of
`spec.abi.errors_of(call)`; an unknown number answers E_INVAL_CALLNR alone. Two errnos of
the layers below that the ABI does not list for these calls cannot come out, and the
case says why:

- E_INVAL_ARG from a copy of more than a page (`spec.vm.copyin`, `copyout`): a name is
  checked against NAME_MAX and a published message against MSG_MAX before the copy, and
  a received message was checked against MSG_MAX when it was published; a configuration
  keeps both within a page (docs/abi.md), and every queued message within MSG_MAX is the
  topic layer's invariant (`topic.publish.invariant` keeps it: no message in a queue is
  longer than MSG_MAX).
- E_MEM: SYS_SUB is given its queue's frames, distinct and as many as it takes (the
  implementation's choice, `frames_given`); the other calls here take no frame
  (SYS_UNSUB and SYS_TOPIC_DESTROY give frames back).

With the refinement of every call here but SYS_YIELD and an unknown number, whose
answers are proved on their own (`syscall.<call>.answers`), the impl answers only these.
SYS_MMAP and SYS_MUNMAP are not here yet (docs/syscall.md).
"""

from __future__ import annotations

import copy
import types
from dataclasses import replace

import z3

import spec.syscall as spec_syscall
from spec.abi import (
    E_SUCC,
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
from spec.syscall import Choices, Kernel, Regs
from spec.topic import Topics, queue_pages
from spec.x86 import PAGE_SHIFT, Word

from ..engine.interp import run
from ..engine.values import BVT, INT, RecT, SeqT, flatten, fresh, unflatten, wellformed
from ..obligation import Goal, InvalidCase, Shown, obligation
from ..topic.delivery import distinct
from . import HERE

CALLS = {"yield": SYS_YIELD, "topic_create": SYS_TOPIC_CREATE, "topic_lookup": SYS_TOPIC_LOOKUP,
         "topic_destroy": SYS_TOPIC_DESTROY, "unsub": SYS_UNSUB, "pub": SYS_PUB, "recv": SYS_RECV,
         "stat": SYS_STAT, "sub": SYS_SUB, "unknown": 0xFFFF}
KERNEL = RecT(Kernel)
REGS = RecT(Regs)
FRAMES = SeqT(INT)
PAGE_SIZE = 1 << PAGE_SHIFT


def messages_fit(ts: Topics) -> bool:
    """Every queue is within its capacity, at most QLEN_MAX, and every queued message
    within MSG_MAX bytes (the topic layer's invariant)."""
    return all(len(s.queue.items) <= s.queue.capacity and s.queue.capacity <= ts.qlen_max
               and all(len(s.queue.items[i].data) <= ts.msg_max for i in range(len(s.queue.items)))
               for _, s in ts.subs.items())


def names_fit(ts: Topics) -> bool:
    """Every topic's name is within NAME_MAX bytes (the topic layer's invariant)."""
    return all(len(topic.name) <= ts.name_max for _, topic in ts.topics.items())


def live(k: Kernel, pid: Word) -> bool:
    """pid is a live process: the kernel holds its registers, its privileged bit and its
    container."""
    return int(pid) in k.privileged and int(pid) in k.regs and int(pid) in k.vm.containers.live


def sizes_fit(k: Kernel) -> bool:
    """A name and a message fit a page (a configuration's rule), and the topics' pages have
    a size (the topic layer's invariant)."""
    return (k.topics.name_max <= PAGE_SIZE and k.topics.msg_max <= PAGE_SIZE and 0 <= k.topics.msg_max
            and 1 <= k.topics.page_size)


def fits(k: Kernel, pid: Word) -> bool:
    """pid is live, a name and a message fit a page, and the topics keep their sizes: what
    rules out a copy's E_INVAL_ARG (and keeps a counterexample small)."""
    return live(k, pid) and sizes_fit(k) and names_fit(k.topics) and messages_fit(k.topics)


def pruning_case(k: Kernel, pid: Word) -> bool:
    return live(k, pid) and sizes_fit(k)


def frames_given(k: Kernel, r: Regs, frames: tuple[int, ...]) -> bool:
    """The implementation's choice of frames: distinct, and as many as a subscription with
    the qlen in ecx takes (a kernel gives each free frame once, and never runs out: the
    quota check has passed; docs/topic.md)."""
    return distinct(frames) and len(frames) >= queue_pages(k.topics, int(r.ecx))


def errno_of_call(k: Kernel, pid: Word, r: Regs, frames: tuple[int, ...]) -> int:
    errno, _, _ = spec_syscall.dispatch(k, pid, r, Choices(frames=frames))
    return errno


def listed(call: str) -> tuple[int, ...]:
    """E_SUCC and the errnos the ABI lists for the call (an unknown number: E_INVAL_CALLNR)."""
    nr = CALLS[call]
    return errors_of(nr) if call == "unknown" else (E_SUCC, *errors_of(nr))


def one_of(x: z3.ExprRef | int, allowed: tuple[int, ...]) -> z3.BoolRef:
    """x is one of the values allowed, said through x's branches: the errno a run answers
    is an If over its paths whose leaves are constants, so the claim is decided leaf by
    leaf (stated as one disjunction over the whole If, it took the solver minutes)."""
    if isinstance(x, int):
        return z3.BoolVal(x in allowed)
    if z3.is_app_of(x, z3.Z3_OP_ITE):
        return z3.simplify(z3.If(x.arg(0), one_of(x.arg(1), allowed), one_of(x.arg(2), allowed)))
    if z3.is_int_value(x):
        return z3.BoolVal(x.as_long() in allowed, x.ctx)
    return z3.Or([x == e for e in allowed])


def answers_listed(call: str) -> Goal:
    """The spec's dispatcher answers the call only an errno the ABI lists for it."""
    nr = CALLS[call]
    k = unflatten(KERNEL, flatten(KERNEL, fresh(KERNEL, "k")))
    r = unflatten(REGS, flatten(REGS, fresh(REGS, "r")))
    if call != "unknown":  # the number itself: the dispatcher's choice is made as it runs
        r = replace(r, eax=nr)
    pid = z3.BitVec("pid", 32)
    case = run(fits, lambda: [k, pid])
    # the call number: this one, or (unknown) none this layer runs
    number = z3.And([r.eax != x for x in HERE]) if call == "unknown" else z3.BoolVal(True)
    given = [number, case.result, *case.assumptions, wellformed(KERNEL, k), wellformed(REGS, r)]
    # what prunes the run's branches: the number, pid live and the sizes (quantifier-free,
    # so each question is quick; the topics' sizes, quantified, are hypotheses alone)
    prune = run(pruning_case, lambda: [k, pid])
    # the frames the implementation takes, whichever they are
    frames = unflatten(FRAMES, flatten(FRAMES, fresh(FRAMES, "frames")))
    apart = run(frames_given, lambda: [k, r, frames])
    out = run(errno_of_call, lambda: [k, pid, r, frames], assume=[number, prune.result, *prune.assumptions])
    conclusion = z3.And(*out.obligations, one_of(out.result, listed(call)))
    # pid's registers and bit, the topic in ebx, and the one subscription a call of pid's
    # on topic ebx reads
    keys = [z3.BV2Int(pid), z3.BV2Int(r.ebx), (z3.BV2Int(pid), z3.BV2Int(r.ebx))]
    inputs = {"k": Shown(KERNEL, k, lambda arr, model: 2, keys=keys), "pid": Shown(BVT(32), pid),
              "r": Shown(REGS, r), "frames": Shown(FRAMES, frames)}
    return Goal([*given, wellformed(FRAMES, frames), apart.result, *apart.assumptions, *out.assumptions],
                conclusion, inputs,
                replay=replay_listed,
                replay_extra={"call": call}, sizes=[k.topics.ntopic, k.topics.nsub, k.topics.name_max,
                                                    k.topics.msg_max, k.topics.qlen_max,
                                                    frames.length],
                admissible=lambda v: admitted(call, v["k"], v["pid"], v["r"], v["frames"]),
                example=booted_case(call))


for _call in CALLS:
    obligation(f"syscall.{_call}.errnos")(lambda _call=_call: answers_listed(_call))


def admitted(call: str, k: Kernel, pid: Word, r: Regs, frames: tuple[int, ...]) -> bool:
    """The goal's case, natively: pid live, the sizes and the queued messages fitting, the
    frames given, and the call's number in eax (unknown: none this layer runs)."""
    number_ok = r.eax not in HERE if call == "unknown" else r.eax == CALLS[call]
    return fits(k, pid) and frames_given(k, r, frames) and number_ok


def booted_case(call: str) -> dict[str, object]:
    """A case of the goal, which shows its hypotheses satisfiable: the kernel at boot (its
    memory is not read), the root calling with the call's number in eax and every other
    register 0, no frames taken."""
    cfg = Config()
    nr = next(n for n in range(len(HERE) + 1) if n not in HERE) if call == "unknown" else CALLS[call]
    r = Regs(eax=nr)
    return {"k": spec_syscall.boot(cfg, cfg.ROOT_QUOTA, bytearray(), r), "pid": 0, "r": r, "frames": ()}


def replay_listed(impl: types.ModuleType | None, call: str, k: Kernel, pid: Word, r: Regs,
                  frames: tuple[int, ...]) -> None:
    if not admitted(call, k, pid, r, frames):
        raise InvalidCase("a name or a message longer than a page, a queued message longer than MSG_MAX, "
                          "a frame taken twice, or not this call")
    errno = errno_of_call(copy.deepcopy(k), pid, r, frames)
    assert errno in listed(call), f"{call} answered errno {errno}, which the ABI does not list for it"
