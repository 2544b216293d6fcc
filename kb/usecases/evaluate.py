"""``kb eval``: retrieval quality on a BEIR-style folder, through the code the API uses."""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from kb.config import SCRATCH, Settings
from kb.errors import SourceError
from kb.retrieval_metrics import score_run
from kb.usecases.bootstrap import build

METHODS = ("lexical", "dense", "hybrid")
ALL_METHODS = ("lexical", "dense", "rrf", "hybrid")


@dataclass(frozen=True)
class EvalSet:
    """A corpus, its queries and the relevance judgements (qrels)."""

    name: str
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, float]]


def load_beir(folder: Path) -> EvalSet:
    """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels.tsv`` (with a header)."""
    paths = {name: folder / name for name in ("corpus.jsonl", "queries.jsonl", "qrels.tsv")}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise SourceError(f"{folder} is not a BEIR-style folder: missing {', '.join(missing)}")
    queries: dict[str, str] = {}
    for number, line in enumerate(paths["queries.jsonl"].read_text("utf-8").splitlines(), 1):
        if line.strip():
            try:
                item = json.loads(line)
                queries[str(item["_id"] if "_id" in item else item["id"])] = str(item["text"])
            except (ValueError, KeyError, TypeError):
                raise SourceError(f"queries.jsonl:{number}: expected {{id, text}}") from None
    qrels: dict[str, dict[str, float]] = {}
    with paths["qrels.tsv"].open(encoding="utf-8") as f:
        rows = csv.reader(f, delimiter="\t")
        next(rows, None)
        for row in rows:
            if len(row) >= 3 and row[0] in queries:
                qrels.setdefault(row[0], {})[row[1]] = float(row[2])
    if not qrels:
        raise SourceError(f"{folder}: no judged queries in qrels.tsv")
    return EvalSet(folder.name, paths["corpus.jsonl"], queries, qrels)


def evaluate_answers(
    settings: Settings,
    evalset: EvalSet,
    out_of_scope: list[str] | None = None,
    *,
    home: Path | None = None,
) -> dict[str, float]:
    """Answer every judged query (and every out-of-scope one); return answer-quality rates.

    ``answered_relevant``: share of in-scope questions answered with at least one citation to a
    relevant document. ``citation_precision``: share of citations, over answered questions, that
    point at a relevant document; ``citation_recall``: share of relevant documents cited.
    """
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as scratch:
        kb = build(replace(settings, home=home or Path(scratch), config=None, **SCRATCH))
        kb.ingestion.ingest([str(evalset.corpus)])
        judged = [q for q in evalset.qrels if q in evalset.queries]
        answered_relevant = refused = cited = cited_relevant = relevant_found = relevant = 0
        for q in judged:
            answer = kb.answering.answer(evalset.queries[q])
            wanted = {d for d, grade in evalset.qrels[q].items() if grade > 0}
            docs = {c.doc_id for c in answer.citations}
            refused += answer.refused
            relevant += len(wanted)
            relevant_found += len(docs & wanted)
            cited += len(answer.citations)
            cited_relevant += sum(c.doc_id in wanted for c in answer.citations)
            answered_relevant += bool(docs & wanted) and not answer.refused
        n = max(len(judged), 1)
        result = {
            "answered_relevant": answered_relevant / n,
            "citation_precision": cited_relevant / cited if cited else 0.0,
            "citation_recall": relevant_found / relevant if relevant else 0.0,
            "refusal_rate_in_scope": refused / n,
        }
        if out_of_scope:
            refusals = sum(kb.answering.answer(q).refused for q in out_of_scope)
            result["refusal_rate_out_of_scope"] = refusals / len(out_of_scope)
        return result


def evaluate(
    settings: Settings,
    evalset: EvalSet,
    *,
    methods: tuple[str, ...] = METHODS,
    home: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Build a throw-away knowledge base of the corpus; return metrics per method."""
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as scratch:
        kb = build(replace(settings, home=home or Path(scratch), config=None, **SCRATCH))
        kb.ingestion.ingest([str(evalset.corpus)])
        judged = [q for q in evalset.qrels if q in evalset.queries]
        searcher = kb.retrieval.searcher()
        prepared = {q: searcher.query(evalset.queries[q]) for q in judged}
        results = {}
        for method in methods:
            if progress:
                progress(method)
            run = {q: [h.passage.doc_id for h in kb.retrieval.rank(prepared[q], 100, method)]
                   for q in judged}  # fmt: skip
            results[method] = score_run(run, evalset.qrels)
        return results
