"""How far a confidence is from a probability: reliability tables and expected calibration error.

Pure functions over (confidence, correct) pairs, after Guo et al., "On Calibration of Modern
Neural Networks" (ICML 2017): predictions are put in equal-width confidence buckets, and the
expected calibration error (ECE) is the mean gap between each bucket's average confidence and
its accuracy, weighted by the bucket's share of predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    """Predictions whose confidence fell in ``[low, high)``: how many, how sure, how right."""

    low: float
    high: float
    count: int
    confidence: float  # mean confidence in the bucket (0 when empty)
    accuracy: float  # share of the bucket's predictions that were right (0 when empty)


def reliability(
    confidences: Sequence[float], correct: Sequence[bool], buckets: int = 10
) -> list[Bucket]:
    """Return ``buckets`` equal-width confidence buckets over [0, 1] (the last one closed).

    Raises ``ValueError`` when the two sequences differ in length.
    """
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct differ in length")
    members: list[list[int]] = [[] for _ in range(buckets)]
    for i, c in enumerate(confidences):
        members[min(int(max(c, 0.0) * buckets), buckets - 1)].append(i)
    out = []
    for b, rows in enumerate(members):
        n = len(rows)
        out.append(
            Bucket(
                low=b / buckets,
                high=(b + 1) / buckets,
                count=n,
                confidence=sum(confidences[i] for i in rows) / n if n else 0.0,
                accuracy=sum(bool(correct[i]) for i in rows) / n if n else 0.0,
            )
        )
    return out


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], buckets: int = 10
) -> float:
    """Return the ECE: Σ over buckets of (share of predictions) × |accuracy − confidence|.

    0 is perfect calibration; 0.0 as well for no predictions at all.
    """
    total = len(confidences)
    if total == 0:
        return 0.0
    return sum(
        b.count / total * abs(b.accuracy - b.confidence)
        for b in reliability(confidences, correct, buckets)
    )
