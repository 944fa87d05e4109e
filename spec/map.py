"""An immutable finite map: the spec's only container besides tuples."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Map(Mapping[K, V], Generic[K, V]):
    """A finite map that is never changed in place: `set` and `remove` return a new map."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._items: dict[K, V] = dict(items or {})

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[K]:
        return iter(sorted(self._items))  # type: ignore[type-var]

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Map({dict(sorted(self._items.items()))!r})"  # type: ignore[type-var]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Map) and self._items == other._items

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def get(self, key: K, default: V | None = None) -> V:  # type: ignore[override]
        return self._items[key] if default is None else self._items.get(key, default)

    def set(self, key: K, value: V) -> Map[K, V]:
        return Map({**self._items, key: value})

    def update(self, other: Map[K, V]) -> Map[K, V]:
        """This map with other's entries added, other's value where both have a key."""
        return Map({**self._items, **other._items})

    def remove(self, key: K) -> Map[K, V]:
        return Map({k: v for k, v in self._items.items() if k != key})
