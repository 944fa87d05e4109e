"""How much work Z3 may spend on one question, counted in Z3's own steps.

A wall-clock limit makes an answer depend on the machine's load: a try that proves a part
in 2 s on an idle machine is cut off when other proofs share its core, and the check goes
on down another path, which may not end (vm.map_page.other_page_apart, proved in 25 s
alone, was left unknown at 267 s in a loaded run). Z3's resource limit (`rlimit`) counts
the solver's own steps instead, and Z3 is deterministic, so a question gets the same
answer however busy the machine is: a proof that holds here holds in CI.

Limits are still written in milliseconds, for the reader: a limit of `ms` allows
`ms * UNITS_PER_MS` steps, about what a typical goal takes in `ms` on an idle machine of
this kind (measured: 0.3 to 5.4 million steps a second, the VM layer's near 4). A wall-clock timeout
stays far beyond it (`BACKSTOP` times), only for a solver that stops counting."""

from __future__ import annotations

import z3

UNITS_PER_MS = 4000
BACKSTOP = 4


def limit(s: z3.Solver, ms: int) -> z3.Solver:
    """s, each of its next checks allowed the steps of about ms milliseconds (Z3 counts an
    rlimit from where the solver stands, so a solver asked again gets as many again)."""
    ms = max(1, int(ms))
    s.set("rlimit", ms * UNITS_PER_MS)
    s.set("timeout", ms * BACKSTOP)
    return s
