"""`python -m proofs`: find every obligation, prove them in parallel, report.

Each obligation runs in its own process (built there, so a slow or crashing one harms no
other), under a wall-clock limit. The exit status is 0 only when every selected
obligation is proved and at least one was selected.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import json
import multiprocessing as mp
import os
import pkgutil
import signal
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

from .obligation import REGISTRY, SCALES, Goal, Result, check
from .stack import STACK

INFRASTRUCTURE = {"runner", "obligation", "replay", "layer", "harness", "stack", "engine", "__main__"}
TIMEOUT_S = 300.0  # per obligation, unless --timeout says otherwise
# The hash seed every run is made under (`proofs/__main__.py` says why)
HASH_SEED = "0"


def discover() -> dict[str, object]:
    """Import every layer of the stack, lowest first; each registers its obligations."""
    for name in STACK:
        importlib.import_module(f"{__package__}.{name}")
    return dict(REGISTRY)


def unlisted() -> list[str]:
    """The modules and packages of `proofs` that are neither infrastructure nor a layer of
    the stack: obligations there would never be run."""
    package = Path(__file__).parent
    return sorted(info.name for info in pkgutil.iter_modules([str(package)])
                  if info.name not in INFRASTRUCTURE and info.name not in STACK)


def select(names: list[str], layers: list[str], keywords: list[str]) -> list[str]:
    chosen = []
    for name in sorted(names):
        if layers and name.split(".")[0] not in layers:
            continue
        if keywords and not any(k in name for k in keywords):
            continue
        chosen.append(name)
    return chosen


def limit(name: str, timeout: float) -> float:
    """The seconds the obligation gets: the runner's limit, times its registered scale."""
    return timeout * SCALES.get(name, 1.0)


def heaviest_first(names: list[str]) -> list[str]:
    """The order obligations are started in: those registered with the largest multiple of
    the limit first, as they take longest, so that no heavy one is left to run alone at the
    end (a CI run of 2026-11-24 ended with map_page's invariant, started 64th of 89, running
    alone for minutes); by name within a multiple."""
    return sorted(names, key=lambda name: (-SCALES.get(name, 1.0), name))


SLOW_S = 60.0  # a proof that took this long says where the time went
GRACE_S = 10.0  # past its limit, an obligation still answering is stopped
# A limit counts Z3's steps (engine.effort), which take longer on a loaded machine than on
# an idle one: a process is stopped only when it has run WALL times its limit.
WALL = 2.0


@dataclass
class Job:
    """One obligation being checked in a process of its own."""

    name: str
    seconds: float
    proc: mp.process.BaseProcess
    conn: Connection
    stack: Path
    started: float


def _work(name: str, build: Callable[[], Goal], timeout: float, replay_dir: Path | None, conn: Connection,
          stack: str) -> None:
    start = time.perf_counter()
    # Where it was, if it is stopped for running past its limit: Z3 does not always honour
    # its timeout (a CI run once sat 25 minutes in one planted bug's check).
    trace = open(stack, "w")  # noqa: SIM115 - open until the process ends
    faulthandler.register(signal.SIGUSR1, file=trace, all_threads=False)
    faulthandler.enable(file=trace, all_threads=False)  # and where it was, should it crash
    try:
        goal = build()
        result = check(name, goal, timeout, replay_dir)
        result.seconds = time.perf_counter() - start
    except Exception:  # noqa: BLE001 - an obligation that cannot be built fails, visibly
        result = Result(name, "error", time.perf_counter() - start, traceback.format_exc())
    conn.send(result)
    conn.close()


def start(name: str, build: Callable[[], Goal], seconds: float, replay_dir: Path | None) -> Job:
    """check(name, build(), seconds, replay_dir), begun in a forked process."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    fd, stack = tempfile.mkstemp(prefix="proofs-stack-", suffix=".txt")
    os.close(fd)
    proc = ctx.Process(target=_work, args=(name, build, seconds, replay_dir, send, stack),
                       daemon=True)
    proc.start()
    send.close()
    return Job(name, seconds, proc, recv, Path(stack), time.perf_counter())


def finished(job: Job, ready: bool) -> Result | None:
    """The job's result if it answered (ready) or ran past its limit and grace, else None."""
    now = time.perf_counter()
    if ready:
        try:
            result = job.conn.recv()
        except EOFError:
            job.proc.join(timeout=5.0)  # its exit code says how it died (-11: a segfault)
            trace = job.stack.read_text().strip()
            at = f"; it was at:\n{trace}" if trace else ""
            died = f"worker died (exit {job.proc.exitcode}){at}"
            result = Result(job.name, "error", now - job.started, died)
    elif now - job.started > WALL * job.seconds + GRACE_S:
        result = Result(job.name, "timeout", now - job.started,
                        f"no answer within {WALL * job.seconds:.0f} s; it was at:\n{_stack_of(job)}")
    else:
        return None
    job.proc.kill()
    job.proc.join()
    job.conn.close()
    job.stack.unlink(missing_ok=True)
    return result


def _stack_of(job: Job) -> str:
    """The Python stack of the job's process, as it dumps it when signalled."""
    if job.proc.pid is not None:
        os.kill(job.proc.pid, signal.SIGUSR1)
        for _ in range(20):
            time.sleep(0.1)
            if job.stack.stat().st_size:
                break
    return job.stack.read_text().strip() or "(no stack)"


def check_apart(name: str, build: Callable[[], Goal], seconds: float,
                replay_dir: Path | None = None) -> Result:
    """check, in a process of its own that is stopped once past seconds and grace: a
    check that hangs fails with where it hung, instead of stalling its caller."""
    job = start(name, build, seconds, replay_dir)
    result = None
    while result is None:
        result = finished(job, bool(wait([job.conn], timeout=1.0)))
    return result


def prove_all(names: list[str], jobs: int, timeout: float, replay_dir: Path,
              report: callable = print) -> list[Result]:  # type: ignore[valid-type]
    pending = heaviest_first(names)
    running: list[Job] = []
    results: list[Result] = []
    total = len(names)
    while pending or running:
        while pending and len(running) < jobs:
            name = pending.pop(0)
            running.append(start(name, REGISTRY[name], limit(name, timeout), replay_dir))
        ready = wait([j.conn for j in running], timeout=0.2)
        for job in list(running):
            result = finished(job, job.conn in ready)
            if result is None:
                continue
            stale = replay_dir / f"test_replay_{job.name.replace('.', '_')}.py"
            if result.ok and stale.exists():
                stale.unlink()  # the case it replays is proved now
            running.remove(job)
            results.append(result)
            report(_line(len(results), total, result))
    return sorted(results, key=lambda r: r.name)


def _line(done: int, total: int, r: Result) -> str:
    width = len(str(total))
    head = f"[{done:>{width}}/{total}] {r.status:<14} {r.name:<40} {r.seconds:7.2f}s"
    if r.ok:
        return f"{head}  ({r.timing})" if r.timing and r.seconds >= SLOW_S else head
    text = "\n".join("    " + line for line in [*r.detail.splitlines(), *([r.timing] if r.timing else [])])
    if r.replay_file:
        text += f"\n    replay: pytest {r.replay_file}"
    return f"{head}\n{text}"


def write_json(path: Path, results: list[Result]) -> None:
    path.write_text(json.dumps([asdict(r) for r in results], indent=2))


def write_junit(path: Path, results: list[Result]) -> None:
    failures = sum(1 for r in results if not r.ok)
    suite = ET.Element("testsuite", name="proofs", tests=str(len(results)), failures=str(failures),
                       errors="0", time=f"{sum(r.seconds for r in results):.3f}")
    for r in results:
        layer = r.name.split(".")[0]
        case = ET.SubElement(suite, "testcase", classname=f"proofs.{layer}", name=r.name,
                             time=f"{r.seconds:.3f}")
        if not r.ok:
            failure = ET.SubElement(case, "failure", message=r.status)
            failure.text = r.detail + (f"\nreplay: {r.replay_file}" if r.replay_file else "")
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m proofs", description=__doc__.splitlines()[0])
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes")
    p.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per obligation")
    p.add_argument("--layer", action="append", default=[], help="only this layer (repeatable)")
    p.add_argument("-k", dest="keywords", action="append", default=[],
                   help="only obligations whose name contains this (repeatable)")
    p.add_argument("--list", action="store_true", help="list the selected obligations and stop")
    p.add_argument("--json", type=Path, help="write the results as JSON")
    p.add_argument("--junit", type=Path, help="write the results as JUnit XML")
    p.add_argument("--replay-dir", type=Path, default=Path("tests/replay"),
                   help="where counterexamples are written as pytest files")
    args = p.parse_args(argv)

    names = select(list(discover()), args.layer, args.keywords)
    if args.list:
        print("\n".join(names))
        return 0 if names else 2
    if not names:
        print("no obligation matches the selection", file=sys.stderr)
        return 2
    seed = os.environ.get("PYTHONHASHSEED", "random")
    print(f"proving {len(names)} obligations with {args.jobs} processes, hash seed {seed}", flush=True)
    start = time.perf_counter()
    results = prove_all(names, max(1, args.jobs), args.timeout, args.replay_dir,
                        report=lambda line: print(line, flush=True))
    if args.json:
        write_json(args.json, results)
    if args.junit:
        write_junit(args.junit, results)
    proved = sum(r.ok for r in results)
    print(f"{proved} proved, {len(results) - proved} not proved, in {time.perf_counter() - start:.1f} s")
    return 0 if proved == len(results) else 1
