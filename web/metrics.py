"""``GET /metrics``: Prometheus exposition of kb's counters, histograms and gauges."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from kb.telemetry import multiprocess
from kb.usecases.bootstrap import Services
from web.openapi import Contract
from web.requests import get_kb

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class KnowledgeBaseCollector(Collector):
    """The served index version and the store's document and chunk counts, at scrape time."""

    def __init__(self, kb: Services) -> None:
        self.kb = kb

    def collect(self) -> Iterator[GaugeMetricFamily | InfoMetricFamily]:
        status = self.kb.documents.status()
        yield InfoMetricFamily("kb_index", "The index snapshot being served",
                               value={"version": status["index_version"] or "none"})  # fmt: skip
        yield GaugeMetricFamily("kb_documents", "Documents in the store", value=status["documents"])
        yield GaugeMetricFamily("kb_chunks", "Chunks in the store", value=status["chunks"])


def blueprint(contract: Contract) -> Blueprint:
    """Return the blueprint serving ``/metrics``."""
    bp = Blueprint("metrics", __name__)

    @bp.get("/metrics")
    @contract.operation(description="Metrics", media={200: {"text/plain": None}})
    def metrics() -> Response:
        """Every worker's samples (added up under a multi-process server), and the gauges."""
        if multiprocess():
            shared = CollectorRegistry()
            MultiProcessCollector(shared)
            body = generate_latest(shared)
        else:
            body = generate_latest(REGISTRY)
        gauges = CollectorRegistry()
        gauges.register(KnowledgeBaseCollector(get_kb()))
        return Response(body + generate_latest(gauges), content_type=CONTENT_TYPE)

    return bp
