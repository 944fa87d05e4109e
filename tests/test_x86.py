"""The x86 layer: the paging model agrees with a real x86 core (QEMU's, via unicorn) and
with its abstract specification."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

import impl.x86 as impl_x86
from proofs.x86 import is_mapped, mapping_at
from spec import x86 as spec_x86
from spec.abi import PageFault
from spec.map import Map
from tests import x86_cases
from tests.mutants import mutant
from tests.x86_cases import Case, cases, compare

CHUNKS = 10
PER_CHUNK = 2_000  # 20,000 cases in all


@pytest.mark.parametrize("seed", range(CHUNKS))
def test_walk_agrees_with_a_real_x86_core(seed: int) -> None:
    """Fault or not, CR2, the loaded value, and every byte of memory afterwards (the data
    stored and the accessed and dirty bits left in both entries)."""
    batch = cases(seed, PER_CHUNK)
    disagreements = [(c, p) for c in batch if (p := compare(c))]
    assert not disagreements, disagreements[:3]
    mix = Counter((c.write, c.user, x86_cases.model(c)[0]) for c in batch)
    assert all(mix[(w, u, f)] > PER_CHUNK // 40 for w in (0, 1) for u in (0, 1) for f in (0, 1)), mix


def test_the_comparison_catches_a_model_that_sets_dirty_on_reads(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    broken = mutant(impl_x86, "x86_dirty_on_read",
                    [("(u32(PTE_D) if write else u32(0))", "u32(PTE_D)")], tmp_path)
    monkeypatch.setattr(x86_cases, "walk", broken.walk)
    batch = cases(99, 300)
    assert any("memory differs" in " ".join(compare(c)) for c in batch)


def test_the_comparison_catches_a_model_that_ignores_write_protect(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    broken = mutant(impl_x86, "x86_no_wp",
                    [("(write and not perm & PTE_W)", "(write and user and not perm & PTE_W)")], tmp_path)
    monkeypatch.setattr(x86_cases, "walk", broken.walk)
    assert any("fault: cpu True, model False" in " ".join(compare(c)) for c in cases(7, 300))


def _space_of_page(case: Case) -> Map[int, spec_x86.Mapping]:
    page = case.va >> 12
    if not is_mapped(case.memory, case.cr3, page):
        return Map()
    return Map({page: mapping_at(case.memory, case.cr3, page)})


def test_walk_gives_what_the_abstract_lookup_gives() -> None:
    for case in cases(1234, 2_000):
        ok, value = spec_x86.lookup(_space_of_page(case), case.va, case.write, case.user)
        try:
            pa = impl_x86.walk(bytearray(case.memory), case.cr3, case.va, case.write, case.user)
        except PageFault as fault:
            assert not ok and (fault.va, fault.error_code) == (case.va, value)
        else:
            assert ok and pa == value


def test_entries_decode_and_encode_back() -> None:
    rng = random.Random(5)
    for _ in range(10_000):
        word = rng.getrandbits(32)
        assert spec_x86.encode(spec_x86.decode(word)) == word


def test_memory_past_the_end_reads_as_not_present() -> None:
    mem = bytearray(8)
    with pytest.raises(PageFault) as fault:
        impl_x86.walk(mem, 0x1000, 0x12345678, True, True)
    assert (fault.value.va, fault.value.error_code) == (0x12345678, 0x6)
    assert mem == bytearray(8)
