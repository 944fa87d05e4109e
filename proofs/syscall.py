"""The system-call layer's proof: impl.syscall refines spec.syscall over the layers below.

The abstraction reads each live process's saved registers out of the trap-frame area
(uctx), the containers, address spaces and topics through the lower layers'
abstractions, and the privileged bits.
"""

from __future__ import annotations

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
    TF_SS,
    TF_TRAPNO,
    phys_load16,
    phys_load32,
    phys_store16,
    phys_store32,
)
from spec.map import Map
from spec.syscall import Kernel, Regs
from spec.x86 import PhysMem, Word

from .container import abstract as abstract_containers
from .topic import abstract as abstract_topics
from .vm import abstract as abstract_vm

WORDS = {"edi": TF_EDI, "esi": TF_ESI, "ebp": TF_EBP, "oesp": TF_OESP, "ebx": TF_EBX, "edx": TF_EDX,
         "ecx": TF_ECX, "eax": TF_EAX, "trapno": TF_TRAPNO, "err": TF_ERR, "eip": TF_EIP,
         "eflags": TF_EFLAGS, "esp": TF_ESP}
SELECTORS = {"es": TF_ES, "ds": TF_DS, "cs": TF_CS, "ss": TF_SS}


def abstract_regs(uctx: PhysMem, pid: Word) -> Regs:
    """pid's saved trap frame as the ABI's registers (the selectors are 16 bits wide)."""
    tf = tf_of(pid)
    return Regs(**{name: phys_load32(uctx, tf + off) for name, off in WORDS.items()},
                **{name: phys_load16(uctx, tf + off) for name, off in SELECTORS.items()})


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
