"""Confidence as a probability: the metrics against hand-computed values, the fit, the demo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kb.calibration import expected_calibration_error, reliability
from kb.confidence import FEATURES, Calibrator, features, fit
from kb.models import Evidence, Hit, Passage

QUESTIONS = json.loads((Path(__file__).parent / "fixtures" / "demo_questions.json").read_text())


def test_reliability_and_ece_against_hand_computed_values():
    confidences = [0.95, 0.9, 0.15, 0.55, 0.45]
    correct = [True, False, False, True, True]
    buckets = reliability(confidences, correct, buckets=2)
    assert [(b.count, round(b.confidence, 3), round(b.accuracy, 3)) for b in buckets] == [
        (2, 0.3, 0.5),
        (3, 0.8, 0.667),
    ]
    # 2/5 · |0.5 − 0.3| + 3/5 · |2/3 − 0.8|
    assert expected_calibration_error(confidences, correct, 2) == pytest.approx(0.16)
    assert expected_calibration_error([], []) == 0.0
    with pytest.raises(ValueError):
        reliability([0.5], [])


def test_the_fit_recovers_weights_that_generated_the_labels():
    rng = np.random.default_rng(1)
    x = rng.random((4000, len(FEATURES)))
    truth = np.array([4.0, 0.0, 2.0, 0.0, 1.0, -1.0, -3.0])
    p = 1 / (1 + np.exp(-(x @ truth[:-1] + truth[-1])))
    y = (rng.random(len(p)) < p).astype(float)
    # Starting from weights far off and saturated, Newton's method still gets there.
    model = fit(x, y, prior=[20.0] * (len(FEATURES) + 1), strength=1e-4)
    assert np.allclose(model.weights, truth, atol=0.4)
    assert model.examples == 4000 and model.positives == int(y.sum())
    with pytest.raises(ValueError):
        fit(x[:, :2], y)


def test_probability_is_bounded_and_rises_with_the_evidence():
    passage = Passage(1, "d", 1, "T", "/d", "S", "text", "article", "en")

    def top(dense: float, lexical: float, coverage: float) -> list[Hit]:
        evidence = Evidence(coverage, 0.0, dense > 0.5, lexical > 0.5)
        return [Hit(passage, dense, dense, lexical, evidence=evidence)]

    model = Calibrator()
    levels = [(-0.2, 0.0, 0.0), (0.2, 0.1, 0.3), (0.4, 0.3, 0.6), (0.6, 0.6, 1.0), (1.0, 1.0, 1)]
    values = [model.probability(features(top(*e), lambda _: True, "reset password"))
              for e in levels]  # fmt: skip
    assert values == sorted(values) and 0.0 < values[0] < 0.05 and values[-1] > 0.95
    unknown = model.probability(features(top(*levels[3]), lambda _: False, "reset password"))
    assert unknown < values[3]


def test_an_off_topic_question_is_refused_with_low_confidence(demo_kb):
    answer = demo_kb.answering.answer("What is the boiling point of mercury?")
    assert answer.refused and answer.confidence < 0.1


def test_confidence_ranks_right_answers_above_wrong_ones_on_the_demo(demo_kb):
    """On the demo's labelled questions, the surer kb is, the more often it is right."""
    outcomes = []
    for question, relevant in QUESTIONS["in_scope"]:
        answer = demo_kb.answering.answer(question)
        cited = {c.doc_id for c in answer.citations} or {
            h.passage.doc_id for h in answer.related[:1]
        }
        outcomes.append((answer.confidence, bool(cited & set(relevant))))
    for question in QUESTIONS["out_of_scope"]:
        outcomes.append((demo_kb.answering.answer(question).confidence, False))
    outcomes.sort()
    thirds = [outcomes[: len(outcomes) // 3], outcomes[len(outcomes) // 3 : 2 * len(outcomes) // 3],
              outcomes[2 * len(outcomes) // 3 :]]  # fmt: skip
    accuracy = [sum(right for _, right in part) / len(part) for part in thirds]
    assert accuracy == sorted(accuracy) and accuracy[0] < 0.2 and accuracy[-1] > 0.9
    right = [c for c, ok in outcomes if ok]
    wrong = [c for c, ok in outcomes if not ok]
    # The chance that a right answer is surer than a wrong one (the area under the ROC curve).
    auc = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong) / (len(right) * len(wrong))
    assert auc > 0.9
