"""Embedding in the background while reading: cached by hash, once per text, abortable."""

import time

import pytest

from index.background import BackgroundEmbedder
from kb.store import Store


class Counting:
    """Wraps the real model and counts what it is asked to embed."""

    def __init__(self, embedder):
        self.inner = embedder
        self.name = embedder.name
        self.dim = embedder.dim
        self.texts: list[str] = []

    def embed(self, texts, *, query=False):
        self.texts.extend(texts)
        return self.inner.embed(texts, query=query)


def test_embeds_each_new_text_once_into_the_store_cache(tmp_path, embedder):
    path = tmp_path / "kb.sqlite3"
    store = Store(path)
    store.put_embeddings(embedder.name, {"old": embedder.embed(["cached already"])[0]})
    counting = Counting(embedder)
    background = BackgroundEmbedder(path, embedder.name, lambda: counting)
    background.submit([("h1", "reset your password"), ("h2", "refund policy"), ("old", "x")])
    background.submit([("h1", "reset your password")])
    assert background.close() == 2
    assert sorted(counting.texts) == ["refund policy", "reset your password"]
    assert set(store.get_embeddings(embedder.name, ["h1", "h2", "old"])) == {"h1", "h2", "old"}


class Slow(Counting):
    def embed(self, texts, *, query=False):
        time.sleep(0.2)
        return super().embed(texts, query=query)


def test_a_failure_while_reading_drops_the_queue(tmp_path, embedder):
    slow = Slow(embedder)
    background = BackgroundEmbedder(
        tmp_path / "kb.sqlite3", embedder.name, lambda: slow, batch_size=1
    )
    with pytest.raises(RuntimeError), background:
        background.submit([(f"h{i}", f"text {i}") for i in range(100)])
        raise RuntimeError("reading failed")
    assert len(slow.texts) < 100  # at most the group in flight when reading failed
