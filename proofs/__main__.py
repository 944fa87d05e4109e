"""`python -m proofs`: see `proofs.runner`.

The runner runs under one fixed hash seed (`runner.HASH_SEED`), so that every run of it asks Z3
the same questions in the same order. Python draws a new seed for each process unless
PYTHONHASHSEED names one, and the seed orders every set and dict of names, hence the
order in which a check makes and frees its terms. Z3 numbers terms in that order, reusing
the numbers of freed ones, and its search follows the numbers: the same try of the same
part of `vm.unmap_page.clears_own_entry_only` was proved in 30 s of steps under one seed
and left unknown after 170 s under another, and a CI run drew a seed under which the
obligation had no answer in 1,200 s. With the seed fixed, a run here is the run CI makes
(up to the few wall-clock limits, `proofs.engine.effort`).
"""

import os
import sys

from .runner import HASH_SEED, main

if __name__ == "__main__":
    if os.environ.get("PYTHONHASHSEED") != HASH_SEED:
        os.execve(sys.executable, [sys.executable, "-m", "proofs", *sys.argv[1:]],
                  {**os.environ, "PYTHONHASHSEED": HASH_SEED})
    sys.exit(main())
