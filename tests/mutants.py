"""Deliberately broken copies of an impl module, importable like the real one."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

Edit = tuple[str, str]


def mutant(module: types.ModuleType, name: str, edits: list[Edit], directory: Path) -> types.ModuleType:
    """module's source with each (old, new) edit made once, written to directory and imported.
    Its name starts with the package's (impl_...): the engine runs the functions of the
    code under proof symbolically even on concrete arguments, and so must a mutant's."""
    name = f"{module.__name__.split('.')[0]}_{name}"
    source = Path(module.__file__ or "").read_text()
    for old, new in edits:
        if source.count(old) != 1:
            raise ValueError(f"an edit of the mutation {name} must match exactly once: {old!r}")
        source = source.replace(old, new)
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
