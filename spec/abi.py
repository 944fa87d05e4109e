"""The kernel ABI: every number a user of certipub can observe, in one table.

The values are those of ../shared/ABI.md; mCertikOS's errno values are kept where it
has them. `Config` holds the sizes a user may change; its defaults are the ABI's.
"""

from __future__ import annotations

from dataclasses import dataclass

# System call numbers (eax on `int $0x30`).
SYS_SPAWN = 1
SYS_YIELD = 2
SYS_EXIT = 5
SYS_MMAP = 6
SYS_MUNMAP = 7
SYS_TOPIC_CREATE = 10
SYS_TOPIC_LOOKUP = 11
SYS_TOPIC_DESTROY = 12
SYS_SUB = 13
SYS_UNSUB = 14
SYS_PUB = 15
SYS_RECV = 16
SYS_STAT = 17
SYS_CB_RET = 18

T_SYSCALL = 48
T_PGFLT = 14

# Errno values (eax on return).
E_SUCC = 0
E_MEM = 1
E_INVAL_CALLNR = 3
E_INVAL_ADDR = 4
E_INVAL_PID = 5
E_EXCEEDS_QUOTA = 23
E_MAX_CHILDREN = 24
E_INVAL_CHILD_ID = 25
E_INVAL_TOPIC = 26
E_TOPIC_EXISTS = 27
E_PERM = 28
E_NOT_SUBSCRIBED = 29
E_ALREADY_SUBSCRIBED = 30
E_EMPTY = 31
E_MSGSIZE = 32
E_NOSPACE = 33
E_INVAL_ARG = 34
E_NOT_IN_CALLBACK = 35

# Page-table entry bits (Intel SDM vol. 3, 4.3).
PTE_P = 0x001
PTE_W = 0x002
PTE_U = 0x004
PTE_PWT = 0x008
PTE_PCD = 0x010
PTE_A = 0x020
PTE_D = 0x040
PTE_PS = 0x080
PTE_G = 0x100

# Page-fault error-code bits.
PFEC_P = 0x1
PFEC_W = 0x2
PFEC_U = 0x4

# Physical memory as this model lays it out, in frames: a page directory for each pid a
# kernel may have (at most MAX_PROC), the kernel's page table, then the frames the
# container layer hands out (its frame f is physical frame FIRST_FRAME + f).
MAX_PROC = 256
KERN_PTBL_FRAME = MAX_PROC
FIRST_FRAME = MAX_PROC + 1

# The errors each system call may answer, in the order they are checked (E_SUCC aside).
ERRORS: dict[int, tuple[int, ...]] = {
    SYS_SPAWN: (E_PERM, E_MAX_CHILDREN, E_INVAL_CHILD_ID, E_EXCEEDS_QUOTA),
    SYS_YIELD: (),
    SYS_EXIT: (E_PERM,),
    SYS_MMAP: (E_INVAL_ADDR, E_EXCEEDS_QUOTA),
    SYS_MUNMAP: (E_INVAL_ADDR,),
    SYS_TOPIC_CREATE: (E_INVAL_ARG, E_INVAL_ADDR, E_PERM, E_TOPIC_EXISTS, E_NOSPACE),
    SYS_TOPIC_LOOKUP: (E_INVAL_ARG, E_INVAL_ADDR, E_INVAL_TOPIC),
    SYS_TOPIC_DESTROY: (E_INVAL_TOPIC, E_PERM),
    SYS_SUB: (E_INVAL_TOPIC, E_INVAL_ARG, E_INVAL_ADDR, E_ALREADY_SUBSCRIBED, E_NOSPACE, E_EXCEEDS_QUOTA),
    SYS_UNSUB: (E_INVAL_TOPIC, E_NOT_SUBSCRIBED),
    SYS_PUB: (E_INVAL_TOPIC, E_PERM, E_MSGSIZE, E_INVAL_ADDR),
    SYS_RECV: (E_INVAL_TOPIC, E_NOT_SUBSCRIBED, E_EMPTY, E_MSGSIZE, E_INVAL_ADDR),
    SYS_STAT: (E_INVAL_TOPIC, E_NOT_SUBSCRIBED),
    SYS_CB_RET: (E_NOT_IN_CALLBACK,),
}


def errors_of(nr: int) -> tuple[int, ...]:
    """The errnos call nr may answer besides E_SUCC; any other number answers E_INVAL_CALLNR."""
    return ERRORS.get(nr, (E_INVAL_CALLNR,))


RESERVED_TOPIC_NAMES = (b"sys.kbd", b"sys.timer")
SYSTEM_PREFIX = b"sys."


@dataclass(frozen=True)
class Config:
    """The sizes of one kernel; every field defaults to the ABI's value."""

    PAGE_SIZE: int = 4096
    VM_USERLO: int = 0x40000000
    VM_USERHI: int = 0xF0000000
    NUM_PROC: int = 64
    MAX_CHILDREN: int = 3
    ROOT_QUOTA: int = 1024
    NUM_TOPIC: int = 64
    NUM_RESERVED: int = 2
    NUM_SUB: int = 256
    MSG_MAX: int = 64
    QLEN_MAX: int = 1024
    NAME_MAX: int = 32


DEFAULT = Config()


class PageFault(Exception):  # noqa: N818 - the name is the ABI's
    """A refused user access: `va` is the first faulting address (CR2), `error_code` Intel's P|W|U."""

    def __init__(self, va: int, error_code: int) -> None:
        super().__init__(f"page fault at {va:#010x}, error code {error_code:#x}")
        self.va = va
        self.error_code = error_code
