"""CrossHair checks the PEP 316 contracts of the pure helpers (ring arithmetic, the spec's
enqueue) by symbolic search; it runs with settings that really search, and a planted bug
shows that it reports what it finds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEARCH = ["--analysis_kind=PEP316", "--per_condition_timeout=30", "--max_uninteresting_iterations=1000"]


def crosshair(*files: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crosshair", "check", *SEARCH, *map(str, files)],
        cwd=cwd, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_contracts_of_ring_helpers_and_spec_enqueue_hold() -> None:
    run = crosshair(ROOT / "impl" / "message.py", ROOT / "spec" / "message.py")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "error" not in run.stdout


PLANTED = {
    "ring_index_off_by_one": ("impl/message.py", "return i - cap if i >= cap else i",
                              "return i - cap if i > cap else i", "ring_index"),
    "spec_never_drops": ("spec/message.py", "items=q.items[1:] + (m,), dropped=q.dropped + 1",
                         "items=q.items + (m,), dropped=q.dropped + 1", "enqueue"),
}


@pytest.mark.parametrize("bug", sorted(PLANTED))
def test_crosshair_reports_a_planted_bug(bug: str, tmp_path: Path) -> None:
    path, old, new, function = PLANTED[bug]
    source = (ROOT / path).read_text()
    assert source.count(old) == 1
    broken = tmp_path / f"{bug}.py"
    broken.write_text(source.replace(old, new))
    run = crosshair(broken, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"error: false when calling {function}(" in run.stdout
