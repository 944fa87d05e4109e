"""The order the suite runs in: the checks that prove an obligation over a planted bug (a
minute or more each) first, the rest after, so that the two workers end together rather
than one running the last long check alone (pytest-xdist's worksteal splits the list in
two and rebalances from its end)."""

from __future__ import annotations

import pytest

# node id prefixes of the long checks, longest kind first
LONG_FIRST = (
    "tests/test_planted_bugs.py::test_planted_topic_bug",
    "tests/test_planted_bugs.py::test_planted_layer_bug",
    "tests/test_vm.py::",
)


def rank(item: pytest.Item) -> int:
    return next((i for i, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)), len(LONG_FIRST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=rank)  # stable: each kind keeps its own order
