"""Embedding in the background while documents are still being read.

Reading a help centre is I/O and parsing; embedding is the model. Run one after the other and
ingestion takes their sum; overlap them and it takes little more than the embedding alone.
Vectors go into the store's cache by content hash, where the snapshot build finds them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from kb.embedder import Embedder
from kb.store import Store

_DONE = object()
log = logging.getLogger("kb")


class BackgroundEmbedder:
    """Embeds (content hash, text) items on a worker thread, caching them in the store."""

    def __init__(
        self,
        store: str | Path,
        model: str,
        load_embedder: Callable[[], Embedder],
        batch_size: int = 32,
    ) -> None:
        self.store = store  # a SQLite path or a database URL
        self.model = model
        self.load_embedder = load_embedder
        self.batch_size = batch_size
        self.embedded = 0
        self.error: BaseException | None = None
        self._abort = False
        self._queue: queue.Queue[object] = queue.Queue()
        self._seen: set[str] = set()
        self._thread = threading.Thread(target=self._work, name="kb-embed", daemon=True)
        self._thread.start()

    def submit(self, items: Sequence[tuple[str, str]]) -> None:
        """Queue passages to embed; repeats and already cached ones are skipped."""
        if self.error is not None:
            return  # the worker stopped; the snapshot build embeds what is missing
        for digest, text in items:
            if digest not in self._seen:
                self._seen.add(digest)
                self._queue.put((digest, text))

    def close(self) -> int:
        """Wait for the queue to drain; return how many passages were embedded.

        A failure in the worker is logged, not raised: the snapshot build embeds what is missing.
        """
        self._queue.put(_DONE)
        self._thread.join()
        if self.error is not None:
            log.warning("background embedding stopped: %s", self.error)
        return self.embedded

    def __enter__(self) -> BackgroundEmbedder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread.is_alive():
            self._abort = kind is not None  # reading failed: drop what is queued
            self._queue.put(_DONE)
            self._thread.join()

    def _work(self) -> None:
        store = Store(self.store)
        try:
            done = False
            while not done:
                batch: list[tuple[str, str]] = []
                item = self._queue.get()
                while True:
                    if item is _DONE:
                        done = True
                        break
                    batch.append(item)  # type: ignore[arg-type]
                    # Hand the model many passages at once: it sorts them by length, so its
                    # batches carry little padding.
                    if len(batch) >= self.batch_size * 16:
                        break
                    try:
                        item = self._queue.get(timeout=0.05)
                    except queue.Empty:
                        break
                self._embed(store, batch)
        except BaseException as e:  # reported by close(); the snapshot build embeds the rest
            self.error = e
        finally:
            store.close()

    def _embed(self, store: Store, batch: list[tuple[str, str]]) -> None:
        if not batch or self._abort:
            return
        cached = store.get_embeddings(self.model, [d for d, _ in batch])
        todo = [(d, t) for d, t in batch if d not in cached]
        if not todo:
            return
        vectors = self.load_embedder().embed([t for _, t in todo])
        store.put_embeddings(self.model, {d: v for (d, _), v in zip(todo, vectors, strict=True)})
        self.embedded += len(todo)
