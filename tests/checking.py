"""How the tests run a proof check and its replay: in processes of their own, so that a
check that hangs is stopped and shows where, and a replay imports what it names afresh."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from proofs.obligation import Goal, Result, check
from proofs.runner import check_apart

ROOT = Path(__file__).resolve().parents[1]


def run_replay(path: str, tmp_path: Path, mutants: bool = True) -> subprocess.CompletedProcess[str]:
    """pytest on a replay file, in a fresh process that can import the mutants (or not)."""
    search = [str(tmp_path), str(ROOT)] if mutants else [str(ROOT)]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(search)},
    )


def fails_on_the_impl(replay: subprocess.CompletedProcess[str]) -> None:
    """The replay's one test failed, and on the impl (an assertion or a crash), not by
    refusing its case as one the obligation does not assume."""
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "1 failed" in replay.stdout
    assert "obligation.InvalidCase:" not in replay.stdout, replay.stdout


def checked(name: str, build: Callable[[], Goal], seconds: float, replay_dir: Path | None = None) -> Result:
    """check, in a process of its own. A check stopped for running past its limit (Z3
    overrunning its timeout: once in three CI runs, one sat for 25 minutes) or whose
    process died (Z3 crashing while it looks for a small counterexample, on a solver it
    has asked before) is tried once more, with a warning that shows where it was."""
    result = check_apart(name, build, seconds, replay_dir)
    if result.status == "timeout" or (result.status == "error" and "worker died" in result.detail):
        warnings.warn(f"{name}: {result.detail}; trying once more", stacklevel=2)
        result = check_apart(name, build, seconds, replay_dir)
    return result


def spec_bug_caught(name: str, goal: Goal, shown: list[str], **extra: object) -> None:
    """A goal over a spec with a bug planted (by monkeypatch, still in place) has a
    counterexample whose description shows each of `shown`, and its replay, run natively
    with the same bug, fails an assertion."""
    result = check(name, goal, timeout_s=120)
    assert result.status == "counterexample", result.detail
    assert all(x in result.detail for x in shown), result.detail
    assert result.values is not None and goal.replay is not None
    with pytest.raises(AssertionError):
        goal.replay(impl=None, **extra, **result.values)
