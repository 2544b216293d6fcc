"""Routing and priority: which department a request belongs to, and how urgent it is.

One logistic regression per label field (queue, priority…) over three views of the text: the
sentence embedding kb already computes (meaning, across paraphrases), TF-IDF words, and
TF-IDF character n-grams (product names, error codes, inflections, and languages the
embedding model reads poorly).
The baseline beside it in ``kb eval-router`` is the usual TF-IDF words + logistic regression.

Trained routers are versioned under ``$KB_HOME/models/router/`` like index snapshots: a new
training run never overwrites the one being served, and ``kb router rollback`` goes back.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.embedder import Embedder
from kb.errors import InvalidInput, NotReady

Prediction = tuple[str, float]  # (label, probability)
EMBEDDING_WEIGHT = 2.0  # scale of the unit embedding next to the unit TF-IDF vector


def _features(vectorizer: Any, embeddings: np.ndarray, texts: Sequence[str]) -> Any:
    from scipy.sparse import csr_matrix, hstack

    return hstack([vectorizer.transform(texts), csr_matrix(embeddings * EMBEDDING_WEIGHT)]).tocsr()


@dataclass
class Router:
    """Predicts each trained field (queue, priority…) with a probability."""

    vectorizer: Any
    models: dict[str, Any]
    embed_model: str
    trained_on: int

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Mapping[str, Sequence[str]],
        embedder: Embedder,
        embed_model: str,
        c: float = 5.0,
    ) -> Router:
        """Fit one classifier per field of ``labels`` (each a label per text)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if len(texts) < 10:
            raise InvalidInput("a router needs at least 10 labelled examples")
        from sklearn.pipeline import FeatureUnion

        vectorizer = FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                      min_df=2, max_features=200_000)),
        ])  # fmt: skip
        vectorizer.fit(texts)
        features = _features(vectorizer, embedder.embed(list(texts), query=True), texts)
        models = {}
        for name, values in labels.items():
            if len(set(values)) < 2:
                raise InvalidInput(f"{name}: a router needs at least two different labels")
            models[name] = LogisticRegression(C=c, max_iter=3000).fit(features, list(values))
        return cls(vectorizer, models, embed_model, len(texts))

    def predict(
        self, texts: Sequence[str], embedder: Embedder
    ) -> list[dict[str, tuple[str, float]]]:
        """Return, per text, each field's label and its probability."""
        features = _features(self.vectorizer, embedder.embed(list(texts), query=True), texts)
        out: list[dict[str, Prediction]] = [{} for _ in texts]
        for name, model in self.models.items():
            probabilities = model.predict_proba(features)
            best = probabilities.argmax(axis=1)
            for i, j in enumerate(best):
                out[i][name] = (str(model.classes_[j]), float(probabilities[i, j]))
        return out

    def save(self, root: Path) -> str:
        """Write this router as the next version under ``root`` and serve it; return it."""
        root.mkdir(parents=True, exist_ok=True)
        versions = router_versions(root)
        version = f"v{(int(versions[-1][1:]) + 1) if versions else 1:06d}"
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
        with open(tmp / "router.pkl", "wb") as f:
            pickle.dump(self, f)
        fields = {k: [str(c) for c in m.classes_] for k, m in self.models.items()}
        meta = {"embed_model": self.embed_model, "trained_on": self.trained_on, "fields": fields}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        os.replace(tmp, root / version)
        use_router(root, version)
        return version


def router_versions(root: Path) -> list[str]:
    """The saved router versions, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if re.fullmatch(r"v\d{6}", p.name))


def use_router(root: Path, version: str) -> None:
    """Serve router ``version`` from now on (atomically)."""
    if version not in router_versions(root):
        raise InvalidInput(f"no router version {version!r}")
    tmp = root / ".current.tmp"
    tmp.write_text(version)
    os.replace(tmp, root / "CURRENT")


def load_router(root: Path) -> tuple[Router, str]:
    """Return the router being served and its version; raise NotReady if none is trained."""
    current = root / "CURRENT"
    if not current.is_file():
        raise NotReady("no router is trained yet: run `kb train-router TICKETS` first")
    version = current.read_text().strip()
    with open(root / version / "router.pkl", "rb") as f:  # written by kb itself, never uploaded
        router = pickle.load(f)  # noqa: S301
    if not isinstance(router, Router):
        raise NotReady(f"router {version} is not a kb router")
    return router, version


# --- evaluation ----------------------------------------------------------------------------------


def baseline(train: Sequence[str], y: Sequence[str], test: Sequence[str]) -> list[str]:
    """The floor to beat: TF-IDF word uni- and bigrams with logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(max_iter=3000).fit(vectorizer.fit_transform(train), list(y))
    return [str(p) for p in model.predict(vectorizer.transform(test))]


def scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro-F1."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
    }


def evaluate_split(
    train: Sequence[str],
    test: Sequence[str],
    labels_train: Mapping[str, Sequence[str]],
    labels_test: Mapping[str, Sequence[str]],
    embedder: Embedder,
    embed_model: str,
) -> dict[str, dict[str, float]]:
    """Train on ``train``, score on ``test``, per field, with the baseline beside each."""
    router = Router.train(train, labels_train, embedder, embed_model)
    predicted = router.predict(test, embedder)
    out = {}
    for name, truth in labels_test.items():
        ours = scores(truth, [p[name][0] for p in predicted])
        floor = scores(truth, baseline(train, labels_train[name], test))
        out[name] = {**ours, "baseline_accuracy": floor["accuracy"],
                     "baseline_macro_f1": floor["macro_f1"], "test_size": len(test)}  # fmt: skip
    return out
