"""The composition root: every use case of one knowledge base, built from its settings.

The CLI, the web app, the evaluations and the benchmarks call :func:`build` once and use the
services they need; each service names its collaborators in its constructor, so the graph
below is the whole of how kb is wired::

    EmbeddingModels, Stores
    FeedbackNudges(stores)
    Retrieval(models, nudges)    Triage(models)            Generators(models)
    Answering(retrieval, generators, triage, stores)
    Gate(stores, retrieval, answering)
    Ingestion(models, stores, retrieval, gate)      Jobs(stores, ingestion)
    IndexVersions(stores, retrieval)          Documents(stores, retrieval)
    RegressionSet(stores, retrieval, answering)
    ModelTuning(stores, models, retrieval, ingestion, gate)
    Editorial(stores, retrieval, models, generators)
"""

from __future__ import annotations

from dataclasses import dataclass

from kb.config import Settings
from kb.embedder import Embedder
from kb.usecases.answering import Answering
from kb.usecases.documents import Documents
from kb.usecases.editorial import Editorial
from kb.usecases.embedders import EmbeddingModels
from kb.usecases.gate import Gate
from kb.usecases.generators import Generators
from kb.usecases.ingestion import Ingestion
from kb.usecases.jobs import Jobs
from kb.usecases.nudges import FeedbackNudges
from kb.usecases.regressions import RegressionSet
from kb.usecases.retrieval import Retrieval
from kb.usecases.stores import Stores
from kb.usecases.triage import Triage
from kb.usecases.tuning import ModelTuning
from kb.usecases.versions import IndexVersions


@dataclass(frozen=True)
class Services:
    """The use cases of one knowledge base, wired together (see the module docstring)."""

    settings: Settings
    models: EmbeddingModels
    stores: Stores
    retrieval: Retrieval
    generators: Generators
    triage: Triage
    answering: Answering
    ingestion: Ingestion
    jobs: Jobs
    versions: IndexVersions
    documents: Documents
    editorial: Editorial
    gate: Gate
    regressions: RegressionSet
    nudges: FeedbackNudges
    tuning: ModelTuning


def build(settings: Settings, embedder: Embedder | None = None) -> Services:
    """Return the services of the knowledge base under ``settings.home``.

    ``embedder`` (tests, benchmarks) is used whatever the content; otherwise the model is
    chosen as :class:`EmbeddingModels` says. Nothing is loaded or opened until first used.
    """
    models = EmbeddingModels(settings, embedder)
    stores = Stores(settings.store)
    nudges = FeedbackNudges(settings, stores)
    retrieval = Retrieval(settings, models, nudges)
    generators = Generators(settings, models)
    triage = Triage(settings, models)
    answering = Answering(settings, retrieval, generators, triage, stores)
    gate = Gate(settings, stores, retrieval, answering)
    ingestion = Ingestion(settings, models, stores, retrieval, gate)
    return Services(
        settings=settings,
        models=models,
        stores=stores,
        retrieval=retrieval,
        generators=generators,
        triage=triage,
        answering=answering,
        ingestion=ingestion,
        jobs=Jobs(settings, stores, ingestion),
        versions=IndexVersions(settings, stores, retrieval),
        documents=Documents(settings, stores, retrieval),
        editorial=Editorial(settings, stores, retrieval, models, generators),
        gate=gate,
        regressions=RegressionSet(settings, stores, retrieval, answering),
        nudges=nudges,
        tuning=ModelTuning(settings, stores, models, retrieval, ingestion, gate),
    )
