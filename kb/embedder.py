"""The embedding interface the core needs: texts in, unit-length vectors out.

Its implementations (sentence-transformers, ONNX Runtime) live in ``index/``; the core (routing,
insights, generation) is given one and never loads a model itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class Embedder(ABC):
    """Turns texts into unit-length vectors; queries and passages may be embedded differently."""

    name: str
    dim: int
    languages: frozenset[str] = frozenset({"multilingual"})

    @abstractmethod
    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """Return one unit-length float32 row per text: shape (len(texts), dim)."""
