"""The errno obligations fail where the spec could answer an errno the ABI does not list
for a call: each planted spec bug gets a counterexample, and its replay, run natively with
the same bug, fails."""

from __future__ import annotations

from typing import Any

import pytest

import spec.syscall as spec_syscall
from proofs.syscall.errnos import answers_listed
from spec.abi import E_EMPTY, E_INVAL_ARG, E_SUCC
from spec.container import Containers
from spec.topic import Topics, destroy, is_subscribed, stat
from tests.checking import spec_bug_caught


def publish_error_unchecked(ts: Topics, privileged: bool, tid: int, n: int) -> int:
    """No check before the copy: a message longer than a page reaches copyin (E_INVAL_ARG)."""
    return E_SUCC


def stat_refusing_an_empty_queue(ts: Topics, pid: int, tid: int) -> tuple[int, int, int, int, int]:
    """A subscription with nothing queued answered E_EMPTY, as a receive would be."""
    if is_subscribed(ts, pid, tid) and len(ts.subs[(pid, tid)].queue.items) == 0:
        return E_EMPTY, 0, 0, 0, 0
    return stat(ts, pid, tid)


def destroy_refusing_a_reserved_topic_as_a_bad_argument(ts: Topics, cs: Containers, pid: int,
                                                        tid: int) -> tuple[int, Topics, Containers]:
    """A reserved topic refused with E_INVAL_ARG rather than E_PERM."""
    if tid in ts.topics and ts.topics[tid].reserved:
        return E_INVAL_ARG, ts, cs
    return destroy(ts, cs, pid, tid)


SPEC_BUGS: dict[str, tuple[str, str, Any]] = {
    "destroy_refuses_a_reserved_topic_as_a_bad_argument": (
        "topic_destroy", "topic_destroy", destroy_refusing_a_reserved_topic_as_a_bad_argument),
    "publish_copies_before_the_size_check": ("pub", "publish_error", publish_error_unchecked),
    "stat_refuses_an_empty_queue": ("stat", "topic_stat", stat_refusing_an_empty_queue),
}


@pytest.mark.parametrize("bug", sorted(SPEC_BUGS))
def test_a_spec_answering_an_unlisted_errno_fails_its_obligation_and_replay(
        bug: str, monkeypatch: pytest.MonkeyPatch) -> None:
    call, name, broken = SPEC_BUGS[bug]
    monkeypatch.setattr(spec_syscall, name, broken)
    spec_bug_caught(f"syscall.{call}.errnos", answers_listed(call), ["k = Kernel("], call=call)
