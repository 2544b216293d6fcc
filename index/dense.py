"""Dense retrieval with FAISS: inner product over unit vectors. The only module importing faiss.

Exact search up to ``hnsw_threshold`` vectors; above it an HNSW graph whose ``efSearch`` is
the smallest that reaches the target recall@10 against exact search, measured at build time
on a sample of the corpus's own vectors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np

MIN_PASSAGES_FOR_PAIRS = 50
# Questions a help centre is not expected to answer (English and Chinese), one per line.
OFF_TOPIC_QUESTIONS = Path(__file__).with_name("off_topic_questions.txt")
# Text about nothing a help centre covers: what "unrelated" looks like to a model.
PROBES = (
    "The river flooded the valley after three days of rain.",
    "She scored twice in the second half of the final.",
    "Knead the dough for ten minutes and let it rise overnight.",
    "The treaty was signed in 1648 after decades of war.",
    "Mitochondria produce most of the energy a cell uses.",
    "The orchestra tuned up before the symphony began.",
    "Volcanic ash covered the village for a week.",
    "He planted tomatoes and basil along the garden fence.",
    "The comet will be visible again in seventy years.",
    "Parliament debated the new fishing quotas until midnight.",
    "The recipe calls for two cloves of garlic and fresh thyme.",
    "Lions rest for up to twenty hours a day.",
)
EF_CHOICES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


class DenseIndex:
    """Nearest-neighbour search over unit-length vectors (cosine = inner product)."""

    def __init__(
        self,
        index: faiss.Index,
        ef_search: int = 0,
        recall: float = 1.0,
        background: float = 0.0,
        chance: dict[str, float] | None = None,
    ) -> None:
        self.index = index
        self.ef_search = ef_search  # 0: exact search
        self.recall = recall
        self.background = background  # the cosine of unrelated passages, for this model
        # script → the median similarity (calibrated) of an off-topic question's best match
        self.chance = dict(chance or {})

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        *,
        hnsw_threshold: int = 50_000,
        target_recall: float = 0.98,
        m: int = 32,
        probes: np.ndarray | None = None,
    ) -> DenseIndex:
        """Return an index over ``vectors`` (row i is passage i): exact, or HNSW when large.

        ``probes`` (vectors of unrelated generic text) measure chance when the corpus is too
        small for pairs of its own passages to.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        if len(vectors) >= MIN_PASSAGES_FOR_PAIRS or probes is None or not len(vectors):
            background = background_similarity(vectors)
        else:
            background = float(np.mean(vectors @ probes.T))
        if len(vectors) < hnsw_threshold:
            flat = faiss.IndexFlatIP(dim)
            if len(vectors):
                flat.add(vectors)
            return cls(flat, background=background)
        graph = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = 80
        graph.add(vectors)
        ef, recall = tune_ef_search(graph, vectors, target_recall)
        return cls(graph, ef, recall, background)

    def calibrate(self, cosine: np.ndarray) -> np.ndarray:
        """Return similarity above chance: ``(cos - background) / (1 - background)``.

        Models differ in where unrelated texts land (all-MiniLM-L6-v2 low, e5 near 0.75), so
        raw cosines are not comparable across models; this scale is: 0 is chance, 1 identical,
        below 0 less alike than chance. It is monotone, so dense ranking is unchanged.
        """
        scaled = (cosine - self.background) / max(1.0 - self.background, 1e-6)
        return scaled.astype(np.float32)

    def measure_chance(self, questions: dict[str, np.ndarray]) -> None:
        """Record how close off-topic questions come to this corpus, per script.

        ``questions`` maps a script name to the query vectors (n × dim, unit length) of
        questions about things the corpus does not cover. For each script kb keeps the median
        similarity above chance of their best matches: the level a question must clear to
        look answerable here, in this model's and this corpus's terms (score normalisation
        against impostors, as in speaker verification). The median, not the mean: a shop's help
        centre does answer the parcel and refund questions among them. Scripts with fewer than
        5 questions are left out.
        """
        for script, vectors in questions.items():
            if len(vectors) < 5 or not self.size:
                continue
            cosine, _ = self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
            self.chance[script] = float(np.median(self.calibrate(cosine[:, 0])))

    def above_chance(self, similarity: float, script: str) -> float | None:
        """Return how far ``similarity`` (calibrated) lies above the off-topic level of
        ``script`` (see :meth:`measure_chance`); None when that was not measured."""
        if script not in self.chance:
            return None
        return similarity - self.chance[script]

    @property
    def size(self) -> int:
        """Number of vectors."""
        return int(self.index.ntotal)

    def search(
        self, query: np.ndarray, n: int, allow: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the rows and cosine scores of the ``n`` nearest passages, best first.

        ``allow`` (one bool per row) restricts the search itself, so a filter never empties a
        result that a top-k cut followed by filtering would.
        """
        n = min(n, self.size)
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        vector = query.reshape(1, -1).astype(np.float32)
        # One query is a few milliseconds of work: splitting it over OpenMP threads only makes
        # them fight the ONNX Runtime threads that just embedded it (10 ms instead of 1.5 ms
        # over 18k passages). The setting is per calling thread, so builds keep theirs.
        faiss.omp_set_num_threads(1)
        params: Any = (
            faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            if self.ef_search
            else faiss.SearchParameters()
        )
        if self.ef_search:
            params.efSearch = max(self.ef_search, n)
        if allow is not None:
            bits = np.packbits(allow.astype(bool), bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(allow), faiss.swig_ptr(bits))
        scores, rows = self.index.search(vector, n, params=params)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]

    def scores(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Return the cosine scores of ``query`` against the given rows."""
        if len(rows) == 0:
            return np.zeros(0, dtype=np.float32)
        vectors = self.index.reconstruct_batch(np.asarray(rows, dtype=np.int64))
        return np.asarray(vectors @ query.reshape(-1), dtype=np.float32)

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (and its search settings beside it)."""
        faiss.write_index(self.index, str(path))
        path.with_suffix(".json").write_text(
            json.dumps(
                {
                    "ef_search": self.ef_search,
                    "recall": self.recall,
                    "background": self.background,
                    "chance": self.chance,
                }
            )
        )

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        """Read an index written by :meth:`save`."""
        settings = json.loads(path.with_suffix(".json").read_text())
        # Memory-mapped, not read: the vectors stay in the page cache, shared by every worker
        # process serving this snapshot instead of copied into each.
        return cls(
            faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC),
            settings["ef_search"],
            settings["recall"],
            settings.get("background", 0.0),
            {script: float(level) for script, level in settings.get("chance", {}).items()},
        )


def background_similarity(vectors: np.ndarray, pairs: int = 4000) -> float:
    """Return the mean cosine of random pairs of distinct passages: what chance looks like."""
    if len(vectors) < 2:
        return 0.0
    rng = np.random.default_rng(0)
    a = rng.integers(0, len(vectors), pairs)
    b = rng.integers(0, len(vectors), pairs)
    keep = a != b
    return float(np.mean(np.sum(vectors[a[keep]] * vectors[b[keep]], axis=1)))


def tune_ef_search(
    graph: faiss.IndexHNSWFlat, vectors: np.ndarray, target: float, samples: int = 300
) -> tuple[int, float]:
    """Return the smallest efSearch whose recall@10 against exact search reaches ``target``."""
    rng = np.random.default_rng(0)
    picked = rng.choice(len(vectors), size=min(samples, len(vectors)), replace=False)
    queries = vectors[picked]
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    recall = 0.0
    for ef in EF_CHOICES:
        params: Any = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = ef
        _, found = graph.search(queries, 10, params=params)
        recall = float(
            np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
        )
        if recall >= target:
            return ef, recall
    return EF_CHOICES[-1], recall
