"""An embedder for tests that counts what the real model is asked to embed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kb.embedder import Embedder


class CountingEmbedder(Embedder):
    """The real model, keeping every text it is asked to embed (in ``texts``)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.languages = inner.languages
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        self.texts += list(texts)
        return self.inner.embed(texts, query=query)
