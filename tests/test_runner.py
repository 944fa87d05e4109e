"""`python -m proofs`: discovery, selection, reports, and failure on anything not proved."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import z3

from proofs import runner
from proofs.engine.display import TooLarge
from proofs.engine.effort import UNITS_PER_MS, limit
from proofs.engine.values import BYTES, INT, flatten, fresh
from proofs.obligation import (
    MAX_SHOWN,
    REGISTRY,
    SMALL_BOUNDS,
    Goal,
    Shown,
    bounded_model,
    check,
    conjuncts,
    fresh_small_model,
    instantiated,
    obligation,
    points_apart,
    showable,
)
from proofs.replay import concretize


def test_every_layer_module_registers_obligations_named_layer_operation_kind() -> None:
    names = runner.discover()
    assert "message.enqueue.refines" in names
    assert all(len(n.split(".")) == 3 for n in names)


def test_selection_by_layer_and_keyword() -> None:
    names = list(runner.discover())
    chosen = runner.select(names, ["message"], ["enqueue"])
    assert chosen and all(n.startswith("message.") and "enqueue" in n for n in chosen)
    assert runner.select(names, ["nosuchlayer"], []) == []


def test_unsatisfiable_hypotheses_make_an_obligation_vacuous_not_proved() -> None:
    x = z3.Int("x")
    result = check("demo.vacuous.refines", Goal([x > 0, x < 0], x == 7, {"x": Shown(INT, x)}))
    assert result.status == "vacuous" and not result.ok


def test_a_conclusion_over_hypotheses_not_known_satisfiable_is_not_proved() -> None:
    """f(0) = 2 and f(x) > f(x - 1)**2 for x > 0 have a model, which Z3 does not find within
    the limit; the conclusion follows from the other hypothesis, but the obligation is not
    proved."""
    x, y = z3.Int("x"), z3.Int("y")
    f = z3.Function("f", z3.IntSort(), z3.IntSort())
    grows = z3.ForAll([x], z3.Implies(x > 0, f(x) > f(x - 1) * f(x - 1)))
    goal = Goal([grows, f(0) == 2, y > 0], y >= 0, {"y": Shown(INT, y)})
    result = check("demo.unknown.refines", goal, timeout_s=2)
    assert result.status == "unknown" and not result.ok
    assert "satisfiability of the hypotheses unknown" in result.detail


def test_an_int_below_a_words_value_is_below_it_as_a_word() -> None:
    """Bit-blasting Z3 leaves this unknown at any limit tried (60 s); the try that solves
    bit-vectors as integers (`INT_BLAST`) proves it."""
    c, n = z3.Int("c"), z3.BitVec("n", 32)
    goal = Goal([c >= 0, c < z3.BV2Int(n)], z3.ULT(z3.Int2BV(c, 32), n), {"c": Shown(INT, c)})
    assert check("demo.int_blast.refines", goal, timeout_s=20).status == "proved"


def test_a_false_conclusion_yields_a_concrete_counterexample() -> None:
    x = z3.Int("x")
    result = check("demo.false.refines", Goal([x > 3], x > 4, {"x": Shown(INT, x)}, sizes=[x]))
    assert result.status == "counterexample"
    assert "x = 4" in result.detail


def test_a_part_is_asked_first_at_its_points_alone_and_then_with_every_hypothesis() -> None:
    """At its points alone a part sees only the hypotheses that read no other point: x > 0
    follows from x > 1 there, x > 5 does not (it needs x == y, which reads y). check takes
    only a proof from that, so the goal is still proved, and its counterexample is one
    every hypothesis admits."""
    x, y = z3.Int("x"), z3.Int("y")
    hypotheses = [z3.And(x > 1, y > 5), x == y]
    apart = points_apart(hypotheses, [x, y])
    assert apart.prove(x > 0, [], 5000) == z3.unsat
    assert [str(h) for h in apart.solvers[frozenset({"x"})].assertions()] == ["x > 1"]
    assert apart.prove(x > 5, [], 5000) == z3.sat
    shown = {"x": Shown(INT, x), "y": Shown(INT, y)}
    assert check("demo.points.refines", Goal(hypotheses, z3.And(x > 0, x > 5), shown, points=[x, y])).ok
    result = check("demo.points.refines", Goal(hypotheses, x > 6, shown, sizes=[x, y], points=[x, y]))
    assert result.status == "counterexample"
    assert "x = 6" in result.detail and "y = 6" in result.detail


def test_a_slow_proof_says_which_part_took_longest() -> None:
    """The runner's line for a proof that took a minute or more names its slowest part
    (a CI log then says where to look); a quick one is left as it is."""
    x = z3.Int("x")
    result = check("demo.parts.refines", Goal([x > 3], z3.And(x > 0, x > 1), {"x": Shown(INT, x)}))
    assert result.ok and result.timing.startswith("before the parts: ")
    assert "part 1/2" in result.timing or "part 2/2" in result.timing
    slow = dataclasses.replace(result, seconds=runner.SLOW_S)
    assert runner._line(1, 1, slow).endswith(f"({result.timing})")
    assert result.timing not in runner._line(1, 1, result)


def test_a_counterexample_with_a_sequence_too_long_to_write_down_is_not_written() -> None:
    """A model whose bytes run to a billion is no case to print or replay: the check
    answers unknown at once, where writing it down once sat in CI for an hour."""
    data = fresh(BYTES, "data")
    n = flatten(BYTES, data)[0]
    goal = Goal([n > 10**9], n < 0, {"data": Shown(BYTES, data)}, replay=lambda impl, data: None)
    assert check("demo.long.refines", goal, timeout_s=5).status == "unknown"
    s = z3.Solver()
    s.add(n == 10**9 + 1)
    assert s.check() == z3.sat
    with pytest.raises(TooLarge):
        concretize(goal, s.model())


def test_a_model_too_large_to_write_down_is_not_shown() -> None:
    n = z3.Int("n")
    s = z3.Solver()
    for bound, shown in ((MAX_SHOWN, True), (MAX_SHOWN + 1, False)):
        s.push()
        s.add(n == bound)
        assert s.check() == z3.sat
        assert (showable(s.model(), [n]) is not None) == shown
        s.pop()


def test_the_bounded_search_goes_on_to_the_next_bound_when_a_candidate_is_refused() -> None:
    x = z3.Int("x")
    goal = Goal([x >= 1], z3.BoolVal(False), {"x": Shown(INT, x)}, sizes=[x])
    seen: list[int] = []

    def second_only(model: z3.ModelRef) -> bool:
        seen.append(model.eval(x).as_long())
        return len(seen) == 2

    model = bounded_model(goal, 5000, confirm=second_only)
    assert model is not None and model.eval(x).as_long() == seen[1] and 1 <= seen[1] <= 4
    seen.clear()
    assert bounded_model(goal, 5000, confirm=lambda m: second_only(m) and False) is None
    assert len(seen) == 3


def test_the_small_size_search_goes_on_to_the_next_bound_when_a_candidate_is_refused() -> None:
    n, x, i = z3.Int("n"), z3.Int("x"), z3.Int("i")
    # a quantified fact, left to the solver (not bounded): x is above every index below n
    facts = [n >= 1, z3.ForAll([i], z3.Implies(z3.And(0 <= i, i < n), i < x))]
    seen: list[int] = []

    def second_only(model: z3.ModelRef) -> bool:
        seen.append(model.eval(n).as_long())
        assert model.eval(x).as_long() >= seen[-1]  # a model of the quantified fact
        return len(seen) == 2

    model = fresh_small_model(facts, [n], 5000, SMALL_BOUNDS[:3], second_only)
    assert model is not None and seen[0] <= 2 and 1 <= seen[1] <= 4
    seen.clear()
    assert fresh_small_model(facts, [n], 5000, SMALL_BOUNDS[:3], lambda m: second_only(m) and False) is None
    assert len(seen) == 3


def test_instances_of_a_hypothesis_at_hint_terms_are_implied_by_it() -> None:
    i, j = z3.Int("i"), z3.Int("j")
    f = z3.Function("f", z3.IntSort(), z3.IntSort())
    claim = z3.Or(j < 0, z3.ForAll([i], f(i) > 0))
    stated = instantiated(claim, [j * 3 + 1, z3.BoolVal(True)])
    assert z3.is_or(stated) and "f(j*3 + 1) > 0" in str(stated)
    s = z3.Solver()
    s.add(z3.Not(z3.Implies(claim, stated)))
    assert s.check() == z3.unsat


def test_a_conclusion_splits_into_claims_that_together_mean_it() -> None:
    a, b, c = z3.Bools("a b c")
    parts = conjuncts(z3.Or(a, z3.And(b, c)))
    assert len(parts) == 2
    s = z3.Solver()
    s.add(z3.And(parts) != z3.Or(a, z3.And(b, c)))
    assert s.check() == z3.unsat


def test_reports_are_written_and_exit_status_is_zero_only_when_all_proved(tmp_path: Path) -> None:
    status = runner.main(["-k", "message.init", "-j", "1", "--json", str(tmp_path / "r.json"),
                          "--junit", str(tmp_path / "r.xml"), "--replay-dir", str(tmp_path)])
    assert status == 0
    results = json.loads((tmp_path / "r.json").read_text())
    assert {r["name"] for r in results} == {"message.init.refines", "message.init.invariant"}
    assert all(r["status"] == "proved" for r in results)
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "0"


def test_a_failing_obligation_makes_the_run_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    @obligation("zzdemo.broken.refines")
    def broken() -> Goal:
        x = z3.Int("x")
        return Goal([x >= 0], x > 0, {"x": Shown(INT, x)}, sizes=[x])

    try:
        status = runner.main(["--layer", "zzdemo", "-j", "1", "--junit", str(tmp_path / "r.xml")])
    finally:
        del REGISTRY["zzdemo.broken.refines"]
    assert status == 1
    assert "counterexample" in capsys.readouterr().out
    assert ET.parse(tmp_path / "r.xml").getroot().get("failures") == "1"


def test_an_empty_selection_is_an_error() -> None:
    assert runner.main(["-k", "no-such-obligation"]) == 2


def test_a_scaled_obligation_gets_that_multiple_of_the_limit() -> None:
    runner.discover()
    assert runner.limit("vm.unmap_page.refines", 300.0) == 600.0
    assert runner.limit("vm.copyin.refines", 300.0) == 300.0


def test_the_heaviest_obligations_start_first_and_the_rest_by_name() -> None:
    runner.discover()
    names = ["vm.copyin.refines", "vm.map_page.invariant", "container.alloc.refines", "vm.unmap_page.refines"]
    assert runner.heaviest_first(names) == [
        "vm.map_page.invariant", "vm.unmap_page.refines", "container.alloc.refines", "vm.copyin.refines"]


def test_a_check_apart_answers_as_check_does(tmp_path: Path) -> None:
    x = z3.Int("x")
    goal = Goal([x > 3], x > 4, {"x": Shown(INT, x)}, sizes=[x])
    result = runner.check_apart("demo.false.refines", lambda: goal, 20, tmp_path)
    assert result.status == "counterexample" and "x = 4" in result.detail
    assert runner.check_apart("demo.true.refines", lambda: Goal([x > 3], x > 2, {"x": Shown(INT, x)}), 20).ok


def test_a_check_that_runs_past_its_limit_is_stopped_and_shows_where_it_was(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "GRACE_S", 0.5)

    def never_built() -> Goal:
        time.sleep(600)
        raise AssertionError("not reached")

    result = runner.check_apart("demo.hangs.refines", never_built, 1.0)
    assert result.status == "timeout"
    assert f"no answer within {runner.WALL:.0f} s" in result.detail and "in never_built" in result.detail


def _doubling_question() -> z3.Solver:
    """A question Z3 does not settle soon, in a context of its own (where Z3 counts steps):
    no array doubles 30 times from 1 and stays under 5."""
    ctx = z3.Context()
    a, i = z3.Array("a", z3.IntSort(ctx), z3.IntSort(ctx)), z3.Int("i", ctx)
    s = z3.Solver(ctx=ctx)
    s.add(z3.ForAll([i], z3.Implies(z3.And(0 <= i, i < 30), a[i + 1] >= 2 * a[i] + 1)), a[0] == 1, a[30] < 5)
    return s


def test_a_limit_counts_solver_steps_so_the_same_question_stops_at_the_same_step() -> None:
    """engine.effort: a limit of ms allows about ms * UNITS_PER_MS of Z3's steps, counted
    afresh at each check, whatever the machine's load: asked twice, a question stops at
    the same step."""
    def steps(s: z3.Solver) -> int:
        return int(s.statistics().get_key_value("rlimit count"))

    first, again = [], []
    for _ in range(2):
        s = limit(_doubling_question(), 100)  # its wall-clock backstop (1 s) out of reach
        assert s.check() == z3.unknown
        first.append(steps(s))
        assert s.check() == z3.unknown  # asked again, it gets as many steps again
        again.append(steps(s) - first[-1])
    assert first[0] == first[1] and again[0] == again[1]
    assert all(100 * UNITS_PER_MS <= n <= 2 * 100 * UNITS_PER_MS for n in first + again)


def _hash_under(seed: str) -> str:
    return subprocess.run([sys.executable, "-c", "print(hash('certipub'))"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout.strip()


def test_the_proofs_run_under_one_hash_seed() -> None:
    """`python -m proofs` runs itself again under `HASH_SEED` (the order its checks make
    terms in follows the seed), and says so in its first line."""
    unseeded = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    out = subprocess.run([sys.executable, "-m", "proofs", "--layer", "lemmas", "-j", "1"],
                         capture_output=True, text=True, env=unseeded)
    assert out.returncode == 0 and f"hash seed {runner.HASH_SEED}\n" in out.stdout, out.stdout + out.stderr
    assert _hash_under(runner.HASH_SEED) != _hash_under("1")
