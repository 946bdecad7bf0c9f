"""What the model engines and the matcher share: the text as the model sees it, and the
vectors and results of recent questions (customers ask the same few things, in the same
words)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


def normalise(text: str) -> str:
    """The text as the model sees it: surrounding and repeated whitespace dropped."""
    return " ".join(text.split())


class RecentResults(Generic[T]):
    """Results of recent questions by key, least recently used out first; safe to read from
    the event loop while worker threads add to it."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._results: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            result = self._results.get(key)
            if result is not None:
                self._results.move_to_end(key)
            return result

    def put(self, key: Hashable, result: T) -> None:
        with self._lock:
            self._results[key] = result
            if len(self._results) > self._size:
                self._results.popitem(last=False)


class QuestionCache:
    """Vectors of recent questions by normalised text, least recently used out first; safe
    to use from the threads that embed questions."""

    def __init__(self, size: int = 4096) -> None:
        self._vectors: RecentResults[np.ndarray] = RecentResults(size)
        self.hits = 0

    def vector(self, text: str, embed: Callable[[str], np.ndarray]) -> np.ndarray:
        """The cached vector of this text, or embed(normalised text), remembered read-only."""
        key = normalise(text)
        cached = self._vectors.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        vector = embed(key)
        vector.flags.writeable = False
        self._vectors.put(key, vector)
        return vector
