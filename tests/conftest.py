"""The test session's worker processes (pytest-xdist starts them after this is imported)
run under the hash seed `python -m proofs` runs under, so that a check a test makes asks
Z3 its questions in the order a run of the proofs does, from one CI run to the next
(`proofs/__main__.py` says why that order matters)."""

import os

from proofs.runner import HASH_SEED

os.environ.setdefault("PYTHONHASHSEED", HASH_SEED)
