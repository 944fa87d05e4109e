"""The virtual-memory layer: each process's user pages, the page tables they cost, and the
user bytes the kernel copies in and out, over the container layer (quotas and frames)
and the x86 layer (the access rules of `spec.x86.lookup`, physical memory). A pid is
held as the machine holds it, an unsigned word.

A process's address space is a map from virtual page to mapping, all of it in the user
range [VM_USERLO, VM_USERHI). A page costs one page of its process's quota, and so does
each page table its pages need, taken when first needed and kept until the address space
is torn down. Physical memory, the x86 layer's, is shared with every layer above, as in
CertiKOS: a page's bytes are the bytes of its frame (container frame f is physical frame
FIRST_FRAME + f, `spec.abi`). Frames are chosen by the layer below (`spec.container.alloc`
takes the implementation's choice); a new page reads as zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from spec.abi import E_EXCEEDS_QUOTA, E_INVAL_ADDR, E_INVAL_ARG, E_INVAL_PID, E_SUCC, FIRST_FRAME, Config
from spec.container import Containers, can_consume
from spec.container import alloc as container_alloc
from spec.container import boot as container_boot
from spec.container import free as container_free
from spec.container import revoke as container_revoke
from spec.map import Map
from spec.x86 import OFFSET_MASK, PAGE_SHIFT, AddressSpace, Mapping, PhysMem, Word, lookup, u32

PAGE_SIZE = 1 << PAGE_SHIFT
TABLE_SHIFT = 10  # virtual pages per page table: 2**10
PID_BITS = 8  # keys hold a pid below the page number: at most 2**8 processes
PID_MASK = (1 << PID_BITS) - 1


@dataclass(frozen=True)
class Vm:
    """The containers, and every process's user pages and page tables, keyed by
    `place(pid, page)` and `table_of(pid, page)`."""

    userlo: Word
    userhi: Word
    containers: Containers
    pages: Map[Word, Mapping]
    tables: Map[Word, Word]


def boot(cfg: Config, nframes: int) -> Vm:
    """The root container and no user page anywhere."""
    return Vm(userlo=u32(cfg.VM_USERLO), userhi=u32(cfg.VM_USERHI),
              containers=container_boot(cfg, nframes), pages=Map(), tables=Map())


def place(pid: Word, page: Word) -> Word:
    """The key of pid's virtual page `page`."""
    return page << PID_BITS | pid


def table_of(pid: Word, page: Word) -> Word:
    """The key of the page table that holds pid's virtual page `page`."""
    return page >> TABLE_SHIFT << PID_BITS | pid


def user_page(vm: Vm, va: Word) -> bool:
    """va starts a page of the user range."""
    return va & OFFSET_MASK == 0 and vm.userlo <= va and va < vm.userhi


def in_user_range(vm: Vm, va: Word, n: Word) -> bool:
    """Every byte of [va, va + n) lies in the user range."""
    return vm.userlo <= va and va < vm.userhi and n <= vm.userhi - va


def is_mapped(vm: Vm, pid: Word, va: Word) -> bool:
    return place(pid, va >> PAGE_SHIFT) in vm.pages


def space_at(vm: Vm, pid: Word, va: Word) -> AddressSpace:
    """The part of pid's address space, as the x86 layer reads one, that holds va."""
    page = va >> PAGE_SHIFT
    return Map({page: vm.pages[place(pid, page)]}) if place(pid, page) in vm.pages else Map()


def translate(vm: Vm, pid: Word, va: Word, write: bool) -> tuple[bool, Word]:
    """(True, physical address) where pid may access va from user mode; (False, fault code)."""
    return lookup(space_at(vm, pid, va), va, write, True)


def accessible(vm: Vm, pid: Word, va: Word, n: Word, write: bool) -> bool:
    """Every byte of [va, va + n) lies in the user range and, unless there are none, on
    pages pid, a live process, may access from user mode: its first and last page, since a
    copy spans at most two."""
    return in_user_range(vm, va, n) and (n == 0 or (
        int(pid) in vm.containers.live
        and translate(vm, pid, va, write)[0] and translate(vm, pid, va + n - 1, write)[0]))


def pages_needed(vm: Vm, pid: Word, va: Word) -> int:
    """The page, and its page table unless pid already has it."""
    return 1 if table_of(pid, va >> PAGE_SHIFT) in vm.tables else 2


def zeroed(mem: PhysMem, frame: Word) -> PhysMem:
    """mem with every byte of the frame, a frame of physical memory, 0."""
    out = bytearray(mem)
    base = u32(frame << PAGE_SHIFT)
    for a in range(base, base + PAGE_SIZE):
        out[a] = 0
    return out


def map_page(vm: Vm, mem: PhysMem, pid: Word, va: Word, writable: bool,
             table_frame: int, frame: int) -> tuple[int, Vm, PhysMem]:
    """(errno, vm, mem): a new zeroed user page at va, readable, and writable if asked; a new
    page table in container frame `table_frame` first if pid has none for va; both frames
    are the implementation's choices, which must be free."""
    if int(pid) not in vm.containers.live:
        return E_INVAL_PID, vm, mem
    if not user_page(vm, va) or is_mapped(vm, pid, va):
        return E_INVAL_ADDR, vm, mem
    if not can_consume(vm.containers, int(pid), pages_needed(vm, pid, va)):
        return E_EXCEEDS_QUOTA, vm, mem
    cs = vm.containers
    tables = vm.tables
    key = table_of(pid, va >> PAGE_SHIFT)
    if key not in tables:
        err, cs = container_alloc(cs, int(pid), table_frame)
        if err != E_SUCC:
            return err, vm, mem
        tables = tables.set(key, u32(FIRST_FRAME + table_frame))
    err, cs = container_alloc(cs, int(pid), frame)
    if err != E_SUCC:
        return err, vm, mem
    page = Mapping(frame=u32(FIRST_FRAME + frame), writable=writable, user=True)
    pages = vm.pages.set(place(pid, va >> PAGE_SHIFT), page)
    vm = replace(vm, containers=cs, pages=pages, tables=tables)
    return E_SUCC, vm, zeroed(mem, u32(FIRST_FRAME + frame))


def unmap_page(vm: Vm, pid: Word, va: Word) -> tuple[int, Vm]:
    """(errno, vm): the user page at va gone and its frame given back; its page table stays."""
    if int(pid) not in vm.containers.live:
        return E_INVAL_PID, vm
    if not user_page(vm, va) or not is_mapped(vm, pid, va):
        return E_INVAL_ADDR, vm
    key = place(pid, va >> PAGE_SHIFT)
    err, cs = container_free(vm.containers, int(pid), int(vm.pages[key].frame) - FIRST_FRAME)
    if err != E_SUCC:
        return err, vm
    return E_SUCC, replace(vm, containers=cs, pages=vm.pages.remove(key))


def head(va: Word, n: Word) -> Word:
    """How many of the n bytes from va lie on va's page; the rest lie on the next one."""
    return min(n, PAGE_SIZE - (va & OFFSET_MASK))


def frames_of(vm: Vm, pid: Word, va: Word, n: Word, write: bool) -> tuple[Word, Word]:
    """Where [va, va + n) lies in physical memory: the address of va, and the start of the
    next page's frame (where the bytes past the head continue)."""
    last = translate(vm, pid, va + n - 1, write)[1]
    return translate(vm, pid, va, write)[1], last & ~u32(OFFSET_MASK)


def copyin(vm: Vm, mem: PhysMem, pid: Word, va: Word, n: Word) -> tuple[int, bytes]:
    """(errno, the n bytes pid sees at va): all of them readable by pid, or E_INVAL_ADDR."""
    if n > PAGE_SIZE:
        return E_INVAL_ARG, b""
    if not accessible(vm, pid, va, n, False):
        return E_INVAL_ADDR, b""
    first, second = frames_of(vm, pid, va, n, False)
    k = head(va, n)
    return E_SUCC, bytes(mem[first + i] if i < k else mem[second + i - k] for i in range(u32(0), n))


def copyout(vm: Vm, mem: PhysMem, pid: Word, va: Word, buf: bytes) -> tuple[int, PhysMem]:
    """(errno, mem): pid's bytes at va become buf, all of them writable by pid, or E_INVAL_ADDR."""
    n = u32(len(buf))
    if n > PAGE_SIZE:
        return E_INVAL_ARG, mem
    if not accessible(vm, pid, va, n, True):
        return E_INVAL_ADDR, mem
    first, second = frames_of(vm, pid, va, n, True)
    k = head(va, n)
    out = bytearray(mem)
    for a in range(first, first + k):  # the head, on va's page
        out[a] = buf[a - first]
    for a in range(second, second + n - k):  # the rest, from the start of the next page
        out[a] = buf[k + a - second]
    return E_SUCC, out


def teardown(vm: Vm, pid: Word) -> tuple[int, Vm]:
    """(errno, vm): a childless process's address space gone, every page and page table
    freed, and its whole quota back with its parent (container revoke)."""
    err, cs = container_revoke(vm.containers, int(pid))
    if err != E_SUCC:
        return err, vm
    pages = Map({k: vm.pages[k] for k in vm.pages if k & PID_MASK != pid})
    tables = Map({k: vm.tables[k] for k in vm.tables if k & PID_MASK != pid})
    return E_SUCC, replace(vm, containers=cs, pages=pages, tables=tables)
