"""Confidence as a probability: the chance that the page an answer cites answers the question.

A logistic model over retrieval evidence (:func:`features`): Platt scaling (Platt,
"Probabilistic Outputs for Support Vector Machines", 1999) over several scores instead of one.
Its weights are fitted on customer-style questions labelled with their right pages on several
public help centres, and checked on each centre with weights fitted on the others alone
(``python -m bench.confidence``): each feature is on a scale that means the same in every
knowledge base (similarity above the corpus's own chance level, BM25 over the query's
ceiling, idf-weighted shares), so the weights carry over to help centres they never saw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kb.models import Hit
from kb.text import script, tokenize

FEATURES = (
    "dense",  # best passage of the top page: similarity above an off-topic question's best match
    "lexical",  # its BM25 over the query's ceiling
    "coverage",  # idf-weighted share of the question's words found in the top page
    "agreement",  # 1 when dense and lexical retrieval each rank the top page first, ½ for one
    "known",  # share of the question's words the knowledge base has anywhere
    "cjk",  # 1 for a question in Chinese, Japanese or Korean: read as character pairs, of which
    # the page that answers shares fewer than it shares an English question's words
)
# Weights (bias last) fitted by `python -m bench.confidence` on bench/helpcentres.
DEFAULT_WEIGHTS = (3.08, 3.25, 3.37, 1.58, 0.81, 1.75, -5.37)


MAX_STEP = 2.0  # largest change of one weight in one step of the fit


@dataclass(frozen=True)
class Calibrator:
    """A fitted logistic model: ``P(right) = σ(w · features + bias)``."""

    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    examples: int = 0  # questions the fit saw (0: the defaults)
    positives: int = 0  # ... of which right

    def probability(self, x: Sequence[float]) -> float:
        """Return P(the top page answers the question) for one feature vector, in [0, 1]."""
        *w, bias = self.weights
        z = bias + sum(a * b for a, b in zip(w, x, strict=True))
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


def features(
    hits: Sequence[Hit],
    known: Callable[[str], bool],
    question: str,
    chance: Callable[[float, str], float | None] | None = None,
) -> list[float]:
    """Return the evidence that the top page of ``hits`` answers ``question`` (see FEATURES).

    ``chance(similarity, script)`` tells how far a similarity lies above the best match of a
    typical off-topic question in that script, in this knowledge base (see
    ``DenseIndex.measure_chance``): the dense feature is that, so it means the same for every
    model and corpus. Without it, the similarity above chance is used as it is.
    """
    terms = tokenize(question)
    known_share = sum(known(t) for t in terms) / len(terms) if terms else 0.0
    cjk = float(script(question) == "cjk")
    if not hits:
        return [0.0, 0.0, 0.0, 0.0, known_share, cjk]
    top = hits[0]
    ev = top.evidence
    above = chance(top.dense, script(question)) if chance else None
    dense = top.dense if above is None else above
    return [
        max(min(dense, 1.5), -0.5),
        top.lexical,
        ev.coverage if ev else 0.0,
        0.5 * (ev.dense_first + ev.lexical_first) if ev else 0.0,
        known_share,
        cjk,
    ]


def fit(
    x: np.ndarray,
    y: np.ndarray,
    prior: Sequence[float] = DEFAULT_WEIGHTS,
    strength: float = 0.1,
    iterations: int = 200,
) -> Calibrator:
    """Fit the logistic weights to features ``x`` (n × len(FEATURES)) and labels ``y`` (0/1).

    Maximum a posteriori by Newton's method, with the prior ``N(prior, 1/strength)`` on each
    weight. Raises ``ValueError`` when the shapes do not agree.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(FEATURES) or len(y) != len(x):
        raise ValueError(f"expected n × {len(FEATURES)} features and n labels")
    design = np.hstack([x, np.ones((len(x), 1))])
    mean = np.asarray(prior, dtype=np.float64)
    penalty = strength * np.eye(len(mean))

    def loss(w: np.ndarray) -> float:
        z = design @ w
        # -log-likelihood, written to stay finite for large |z|
        nll = np.sum(np.logaddexp(0.0, z) - y * z)
        return float(nll + 0.5 * (w - mean) @ penalty @ (w - mean))

    w = mean.copy()
    current = loss(w)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -40, 40)))
        gradient = design.T @ (p - y) + penalty @ (w - mean)
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        # Newton's step, at most MAX_STEP in any weight (where every example is saturated the
        # curvature vanishes and the step would be huge), halved until the loss falls.
        step *= min(1.0, MAX_STEP / max(float(np.max(np.abs(step))), 1e-12))
        size = 1.0
        while size > 1e-4 and loss(w - size * step) > current:
            size /= 2
        w = w - size * step
        previous, current = current, loss(w)
        if previous - current < 1e-9:
            break
    return Calibrator(tuple(float(v) for v in w), int(len(y)), int(y.sum()))
