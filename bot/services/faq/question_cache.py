"""What both model engines share: the text as the model sees it, and the vectors of recent
questions (customers ask the same few things, in the same words)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np


def normalise(text: str) -> str:
    """The text as the model sees it: surrounding and repeated whitespace dropped."""
    return " ".join(text.split())


class QuestionCache:
    """Vectors of recent questions by normalised text, least recently used out first; safe
    to use from the threads that embed questions."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def vector(self, text: str, embed: Callable[[str], np.ndarray]) -> np.ndarray:
        """The cached vector of this text, or embed(normalised text), remembered read-only."""
        key = normalise(text)
        with self._lock:
            cached = self._vectors.get(key)
            if cached is not None:
                self._vectors.move_to_end(key)
                self.hits += 1
                return cached
        vector = embed(key)
        vector.flags.writeable = False
        with self._lock:
            self._vectors[key] = vector
            if len(self._vectors) > self._size:
                self._vectors.popitem(last=False)
        return vector
