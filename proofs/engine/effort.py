"""How much work Z3 may spend on one question, counted in Z3's own steps.

A wall-clock limit makes an answer depend on the machine's load: a try that proves a part
in 2 s on an idle machine is cut off when other proofs share its core, and the check goes
on down another path, which may not end (vm.map_page.other_page_apart, proved in 25 s
alone, was left unknown at 267 s in a loaded run). Z3's resource limit (`rlimit`) counts
the solver's own steps instead, and Z3 is deterministic, so a question gets the same
answer however busy the machine is (but see the two exceptions below: a goal itself can
still be built differently on a loaded machine).

Limits are still written in milliseconds, for the reader: a limit of `ms` allows
`ms * UNITS_PER_MS` steps, about what a typical goal takes in `ms` on an idle machine of
this kind (measured: 0.3 to 5.4 million steps a second, the VM layer's near 4). A
wall-clock timeout stays far beyond it (`BACKSTOP` times), only for a solver that stops
counting.

Z3's integer solver for bit-vectors (`smt.bv.solver` 2, the last way of asking a part)
counts its steps at rates that differ from goal to goal far more (one VM goal's try went
19 s without using its 9 million steps), so its tries keep a wall-clock limit. The
engine's pruning questions (`interp.Pruner`), asked while a goal is built, are counted
too, so a goal is built the same however loaded the machine is (an unknown answer there
keeps a branch: sound, but another term for the solver)."""

from __future__ import annotations

import z3

UNITS_PER_MS = 4000
BACKSTOP = 10


def limit(s: z3.Solver, ms: int, counted: bool = True) -> z3.Solver:
    """s, each of its next checks allowed the steps of about ms milliseconds (Z3 counts an
    rlimit from where the solver stands, so a solver asked again gets as many again); or,
    not counted, ms milliseconds of wall-clock time."""
    ms = max(1, int(ms))
    if counted:
        s.set("rlimit", ms * UNITS_PER_MS)
    s.set("timeout", ms * (BACKSTOP if counted else 1))
    return s
