"""The container layer: impl.container behaves as spec.container, step by step, and keeps
its invariant (quotas, the tree, the page lists) after every step."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import impl.container as impl_container
import spec.container as spec_container
from proofs.container import OPERATIONS, abstract, table_ok
from spec.abi import E_EXCEEDS_QUOTA, E_MAX_CHILDREN, E_MEM, E_PERM, E_SUCC, Config

CFG = Config(NUM_PROC=16, ROOT_QUOTA=40)
NFRAMES = 12


class Differential(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.spec = spec_container.boot(CFG, NFRAMES)
        self.impl = impl_container.container_init(CFG, NFRAMES)

    def apply(self, op: str, *args: int) -> tuple[int, ...]:
        before = self.spec
        result = getattr(impl_container, f"container_{op}")(self.impl, *args)
        want, self.spec = OPERATIONS[op].spec_results(before, list(args), result)
        got = OPERATIONS[op].observe(result)
        assert got == want, f"{op}{args}: impl {got}, spec {want}"
        if op == "alloc" and got[0] == E_SUCC:
            assert result[1] not in before.owner and 0 <= result[1] < NFRAMES
        return got

    @rule(pid=st.integers(-1, 17), quota=st.integers(-1, 25))
    def split(self, pid: int, quota: int) -> None:
        self.apply("split", pid, quota)

    @rule(pid=st.integers(-1, 17))
    def alloc(self, pid: int) -> None:
        self.apply("alloc", pid)

    @rule(pid=st.integers(-1, 17), frame=st.integers(-1, NFRAMES))
    def free(self, pid: int, frame: int) -> None:
        self.apply("free", pid, frame)

    @rule(pid=st.integers(-1, 17))
    def revoke(self, pid: int) -> None:
        self.apply("revoke", pid)

    @invariant()
    def abstraction_matches_spec(self) -> None:
        assert abstract(self.impl) == self.spec

    @invariant()
    def representation_invariant_holds(self) -> None:
        assert table_ok(self.impl)


TestDifferential = Differential.TestCase
TestDifferential.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)


def test_children_take_the_lowest_free_slot_and_quota_moves_down() -> None:
    t = impl_container.container_init(CFG, NFRAMES)
    assert impl_container.container_split(t, 0, 10) == (E_SUCC, 1)
    assert impl_container.container_split(t, 0, 10) == (E_SUCC, 2)
    assert impl_container.container_split(t, 0, 10) == (E_SUCC, 3)
    assert impl_container.container_split(t, 0, 1) == (E_MAX_CHILDREN, 0)
    assert impl_container.container_revoke(t, 2) == E_SUCC
    assert impl_container.container_split(t, 0, 21) == (E_EXCEEDS_QUOTA, 0)
    assert impl_container.container_split(t, 0, 10) == (E_SUCC, 2)
    assert t.usage[0] == 30


def test_revoke_frees_the_frames_and_returns_the_quota() -> None:
    t = impl_container.container_init(CFG, 2)
    impl_container.container_split(t, 0, 5)
    assert impl_container.container_alloc(t, 1) == (E_SUCC, 0)
    assert impl_container.container_alloc(t, 1) == (E_SUCC, 1)
    assert impl_container.container_alloc(t, 0) == (E_MEM, 0)
    assert impl_container.container_revoke(t, 0) == E_PERM
    assert impl_container.container_revoke(t, 1) == E_SUCC
    assert t.usage[0] == 0 and not any(t.at_used)
    assert impl_container.container_alloc(t, 0) == (E_SUCC, 0)
