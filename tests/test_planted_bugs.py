"""Every check can fail: each planted bug makes its obligation fail with a readable
counterexample, and the replay file written for it fails under pytest as well."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

import impl.container as impl_container
import impl.message as impl_message
import impl.syscall as impl_syscall
import impl.topic as impl_topic
import impl.vm as impl_vm
import impl.x86 as impl_x86
from proofs import container as proofs_container
from proofs import message as proofs_message
from proofs import syscall as proofs_syscall
from proofs import topic as proofs_topic
from proofs import vm as proofs_vm
from proofs import x86 as proofs_x86
from proofs.obligation import Goal, Result, check
from proofs.runner import TIMEOUT_S, limit
from proofs.syscall.refines import refines as syscall_refines
from proofs.topic.frames import OPERATIONS as FRAMES_OPS
from proofs.topic.frames import refines as frames_refines
from proofs.topic.frames import unchanged_on_error as frames_unchanged_on_error
from proofs.topic.kept import KEPT, kept
from proofs.topic.privilege import RULES, refused
from proofs.topic.refines import OPERATIONS as REGISTRY_REFINES
from proofs.topic.refines import create_unchanged_on_error
from proofs.topic.refines import refines as registry_refines
from proofs.topic.registry import REGISTRY_OPS, registry_goal
from proofs.topic.subscriptions import OPERATIONS as SUBSCRIPTION_OPS
from proofs.topic.subscriptions import refines as subscription_refines
from tests.checking import checked, fails_on_the_impl, run_replay
from tests.mutants import Edit, mutant
from tests.test_syscall import Differential as SyscallMachine
from tests.test_topic import Differential as TopicMachine


def planted_check(name: str, build: Callable[[], Goal], tmp_path: Path) -> Result:
    """The check, within the limit `python -m proofs` gives the obligation of that name."""
    return checked(name, build, limit(name, TIMEOUT_S), tmp_path / "replay")


# name: (operation, obligation kind that must fail, edits to impl/message.py)
BUGS: dict[str, tuple[str, str, list[Edit]]] = {
    "drop_newest": ("enqueue", "refines", [(
        "        t.head[q] = ring_next(t.head[q], cap)\n        t.count[q] = t.count[q] - 1",
        "        t.count[q] = t.count[q] - 1")]),
    "wrap_off_by_one": ("enqueue", "refines", [
        ("return i - cap if i >= cap else i", "return i - cap if i > cap else i")]),
    "next_off_by_one": ("dequeue", "invariant", [
        ("return 0 if i + 1 == cap else i + 1", "return 0 if i + 1 > cap else i + 1")]),
    "drop_not_counted": ("enqueue", "refines", [
        ("t.dropped[q] = t.dropped[q] + 1", "t.dropped[q] = t.dropped[q]")]),
    "copy_one_short": ("enqueue", "refines", [("for b in range(n):", "for b in range(n - 1):")]),
    "create_skips_slot_0": ("create", "refines", [
        ("    for q in range(t.nslots):\n        if not t.used[q]:",
         "    for q in range(1, t.nslots):\n        if not t.used[q]:")]),
    "size_checked_after_the_copy": ("enqueue", "unchanged_on_error", [
        ("    if len(data) > t.msg_max:\n        return E_MSGSIZE\n    ring_put(t, q, seq, data)\n",
         "    ring_put(t, q, seq, data)\n    if len(data) > t.msg_max:\n        return E_MSGSIZE\n")]),
    "fan_out_skips_the_last_queue": ("enqueue_where", "refines", [
        ("    for q in range(t.nslots):\n        if targets[q]",
         "    for q in range(t.nslots - 1):\n        if targets[q]")]),
    "fan_out_reads_another_queue": ("enqueue_where", "invariant", [
        ("    if t.count[q] == cap:\n        t.head[q]", "    if t.count[0] == cap:\n        t.head[q]")]),
    "destroy_touches_slot_0": ("destroy", "isolation", [
        ("    t.used[q] = False\n", "    t.used[q] = False\n    t.head[0] = 0\n")]),
}

BUILDERS = proofs_message.KINDS


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_is_caught_with_a_replayable_counterexample(bug: str, tmp_path: Path) -> None:
    op, kind, edits = BUGS[bug]
    broken = mutant(impl_message, f"mutant_{bug}", edits, tmp_path)
    name = f"message.{op}.{kind}"
    result = planted_check(name, lambda: BUILDERS[kind](op, broken), tmp_path)
    assert result.status == "counterexample", result.detail
    assert "table = MsgTable(" in result.detail
    assert result.replay_file
    replay = run_replay(result.replay_file, tmp_path)
    fails_on_the_impl(replay)


def test_the_real_impl_passes_the_replay_of_a_mutant_counterexample(tmp_path: Path) -> None:
    op, kind, edits = BUGS["drop_newest"]
    broken = mutant(impl_message, "mutant_for_replay", edits, tmp_path)
    result = check(f"message.{op}.{kind}", BUILDERS[kind](op, broken), 60, tmp_path / "replay")
    text = Path(result.replay_file).read_text().replace(f"import_module('{broken.__name__}')", "None")
    Path(result.replay_file).write_text(text)
    replay = run_replay(result.replay_file, tmp_path, mutants=False)
    assert replay.returncode == 0, replay.stdout + replay.stderr


# x86: (obligation that must fail, edits to impl/x86.py)
X86_BUGS: dict[str, tuple[str, list[Edit]]] = {
    "supervisor_writes_ignore_wp": ("x86.walk.refines", [
        ("(write and not perm & PTE_W)", "(write and user and not perm & PTE_W)")]),
    "rights_of_the_pte_only": ("x86.walk.refines", [("perm = pde & pte", "perm = pte")]),
    "dirty_on_reads": ("x86.walk.accessed_dirty", [("(u32(PTE_D) if write else u32(0))", "u32(PTE_D)")]),
    "present_bit_on_missing_pde": ("x86.walk.error_code", [
        ("raise PageFault(va, pf_errcode(False, write, user))\n    if not pde & PTE_A",
         "raise PageFault(va, pf_errcode(True, write, user))\n    if not pde & PTE_A")]),
    "accessed_bit_on_the_next_entry": ("x86.walk.writes_only_entries", [
        ("phys_store32(mem, pde_pa, pde)", "phys_store32(mem, pde_pa + 4, pde)")]),
    "es_pushed_before_ds": ("x86.trap.frame", [
        ("    push_sel(mem, cpu, cpu.ds)\n    push_sel(mem, cpu, cpu.es)\n",
         "    push_sel(mem, cpu, cpu.es)\n    push_sel(mem, cpu, cpu.ds)\n")]),
    "return_skips_only_trapno": ("x86.trap.roundtrip", [
        ("    cpu.esp = u32(cpu.esp + 8)\n", "    cpu.esp = u32(cpu.esp + 4)\n")]),
    "writes_below_the_frame": ("x86.trap.stack_only", [
        ("    push32(mem, cpu, cpu.eip)\n",
         "    push32(mem, cpu, cpu.eip)\n    phys_store32(mem, cpu.esp - 80, u32(0))\n")]),
    "arg3_from_edx": ("x86.syscall.args", [
        ("    return phys_load32(mem, tf + TF_ECX)", "    return phys_load32(mem, tf + TF_EDX)")]),
    "retval2_into_edx": ("x86.syscall.results", [
        ("    phys_store32(mem, tf + TF_ECX, v)", "    phys_store32(mem, tf + TF_EDX, v)")]),
}

X86_BUILDERS = {
    "x86.walk.refines": proofs_x86.walk_refines, "x86.walk.accessed_dirty": proofs_x86.walk_accessed_dirty,
    "x86.walk.error_code": proofs_x86.walk_error_code,
    "x86.walk.writes_only_entries": proofs_x86.walk_writes_only_entries,
    "x86.trap.frame": proofs_x86.trap_frame_layout, "x86.trap.roundtrip": proofs_x86.trap_roundtrip,
    "x86.trap.stack_only": proofs_x86.trap_stack_only, "x86.syscall.args": proofs_x86.syscall_args_decoded,
    "x86.syscall.results": proofs_x86.syscall_results_written,
}


@pytest.mark.parametrize("bug", sorted(X86_BUGS))
def test_planted_x86_bug_is_caught_with_a_replayable_counterexample(bug: str, tmp_path: Path) -> None:
    name, edits = X86_BUGS[bug]
    broken = mutant(impl_x86, f"x86_mutant_{bug}", edits, tmp_path)
    result = planted_check(name, lambda: X86_BUILDERS[name](broken), tmp_path)
    assert result.status == "counterexample", result.detail
    assert "mem = " in result.detail
    assert result.replay_file
    replay = run_replay(result.replay_file, tmp_path)
    fails_on_the_impl(replay)


# container: (operation, obligation kind that must fail, edits to impl/container.py)
CONTAINER_BUGS: dict[str, tuple[str, str, list[Edit]]] = {
    "alloc_charges_nothing": ("alloc", "refines", [
        ("    t.held[pid] = t.held[pid] + 1\n    t.usage[pid] = t.usage[pid] + 1\n",
         "    t.held[pid] = t.held[pid] + 1\n")]),
    "revoke_keeps_the_quota": ("revoke", "refines", [
        ("    t.usage[p] = t.usage[p] - t.quota[pid]\n", "")]),
    "free_clears_before_checking": ("free", "unchanged_on_error", [
        ("    if not alive(t, pid):\n        return E_INVAL_PID\n    if f < 0",
         "    t.at_hint = 0\n    if not alive(t, pid):\n        return E_INVAL_PID\n    if f < 0")]),
    "free_leaves_the_moved_frame_unindexed": ("free", "invariant", [("    t.at_index[last] = i\n", "")]),
}


# VM: (operation, obligation kind that must fail, edits to impl/vm.py)
VM_BUGS: dict[str, tuple[str, str, list[Edit]]] = {
    "copyin_reads_the_second_page_one_byte_on": ("copyin", "refines", [
        ("    second = PTE_ADDR(last)\n    return E_SUCC",
         "    second = PTE_ADDR(last) + 1\n    return E_SUCC")]),
    "copyin_clears_a_byte_it_reads": ("copyin", "invariant", [
        ("    second = PTE_ADDR(last)\n    return E_SUCC",
         "    second = PTE_ADDR(last)\n    pt.mem[second] = 0\n    return E_SUCC")]),
    "copyout_skips_the_pool_check": ("copyout", "refines_large_pid", [
        ("    if pid >= pt.nproc:\n        return E_INVAL_ADDR\n    ok, first = user_pa(pt, pid, va, True)",
         "    ok, first = user_pa(pt, pid, va, True)")]),
    "copyout_writes_the_second_page_through_its_page_table": ("copyout", "writes_user_only", [
        ("    second = PTE_ADDR(last)\n    for a in range(first",
         "    second = PTE_ADDR(get_pdir_entry(pt, pid, PDX(va + n - 1)))\n    for a in range(first")]),
    "unmap_page_keeps_the_frame": ("unmap_page", "refines", [
        ("    err = container_free(c, int(pid), int(pte >> 12) - FIRST_FRAME)\n", "    err = E_SUCC\n")]),
    "map_page_leaves_the_page_unzeroed": ("map_page", "maps_new_page_only", [
        ("    zero_frame(pt, frame)\n    pt.is_ptbl[frame] = False\n", "    pt.is_ptbl[frame] = False\n")]),
    "map_page_maps_over_a_present_page": ("map_page", "refines", [
        ("    if not is_user_page(pt, va) or get_ptbl_entry_by_va(pt, pid, va) & PTE_P:\n",
         "    if not is_user_page(pt, va):\n")]),
    "unmap_page_clears_the_next_entry": ("unmap_page", "clears_own_entry_only", [
        ("    rmv_ptbl_entry(pt, pid, PDX(va), PTX(va))\n",
         "    rmv_ptbl_entry(pt, pid, PDX(va), PTX(va) + 1)\n")]),
    "unmap_page_skips_the_liveness_check": ("unmap_page", "refines_large_pid", [
        ("    if not alive(c, int(pid)):\n        return E_INVAL_PID\n    pte = ", "    pte = ")]),
    "teardown_clears_a_kernel_entry_too": ("teardown", "clears_own_directory_only", [
        ("base + ((PDX(pt.userhi - 1) + 1) << 2)", "base + ((PDX(pt.userhi - 1) + 2) << 2)")]),
    "teardown_clears_before_revoking": ("teardown", "unchanged_on_error", [
        ("    err = container_revoke(c, int(pid))\n    if err != E_SUCC:\n        return err\n"
         "    base = pdir_base(pid)\n", "    base = pdir_base(pid)\n"),
        ("        pt.mem[a] = 0\n    return E_SUCC",
         "        pt.mem[a] = 0\n    return container_revoke(c, int(pid))")]),
}


# layer: (impl module, proofs module, what its counterexample shows, its bugs)
LAYER_BUGS: dict[str, tuple[Any, Any, str, dict[str, tuple[str, str, list[Edit]]]]] = {
    "container": (impl_container, proofs_container, "table = ContainerTable(", CONTAINER_BUGS),
    "vm": (impl_vm, proofs_vm, "pt = PTPool(", VM_BUGS),
}


@pytest.mark.parametrize(("layer", "bug"), [(layer, bug) for layer, (*_, bugs) in LAYER_BUGS.items()
                                            for bug in sorted(bugs)])
def test_planted_layer_bug_is_caught_with_a_replayable_counterexample(layer: str, bug: str,
                                                                      tmp_path: Path) -> None:
    impl, proofs, shown, bugs = LAYER_BUGS[layer]
    op, kind, edits = bugs[bug]
    broken = mutant(impl, f"{layer}_mutant_{bug}", edits, tmp_path)
    kinds = getattr(proofs, "KINDS", {})
    builder = kinds[kind] if kind in kinds else getattr(proofs, {"invariant": "preserves"}.get(kind, kind))
    result = planted_check(f"{layer}.{op}.{kind}", lambda: builder(op, broken), tmp_path)
    assert result.status == "counterexample", result.detail
    assert shown in result.detail
    replay = run_replay(result.replay_file, tmp_path)
    fails_on_the_impl(replay)


# topic: (obligation that must fail, edits to impl/topic.py)
CHECKED = ("    err = topic_publish_error(t, privileged, tid, len(data))\n"
           "    if err != E_SUCC:\n        return err, 0\n")
TOPIC_BUGS: dict[str, tuple[str, list[Edit]]] = {
    "fan_out_marks_one_slot_short": ("topic.publish.fan_out", [
        ("    for s in range(t.nsub):\n        targets[s]",
         "    for s in range(t.nsub - 1):\n        targets[s]")]),
    "publish_numbers_before_the_check": ("topic.publish.fan_out", [
        (CHECKED + "    t.seq += 1\n", "    t.seq += 1\n" + CHECKED)]),
    "a_refused_receive_drops_the_message": ("topic.receive.unchanged_on_error", [(
        "    if err != E_SUCC:\n        return err, seq, data\n    _, s = subscription_error(t, pid, tid)\n"
        "    queue_dequeue(mq, s)\n",
        "    _, s = subscription_error(t, pid, tid)\n    if s >= 0:\n        queue_dequeue(mq, s)\n"
        "    if err != E_SUCC:\n        return err, seq, data\n")]),
    "lookup_ignores_the_name": ("topic.registry_lookup.answers", [
        ("    return t.ht[slot] == HT_EMPTY or (t.ht[slot] >= 0 and name_is(t, t.ht[slot], name))",
         "    return t.ht[slot] == HT_EMPTY or t.ht[slot] >= 0")]),
    # a deleted entry left empty: a probe for a name recorded past it stops short
    "remove_leaves_no_tombstone": ("topic.registry_uninstall.contract", [
        ("    t.ht[t.t_slot[tid]] = HT_TOMB", "    t.ht[t.t_slot[tid]] = HT_EMPTY")]),
    "insert_overwrites_the_start_slot": ("topic.registry_install.contract", [
        ("    for slot in range(start, t.ntopic):\n        if t.ht[slot] < 0:\n            return record",
         "    for slot in range(start, t.ntopic):\n        if True:\n            return record")]),
    "create_gives_the_topic_to_the_root": ("topic.create.refines", [
        ("    install(t, tid, pid, name, T_USED)\n", "    install(t, tid, 0, name, T_USED)\n")]),
    # two errno checks swapped: a taken "sys." name answers E_TOPIC_EXISTS to the unprivileged
    "create_checks_the_name_taken_before_the_privilege": ("topic.create.refines", [(
        "    if is_system_name(name) and not privileged:\n        return E_PERM, 0\n"
        "    if ht_find(t, name) >= 0:\n        return E_TOPIC_EXISTS, 0\n",
        "    if ht_find(t, name) >= 0:\n        return E_TOPIC_EXISTS, 0\n"
        "    if is_system_name(name) and not privileged:\n        return E_PERM, 0\n")]),
    # the name's hash remembered in descriptor 0 before the table is found full
    "create_writes_before_it_finds_no_free_id": ("topic.create.unchanged_on_error", [(
        "    tid = lowest_free_topic(t)\n    if tid == t.ntopic:\n",
        "    tid = lowest_free_topic(t)\n    t.t_hash[0] = name_hash(name)\n    if tid == t.ntopic:\n")]),
    "lookup_answers_the_slot_not_the_id": ("topic.lookup.refines", [
        ("    return E_SUCC, t.ht[slot]\n", "    return E_SUCC, slot\n")]),
    # the newest message dropped where a queue is full: the fan-out skips full queues
    "publish_skips_full_queues": ("topic.publish.refines", [(
        "        targets[s] = t.s_used[s] and t.s_topic[s] == tid\n",
        "        targets[s] = (t.s_used[s] and t.s_topic[s] == tid\n"
        "                      and queue_length(mq, s)[1] < t.s_qlen[s])\n")]),
    "publish_answers_the_first_topics_count": ("topic.publish.refines", [
        ("    return E_SUCC, t.t_nsubs[tid]\n", "    return E_SUCC, t.t_nsubs[0]\n")]),
    "stat_swaps_queued_and_dropped": ("topic.stat.refines", [
        ("    return E_SUCC, queued, dropped, t.s_qlen[s]",
         "    return E_SUCC, dropped, queued, t.s_qlen[s]")]),
    "peek_ignores_the_buffer_size": ("topic.peek.refines", [
        ("    if cap < len(data):\n        return E_MSGSIZE", "    if cap < 0:\n        return E_MSGSIZE")]),
    "receive_dequeues_the_first_slot": ("topic.receive.refines", [
        ("    queue_dequeue(mq, s)\n", "    queue_dequeue(mq, 0)\n")]),
    "free_frames_keeps_the_last_frame": ("topic.unsubscribe.refines", [
        ("    for i in range(n):\n        container_free(c, pid, frames[i])",
         "    for i in range(n - 1):\n        container_free(c, pid, frames[i])")]),
    "subscribe_takes_a_page_too_few": ("topic.subscribe.refines", [
        ("    alloc_frames(t, c, pid, s, n)\n    if t.s_npages[s] != n:",
         "    alloc_frames(t, c, pid, s, n - 1)\n    if t.s_npages[s] != n - 1:")]),
    "destroy_returns_no_queue_pages": ("topic.destroy.refines", [
        ("        if t.s_used[s] and t.s_topic[s] == tid:\n            end_subscription(t, mq, c, s)\n",
         "        if t.s_used[s] and t.s_topic[s] == tid:\n            queue_destroy(mq, s)\n"
         "            t.s_used[s] = False\n")]),
    "destroy_spares_the_last_slot": ("topic.destroy.refines", [
        ("    for s in range(t.nsub):\n        if t.s_used[s] and t.s_topic[s] == tid:\n",
         "    for s in range(t.nsub - 1):\n        if t.s_used[s] and t.s_topic[s] == tid:\n")]),
    "destroy_ends_subscriptions_before_the_owner_check": ("topic.destroy.unchanged_on_error", [(
        "        return E_PERM\n    end_subscriptions(t, mq, c, tid)\n",
        "        end_subscriptions(t, mq, c, tid)\n        return E_PERM\n"
        "    end_subscriptions(t, mq, c, tid)\n")]),
    # the abstraction does not read the counts: only the invariant sees this one
    "unsubscribe_keeps_the_count": ("topic.unsubscribe.invariant", [
        ("    t.t_nsubs[t.s_topic[s]] -= 1\n", "")]),
    "destroy_leaves_the_name_recorded": ("topic.destroy.invariant", [
        ("    ht_remove(t, tid)\n    t.t_flags[tid] = 0", "    t.t_flags[tid] = 0")]),
    "publish_ignores_the_reserved_mark": ("topic.publish.privilege", [
        ("    if (t.t_flags[tid] & T_RESERVED) != 0 and not privileged:\n        return E_PERM\n", "")]),
}
TOPIC_BUILDERS: dict[str, Callable[[Any], Goal]] = {
    "topic.publish.fan_out": proofs_topic.publish_fan_out,
    **{f"topic.{op}.refines": (lambda impl, op=op: registry_refines(op, impl)) for op in REGISTRY_REFINES},
    **{f"topic.{op}.refines": (lambda impl, op=op: subscription_refines(op, impl))
       for op in SUBSCRIPTION_OPS},
    **{f"topic.{op}.refines": (lambda impl, op=op: frames_refines(op, impl)) for op in FRAMES_OPS},
    **{f"topic.{op}.unchanged_on_error": (lambda impl, op=op: frames_unchanged_on_error(op, impl))
       for op in FRAMES_OPS},
    "topic.receive.unchanged_on_error": lambda impl: proofs_topic.unchanged_on_error("receive", impl),
    "topic.create.unchanged_on_error": create_unchanged_on_error,
    **{f"topic.registry_{op}.{kind}": (lambda impl, key=(op, kind): registry_goal(key, impl))
       for op, kind in REGISTRY_OPS},
    **{f"topic.{op}.privilege": (lambda impl, op=op: refused(op, impl)) for op in RULES},
    **{f"topic.{op}.invariant": (lambda impl, op=op: kept(op, impl)) for op in KEPT}}


@pytest.mark.parametrize("bug", sorted(TOPIC_BUGS))
def test_planted_topic_bug_is_caught_with_a_replayable_counterexample(bug: str, tmp_path: Path) -> None:
    name, edits = TOPIC_BUGS[bug]
    broken = mutant(impl_topic, f"topic_mutant_{bug}", edits, tmp_path)
    result = planted_check(name, lambda: TOPIC_BUILDERS[name](broken), tmp_path)
    assert result.status == "counterexample", result.detail
    assert "t = TopicTable(" in result.detail
    fails_on_the_impl(run_replay(result.replay_file, tmp_path))


# syscall: (the dispatcher's case, edits to impl/syscall.py) that syscall.CASE.answers must catch
SYSCALL_BUGS: dict[str, tuple[str, list[Edit]]] = {
    "yield_writes_ebx_too": ("yield", [(
        "    if nr == SYS_YIELD:\n        answer(k, pid, E_SUCC)\n",
        "    if nr == SYS_YIELD:\n        syscall_set_retval1(k.uctx, tf_of(pid), u32(0))\n"
        "        answer(k, pid, E_SUCC)\n")]),
    "an_unknown_number_is_a_bad_argument": ("unknown", [
        ("        answer(k, pid, E_INVAL_CALLNR)", "        answer(k, pid, E_INVAL_ARG)")]),
}


@pytest.mark.parametrize("bug", sorted(SYSCALL_BUGS))
def test_planted_syscall_bug_is_caught_with_a_replayable_counterexample(bug: str, tmp_path: Path) -> None:
    call, edits = SYSCALL_BUGS[bug]
    broken = mutant(impl_syscall, f"syscall_mutant_{bug}", edits, tmp_path)
    result = planted_check(f"syscall.{call}.answers", lambda: proofs_syscall.answers(call, broken), tmp_path)
    assert result.status == "counterexample", result.detail
    assert "k = Kernel(" in result.detail
    fails_on_the_impl(run_replay(result.replay_file, tmp_path))


# syscall over the lower specs: (the call, edits to impl/syscall.py) that syscall.CALL.refines must catch
SYSCALL_REFINES_BUGS: dict[str, tuple[str, list[Edit]]] = {
    "recv_answers_the_length_in_ecx": ("recv", [(
        "    syscall_set_retval1(k.uctx, tf, u32(len(data)))",
        "    syscall_set_retval2(k.uctx, tf, u32(len(data)))")]),
    "stat_checks_nothing_before_answering": ("stat", [(
        "    if err != E_SUCC:\n        return answer(k, pid, err)\n"
        "    syscall_set_retval1(k.uctx, tf, u32(queued))",
        "    syscall_set_retval1(k.uctx, tf, u32(queued))")]),
    "topic_destroy_reads_the_topic_from_ecx": ("topic_destroy", [(
        "    tid = syscall_get_arg2(k.uctx, tf_of(pid))\n    return answer(k, pid, topic_destroy(",
        "    tid = syscall_get_arg3(k.uctx, tf_of(pid))\n    return answer(k, pid, topic_destroy(")]),
    "sub_checks_qlen_before_the_topic": ("sub", [(
        "    if not topic_live(k.t, int(tid)):\n        return answer(k, pid, E_INVAL_TOPIC)\n"
        "    if qlen < 1 or qlen > k.t.qlen_max:\n        return answer(k, pid, E_INVAL_ARG)\n",
        "    if qlen < 1 or qlen > k.t.qlen_max:\n        return answer(k, pid, E_INVAL_ARG)\n"
        "    if not topic_live(k.t, int(tid)):\n        return answer(k, pid, E_INVAL_TOPIC)\n")]),
    "topic_lookup_refuses_a_name_of_name_max_bytes": ("topic_lookup", [(
        "    if n < 1 or n > k.t.name_max:", "    if n < 1 or n >= k.t.name_max:")]),
    "unsub_answers_success_whatever_happened": ("unsub", [(
        "    return answer(k, pid, topic_unsubscribe(k.t, k.mq, k.c, int(pid), int(tid)))",
        "    topic_unsubscribe(k.t, k.mq, k.c, int(pid), int(tid))\n    return answer(k, pid, E_SUCC)")]),
}


@pytest.mark.parametrize("bug", sorted(SYSCALL_REFINES_BUGS))
def test_planted_syscall_bug_fails_refinement_over_the_lower_specs(bug: str, tmp_path: Path) -> None:
    call, edits = SYSCALL_REFINES_BUGS[bug]
    broken = mutant(impl_syscall, f"syscall_mutant_{bug}", edits, tmp_path)
    result = planted_check(f"syscall.{call}.refines", lambda: syscall_refines(call, broken), tmp_path)
    assert result.status == "counterexample", result.detail
    assert "k = SpecKernel(" in result.detail
    fails_on_the_impl(run_replay(result.replay_file, tmp_path))


# VM boot: edits to impl/vm.py that vm.init.refines must catch
BOOT_BUGS: dict[str, list[Edit]] = {
    "boot_maps_the_user_range": [("        return u32(0)\n    return kern_ptbl()",
                                  "        return kern_ptbl() | PT_PERM_PTU\n    return kern_ptbl()")],
    "boot_memory_one_frame_short": [("(u32(nframes) + FIRST_FRAME) << 12",
                                     "(u32(nframes) + FIRST_FRAME - 1) << 12")],
}


@pytest.mark.parametrize("bug", sorted(BOOT_BUGS))
def test_planted_boot_bug_is_caught_with_a_replayable_counterexample(bug: str, tmp_path: Path) -> None:
    broken = mutant(impl_vm, f"vm_mutant_{bug}", BOOT_BUGS[bug], tmp_path)
    result = planted_check("vm.init.refines", lambda: proofs_vm.init_refines(broken), tmp_path)
    assert result.status == "counterexample", result.detail
    assert "NUM_PROC = " in result.detail
    replay = run_replay(result.replay_file, tmp_path)
    fails_on_the_impl(replay)


# topic and syscall: (impl module, the state machine that runs it, its module attribute, edits).
# The differential state machines catch each bug too (destroy's is also an obligation's,
# `destroy_returns_no_queue_pages` above, and SYS_SUB's, `sub_checks_qlen_before_the_topic`
# above). The run that fails is printed as hypothesis found it, not shrunk: shrinking took
# over 99% of these tests' time, and a real failure of tests/test_topic.py or
# tests/test_syscall.py, which shrink, is what a reader replays.
IPC_BUGS: dict[str, tuple[Any, Any, str, list[Edit]]] = {
    "destroy_keeps_the_queue_pages": (impl_topic, TopicMachine, "it", [(
        "            end_subscription(t, mq, c, s)\n",
        "            t.s_npages[s] = 0\n            end_subscription(t, mq, c, s)\n")]),
    "sub_checks_qlen_before_the_topic": (impl_syscall, SyscallMachine, "isys", [(
        "    if not topic_live(k.t, int(tid)):\n        return answer(k, pid, E_INVAL_TOPIC)\n"
        "    if qlen < 1 or qlen > k.t.qlen_max:\n        return answer(k, pid, E_INVAL_ARG)\n",
        "    if qlen < 1 or qlen > k.t.qlen_max:\n        return answer(k, pid, E_INVAL_ARG)\n"
        "    if not topic_live(k.t, int(tid)):\n        return answer(k, pid, E_INVAL_TOPIC)\n")]),
    "pub_writes_ecx_too": (impl_syscall, SyscallMachine, "isys", [(
        "    syscall_set_retval1(k.uctx, tf, u32(reached))\n",
        "    syscall_set_retval1(k.uctx, tf, u32(reached))\n    syscall_set_retval2(k.uctx, tf, u32(0))\n")]),
}


@pytest.mark.parametrize("bug", sorted(IPC_BUGS))
def test_planted_ipc_bug_is_caught_by_the_differential_machine(bug: str, tmp_path: Path) -> None:
    module, machine, attribute, edits = IPC_BUGS[bug]
    broken = mutant(module, f"ipc_mutant_{bug}", edits, tmp_path)
    planted = type(f"Planted_{bug}", (machine,), {attribute: broken})
    runs = settings(max_examples=500, stateful_step_count=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    # hypothesis prints the run that fails: the calls, in order, to replay it
    with pytest.raises(AssertionError):
        run_state_machine_as_test(planted, settings=runs)
