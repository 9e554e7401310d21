"""What a query text decided, kept for the texts sent most recently.

A client sends the same few documents over and over, and some checks depend on the text
alone (the size check's verdict, the walk over what a mutation's answer reads): they are
kept here instead of done again on every request. Bounded as the parser's cache is (its
256 texts), and a text longer than LONGEST_TEXT is never kept, so the memory held stays
small whatever a client sends.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

LONGEST_TEXT = 16_384
"""Longer query texts are checked every time."""


class Recent(Generic[K, V]):
    """The last `maxsize` values set, by key; reading one makes it the most recent."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._values: OrderedDict[K, V] = OrderedDict()

    def __contains__(self, key: K) -> bool:
        return key in self._values

    def __getitem__(self, key: K) -> V:
        self._values.move_to_end(key)
        return self._values[key]

    def __setitem__(self, key: K, value: V) -> None:
        self._values[key] = value
        if len(self._values) > self.maxsize:
            self._values.popitem(last=False)

    def keys(self) -> list[K]:
        """Oldest first."""
        return list(self._values)
