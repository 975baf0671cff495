"""A multi-map that holds a key's only value as itself.

The worker's indexes (units by property, contracts by person, slots by root, …) map a key
to a set of values, and most keys name one value: a one-element set costs about 200 bytes,
the value itself nothing more. At a million ERP rows that is the difference between fitting
and not fitting the worker's memory. Values must be hashable and never sets themselves.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Generic, TypeVar

V = TypeVar("V")

_NONE: frozenset[Any] = frozenset()


class MultiMap(dict[Any, "V | set[V]"], Generic[V]):
    """key -> values; a key with one value holds it directly."""

    def add(self, k: Any, v: V) -> None:
        if k is None:
            return
        s = self.get(k)
        if s is None:
            self[k] = v
        elif isinstance(s, set):
            s.add(v)
        elif s != v:
            self[k] = {s, v}

    def discard(self, k: Any, v: V) -> None:
        if k is None:
            return
        s = self.get(k)
        if isinstance(s, set):
            s.discard(v)
            if len(s) == 1:
                self[k] = next(iter(s))
        elif s is not None and s == v:
            del self[k]

    def discard_values(self, values: Collection[V]) -> None:
        """Take ``values`` out under every key (one look at each key)."""
        for k, s in list(self.items()):
            if isinstance(s, set):
                if not s.isdisjoint(values):
                    s.difference_update(values)
                    if len(s) == 1:
                        self[k] = next(iter(s))
                    elif not s:
                        del self[k]
            elif s in values:
                del self[k]

    def of(self, k: Any) -> Collection[V]:
        """The values of ``k`` (empty when none); a live view: copy it before changing the map."""
        s = self.get(k)
        if s is None:
            return _NONE
        return s if isinstance(s, set) else (s,)

    def shared(self) -> list[Any]:
        """The keys with more than one value."""
        return [k for k, s in self.items() if isinstance(s, set)]
