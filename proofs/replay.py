"""Counterexamples as a person reads and replays them: the goal's inputs as concrete
Python values from a model, their description, and the replay file that reruns that
exact case natively (`tests/replay/test_replay_<obligation>.py`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import z3

from .engine.display import concrete

if TYPE_CHECKING:
    from .obligation import Goal


def concretize(goal: Goal, model: z3.ModelRef) -> dict[str, Any]:
    """The goal's inputs, as the model has them (a model of the goal solved in a context of
    its own is copied back to the context the inputs were made in)."""
    if model.ctx != z3.main_ctx():
        model = model.translate(z3.main_ctx())
    out = {}
    for key, shown in goal.inputs.items():
        size = (lambda arr, _s=shown: _s.size(arr, model)) if shown.size else None
        keys = shown.keys(model) if callable(shown.keys) else shown.keys
        out[key] = concrete(shown.ty, shown.value, model, size, keys)
    return out


def describe(goal: Goal, values: dict[str, Any]) -> str:
    lines = ["counterexample:"]
    for key, v in values.items():
        lines.append(f"  {key} = {_pretty(v)}")
    if goal.compare is not None:
        lines.append(goal.compare(values))
    return "\n".join(lines)


def patched(size: int, chunks: dict[int, bytes], fill: int = 0) -> bytearray:
    """A bytearray of the size, every byte `fill`, with the chunks written at their offsets."""
    out = bytearray([fill]) * size
    for offset, data in chunks.items():
        out[offset:offset + len(data)] = data
    return out


def _pretty(v: Any) -> str:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        inner = ",\n".join(f"      {f.name}={source(getattr(v, f.name))}" for f in dataclasses.fields(v))
        return f"{type(v).__name__}(\n{inner})"
    return source(v)


def source(v: Any) -> str:
    """Python source for v, with long buffers written as their most common byte and the
    chunks that differ from it."""
    if isinstance(v, bytearray) and len(v) > 256:
        fill = max(range(256), key=v.count)
        blank = bytes([fill]) * 16
        chunks = {i: bytes(v[i:i + 16]) for i in range(0, len(v), 16) if v[i:i + 16] != blank[:len(v) - i]}
        tail = f", fill={fill}" if fill else ""
        return f"patched({len(v)}, {chunks!r}{tail})"
    if isinstance(v, bytes | bytearray):
        body = bytes(v).rstrip(b"\0")
        if len(v) - len(body) > 8:
            text = f"{body!r}.ljust({len(v)}, b'\\0')"
            return f"bytearray({text})" if isinstance(v, bytearray) else text
        return repr(v)
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        fields = ", ".join(f"{f.name}={source(getattr(v, f.name))}" for f in dataclasses.fields(v))
        return f"{type(v).__name__}({fields})"
    if isinstance(v, list):
        return "[" + ", ".join(source(x) for x in v) + "]"
    if isinstance(v, tuple):
        return "(" + "".join(source(x) + ", " for x in v) + ")"
    if hasattr(v, "items") and callable(v.items):
        inner = ", ".join(f"{source(k)}: {source(x)}" for k, x in v.items())
        return f"{type(v).__name__}({{{inner}}})"
    return repr(v)


def _imports(values: dict[str, Any]) -> list[str]:
    seen: set[tuple[str, str]] = set()

    def walk(v: Any) -> None:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            seen.add((type(v).__module__, type(v).__name__))
            for f in dataclasses.fields(v):
                walk(getattr(v, f.name))
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)
        elif hasattr(v, "items") and callable(v.items):
            seen.add((type(v).__module__, type(v).__name__))
            for x in v.values():
                walk(x)

    for v in values.values():
        walk(v)
    return [f"from {m} import {n}" for m, n in sorted(seen)]


def write_replay(name: str, goal: Goal, values: dict[str, Any], directory: Path) -> Path:
    """A pytest file that reruns this exact case on the executable spec and impl."""
    assert goal.replay is not None
    directory.mkdir(parents=True, exist_ok=True)
    ident = name.replace(".", "_")
    fn = goal.replay
    args = ",\n".join(f"        {k}={source(v)}" for k, v in {**goal.replay_extra, **values}.items())
    impl_arg = f"import_module({goal.replay_module!r})" if goal.replay_module else "None"
    text = "\n".join([
        f'"""Replays the counterexample to {name} found by `python -m proofs`."""',
        "from importlib import import_module",
        "",
        "from proofs.replay import patched  # noqa: F401",
        *_imports(values),
        f"from {fn.__module__} import {fn.__name__}",
        "",
        "",
        f"def test_replay_{ident}() -> None:",
        f"    {fn.__name__}(",
        f"        impl={impl_arg},",
        args + ",",
        "    )",
        "",
    ])
    path = directory / f"test_replay_{ident}.py"
    path.write_text(text)
    return path
