"""The stack of layers the runner proves, and every obligation it registers, pinned: an
obligation that silently disappears (a registration loop that skips it, a module the
runner no longer imports) fails here."""

from __future__ import annotations

from pathlib import Path

from proofs import runner
from proofs.stack import STACK

PINNED = Path(__file__).with_name("obligations.txt")


def test_every_proof_module_is_infrastructure_or_a_layer_of_the_stack() -> None:
    assert runner.unlisted() == []


def test_the_stack_lists_the_lemmas_then_the_layers_lowest_first() -> None:
    assert STACK == ("lemmas", "x86", "container", "vm", "message", "topic", "syscall")


def test_the_runner_registers_exactly_the_pinned_obligations() -> None:
    """To add or remove an obligation on purpose: python -m proofs --list > tests/obligations.txt"""
    pinned = PINNED.read_text().split()
    assert sorted(pinned) == pinned, "keep the pinned list sorted"
    found = sorted(runner.discover())
    missing = sorted(set(pinned) - set(found))
    new = sorted(set(found) - set(pinned))
    assert not missing and not new, f"missing: {missing}; not pinned: {new}"


def test_every_obligation_is_named_after_a_layer_of_the_stack() -> None:
    assert {name.split(".")[0] for name in runner.discover()} <= set(STACK)
