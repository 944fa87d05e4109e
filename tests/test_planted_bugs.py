"""Every check can fail: each planted bug makes its obligation fail with a readable
counterexample, and the replay file written for it fails under pytest as well."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import impl.message as impl_message
from proofs import message as proofs_message
from proofs.obligation import check
from tests.mutants import Edit, mutant

ROOT = Path(__file__).resolve().parents[1]

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
        ("for q in range(t.nslots):", "for q in range(1, t.nslots):")]),
    "size_checked_after_drop": ("enqueue", "unchanged_on_error", [
        ("    if n > t.msg_max:\n        return E_MSGSIZE\n    cap = t.cap[q]\n", "    cap = t.cap[q]\n"),
        ("    slot = ring_index(",
         "    if n > t.msg_max:\n        return E_MSGSIZE\n    slot = ring_index(")]),
    "destroy_touches_slot_0": ("destroy", "isolation", [
        ("    t.used[q] = False\n", "    t.used[q] = False\n    t.head[0] = 0\n")]),
}

BUILDERS = {"refines": proofs_message.refines, "invariant": proofs_message.preserves,
            "isolation": proofs_message.isolated, "unchanged_on_error": proofs_message.unchanged_on_error}


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_bug_is_caught_with_a_replayable_counterexample(bug: str, tmp_path: Path) -> None:
    op, kind, edits = BUGS[bug]
    broken = mutant(impl_message, f"mutant_{bug}", edits, tmp_path)
    name = f"message.{op}.{kind}"
    result = check(name, BUILDERS[kind](op, broken), timeout_s=60, replay_dir=tmp_path / "replay")
    assert result.status == "counterexample", result.detail
    assert "table = MsgTable(" in result.detail
    assert result.replay_file
    replay = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", result.replay_file],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])},
    )
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "1 failed" in replay.stdout


def test_the_real_impl_passes_the_replay_of_a_mutant_counterexample(tmp_path: Path) -> None:
    op, kind, edits = BUGS["drop_newest"]
    broken = mutant(impl_message, "mutant_for_replay", edits, tmp_path)
    result = check(f"message.{op}.{kind}", BUILDERS[kind](op, broken), 60, tmp_path / "replay")
    text = Path(result.replay_file).read_text().replace("import_module('mutant_for_replay')", "None")
    Path(result.replay_file).write_text(text)
    replay = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", result.replay_file],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
