"""The ONNX query embedder agrees with sentence-transformers, and serving needs no torch."""

import os
import subprocess
import sys

import numpy as np

from index.embedding import languages_of, model_path
from index.onnx import OnnxEmbedder, export, export_path
from kb.usecases.bootstrap import build

TEXTS = [
    "How do I reset my password?",
    "hub offline",
    "信用卡如何申請",
    "a " + "very long passage about billing and refunds " * 80,  # past the 256-token limit
]


def test_onnx_export_matches_sentence_transformers(tmp_path, embedder, shared_model_cache):
    name = embedder.name
    target = export_path(shared_model_cache, name, model_path(name))
    if not target.exists():
        export(model_path(name), target)
    onnx = OnnxEmbedder(name, target, model_path(name), languages_of(name))
    for query in (True, False):
        agreement = (onnx.embed(TEXTS, query=query) * embedder.embed(TEXTS, query=query)).sum(1)
        assert np.all(agreement >= 0.9999), agreement


def test_ingest_exports_once_and_queries_use_onnx(kb, settings):
    kb.ingestion.ingest([str(__import__("tests.conftest").conftest.DEMO)])
    assert export_path(settings.models_dir, kb.models.name, model_path(kb.models.name)).exists()
    served = build(settings)
    assert isinstance(served.models.query_embedder, OnnxEmbedder)
    assert served.retrieval.search("reset password", k=1)[0].passage.doc_id == "reset-password"


def test_serving_imports_no_torch(demo_home, shared_model_cache):
    code = (
        "import sys\n"
        "from web import create_app\n"
        "client = create_app().test_client()\n"
        "assert client.get('/search?q=reset+password').status_code == 200\n"
        "answer = client.post('/answer', json={'question': 'How do I reset my password?'})\n"
        "assert answer.json['citations']\n"
        "print('torch' in sys.modules)\n"
    )
    env = {**os.environ, "KB_HOME": str(demo_home), "KB_MODEL_CACHE": str(shared_model_cache)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


class Counted:
    """An ONNX session that counts its runs."""

    def __init__(self, session):
        self.session, self.runs = session, 0

    def run(self, *args, **kwargs):
        self.runs += 1
        return self.session.run(*args, **kwargs)


def test_a_question_embedded_twice_in_a_request_runs_the_model_once(embedder, shared_model_cache):
    name = embedder.name
    target = export_path(shared_model_cache, name, model_path(name))
    if not target.exists():
        export(model_path(name), target)
    onnx = OnnxEmbedder(name, target, model_path(name), languages_of(name))
    onnx.session = counted = Counted(onnx.session)
    first = onnx.embed(["How do I reset my password?"], query=True)
    first[0, 0] = 42.0  # a caller's copy: what is kept stays whole
    again = onnx.embed(["How do I reset my password?"], query=True)
    assert counted.runs == 1 and again[0, 0] != 42.0
    assert np.allclose(again, onnx.embed(["How do I reset my password?"]), atol=1e-6)
    for i in range(10):  # the latest few questions are kept, not every question
        onnx.embed([f"question {i}"], query=True)
    onnx.embed(["How do I reset my password?"], query=True)
    assert counted.runs == 2 + 10 + 1


def test_a_server_worker_embeds_on_its_share_of_the_cores(kb, embedder, shared_model_cache):
    import index.onnx

    name = embedder.name
    target = export_path(shared_model_cache, name, model_path(name))
    if not target.exists():
        export(model_path(name), target)
    cores = os.cpu_count() or 1
    before = index.onnx._THREADS
    try:
        kb.models.share_cores(cores)  # as many workers as cores: one thread each
        alone = OnnxEmbedder(name, target, model_path(name), languages_of(name))
        assert alone.session.get_session_options().intra_op_num_threads == 1
        kb.models.share_cores(1)  # one worker: every core
        every = OnnxEmbedder(name, target, model_path(name), languages_of(name))
        assert every.session.get_session_options().intra_op_num_threads == cores
        assert np.allclose(alone.embed(TEXTS), every.embed(TEXTS), atol=1e-5)
    finally:
        index.onnx._THREADS = before
