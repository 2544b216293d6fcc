"""Retrieval metrics, pure: nDCG@k, Recall@k, MRR@k over ranked ids and graded qrels."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def ndcg(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Return nDCG@k with graded relevance (gain = grade, log2 discount)."""
    dcg = sum(relevant.get(doc, 0.0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Return the share of relevant documents found in the top ``k``."""
    wanted = {d for d, g in relevant.items() if g > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Return the reciprocal rank of the first relevant document in the top ``k``."""
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0.0) > 0:
            return 1.0 / (i + 1)
    return 0.0


METRICS = {
    "ndcg@10": lambda r, q: ndcg(r, q, 10),
    "recall@1": lambda r, q: recall(r, q, 1),
    "recall@5": lambda r, q: recall(r, q, 5),
    "recall@10": lambda r, q: recall(r, q, 10),
    "recall@100": lambda r, q: recall(r, q, 100),
    "mrr@10": lambda r, q: mrr(r, q, 10),
}


def score_run(
    run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, float]]
) -> dict[str, float]:
    """Return every metric averaged over the queries that have judgements."""
    judged = [q for q in qrels if q in run]
    if not judged:
        return {name: 0.0 for name in METRICS}
    return {
        name: sum(metric(run[q], qrels[q]) for q in judged) / len(judged)
        for name, metric in METRICS.items()
    }
