"""The ``kb`` commands that search, answer, ingest, serve, evaluate and manage indexes."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from index.versions import Drift
from kb.cli.group import cli, knowledge_base
from kb.database import HEAD
from kb.models import Filter, UserContext
from kb.text import snippet
from kb.usecases.bootstrap import Services
from kb.usecases.validation import user_context
from web.contract import Answer, Hit


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--map", "mapping", help="Ticket columns, e.g. subject=Title,body=Question.")
@click.option("--max-pages", type=click.IntRange(min=1), help="Most pages a crawl fetches.")
@click.option("--max-depth", type=click.IntRange(min=0), help="Most links followed from a start.")
@click.option("--delay", type=click.FloatRange(min=0), help="Seconds between requests to a host.")
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight at once.")
@click.option("--force", is_flag=True, help="Serve the new snapshot even if the gate holds it.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def ingest(
    ctx: click.Context,
    sources: tuple[str, ...],
    dry_run: bool,
    mapping: str | None,
    max_pages: int | None,
    max_depth: int | None,
    delay: float | None,
    concurrency: int | None,
    force: bool,
    as_json: bool,
) -> None:
    """Ingest a help centre, documents, FAQ sheets or past tickets.

    SOURCES are folders or files of HTML, Markdown, PDF or Word (.docx), FAQ sheets (.xlsx,
    .csv), help-centre exports (.json), JSONL documents ({"id", "title", "text", "url"?}),
    ticket exports (.csv, .json, .jsonl), or http(s) URLs of pages or sitemaps to crawl.
    A new snapshot is served only if it does as well on the regression questions as the one
    served (see `kb regressions`), or with --force.
    """
    kb = knowledge_base(ctx)
    options = kb.ingestion.options(dry_run=dry_run)
    limits: dict[str, Any] = {
        k: v
        for k, v in {
            "max_pages": max_pages,
            "max_depth": max_depth,
            "delay": delay,
            "concurrency": concurrency,
        }.items()  # fmt: skip
        if v is not None
    }
    if limits:
        options = replace(options, limits=replace(options.limits, **limits))
    if mapping:
        from ingest.tickets import parse_mapping

        options = replace(options, mapping=parse_mapping(mapping))
    report = kb.ingestion.ingest(list(sources), progress=not as_json, options=options, force=force)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(f"Ingested {', '.join(sources)}: {report.summary()}")
    if model_line := report.model_line():
        click.echo(f"  {model_line}")
    if report.redactions:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.redactions.items()))
        click.echo(f"  redacted: {counts}")
    for label, items in (
        ("failed", report.failed),
        ("skipped", report.skipped),
        ("renamed", report.renamed),
    ):
        for where, reason in items[:15]:
            click.echo(f"  {label} {where}: {reason}")
        if len(items) > 15:
            click.echo(f"  … and {len(items) - 15} more {label}")
    if report.gate is not None and (report.gate["status"] != "passed" or report.gate["after"]):
        click.echo(f"  {gate_line(report.gate)}")  # quiet when there was nothing to compare
        for broken in report.gate.get("broken", [])[:10] if report.held_back else []:
            click.echo(f"    #{broken['id']} {broken['question'][:70]!r}: {broken['why']}")
    if not report.dry_run and not report.changed and not report.index_changed:
        click.echo("Nothing changed.")


def gate_line(gate: dict[str, Any]) -> str:
    """One line on the evaluation gate's verdict in an ingest report."""
    version, status = gate["version"], gate["status"]
    if status == "held":
        return (f"{version} held back, not served: {gate['reason']}. Serve it anyway with"
                f" `kb index promote {version}`.")  # fmt: skip
    if status == "forced":
        return f"{version} served with --force although the gate would hold it: {gate['reason']}"
    return f"evaluation gate passed: {gate['reason']}"


CONTEXT_HELP = "The user's FIELD=VALUE: product, plan, locale (repeatable)."


@cli.command()
@click.argument("query")
@click.option("--k", "k", default=10, show_default=True, help="Number of documents.")
@click.option("--kind", multiple=True, help="Only these document kinds (repeatable).")
@click.option("--lang", multiple=True, help="Only these languages, e.g. en (repeatable).")
@click.option("--meta", multiple=True, help="Only documents whose FIELD=VALUE (repeatable).")
@click.option("--context", "context", multiple=True, help=CONTEXT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search(
    ctx: click.Context,
    query: str,
    k: int,
    kind: tuple[str, ...],
    lang: tuple[str, ...],
    meta: tuple[str, ...],
    context: tuple[str, ...],
    as_json: bool,
) -> None:
    """Search the knowledge base: the best section of each matching document."""
    pairs = _pairs(meta, "--meta")
    where = None
    if kind or lang or pairs:
        where = Filter(
            kinds=frozenset(kind) or None, langs=frozenset(lang) or None, meta=tuple(sorted(pairs))
        )
    kb = knowledge_base(ctx)
    hits = kb.retrieval.search(query, k, where=where, context=_context(kb, context))
    if as_json:
        found = [Hit.of(h).model_dump() for h in hits]
        click.echo(json.dumps({"hits": found}, ensure_ascii=False, indent=2))
        return
    if not hits:
        click.echo("No results.")
    for i, h in enumerate(hits, 1):
        p = h.passage
        section = f" › {p.section}" if p.section and p.section != p.title else ""
        click.echo(f"{i:2}. {p.title}{section}  ({h.score:.3f})")
        click.echo(f"    {p.url}")
        click.echo(f"    {snippet(p.text)}")


def _pairs(items: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        field, sep, value = item.partition("=")
        if not sep or not field:
            raise click.BadParameter(f"{item!r} is not FIELD=VALUE", param_hint=option)
        pairs.append((field, value))
    return pairs


def _context(kb: Services, items: tuple[str, ...]) -> UserContext:
    raw = dict(_pairs(items, "--context"))
    return user_context(raw or None, kb.settings.context_keys)


@cli.command()
@click.argument("question")
@click.option("--context", "context", multiple=True, help=CONTEXT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def ask(ctx: click.Context, question: str, context: tuple[str, ...], as_json: bool) -> None:
    """Answer a question with numbered citations, or say it is not in the help centre."""
    kb = knowledge_base(ctx)
    answer = kb.answering.answer(question, context=_context(kb, context))
    if as_json:
        click.echo(json.dumps(Answer.of(answer).model_dump(), ensure_ascii=False, indent=2))
        return
    click.echo(answer.text)
    click.echo()
    for c in answer.citations:
        click.echo(f"[{c.number}] {c.title} › {c.section}\n    {c.url}")
    if answer.refused:
        for h in answer.related:
            click.echo(f"  - {h.passage.title}: {h.passage.url}")
    click.echo(f"confidence {answer.confidence:.2f}")


@cli.command()
@click.option("--host", default=None, help="Address to bind (KB_HOST).")
@click.option("--port", default=None, type=int, help="Port (KB_PORT).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the search page and the JSON API."""
    settings = knowledge_base(ctx).settings
    if settings.worker_count > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Metrics shared between workers must be set up before anything creates one, so
        # start again with the directory they share in the environment.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kb-metrics-")
        os.execv(sys.executable, [sys.executable, "-c", "from kb.cli import main; main()",
                                  *sys.argv[1:]])  # fmt: skip
    from web.server import serve as run_server

    run_server(settings, host=host or settings.host, port=port or settings.port)


@cli.command("eval")
@click.argument("dataset", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option("--rrf", "with_rrf", is_flag=True, help="Also equal-weight RRF, for comparison.")
@click.option("--answers", is_flag=True, help="Measure answers (citations, refusals) instead.")
@click.option(
    "--out-of-scope",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --answers: a file of questions the corpus cannot answer, one per line.",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --answers on a help centre: keep its knowledge base here for the next run.",
)
@click.option(
    "--details",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --answers on a help centre: write every question's outcome here (JSONL).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def eval_command(
    ctx: click.Context,
    dataset: Path | None,
    with_rrf: bool,
    answers: bool,
    out_of_scope: Path | None,
    keep: Path | None,
    details: Path | None,
    as_json: bool,
) -> None:
    """Measure retrieval on a BEIR-style folder: BM25 alone, dense alone and the hybrid.

    With --answers, measure answers instead: on a BEIR-style folder, or on a help-centre set
    (a folder with eval.toml, questions.jsonl and off_topic.txt; the README describes it), or,
    with no folder, on this knowledge base's regression questions.
    """
    from kb.usecases.evaluate import ALL_METHODS, METHODS, evaluate, evaluate_answers, load_beir
    from kb.usecases.helpcentre_eval import is_helpcentre_set

    if out_of_scope and not answers:
        raise click.UsageError("--out-of-scope goes with --answers")
    if dataset is None:
        if not answers:
            raise click.UsageError("give a DATASET folder, or --answers for the regression set")
        _eval_regressions(ctx, details, as_json)
        return
    if answers and is_helpcentre_set(dataset):
        _eval_helpcentre(ctx, dataset, keep, details, as_json)
        return
    evalset = load_beir(dataset)
    if answers:
        questions = None
        if out_of_scope:
            lines = out_of_scope.read_text(encoding="utf-8").splitlines()
            questions = [line.strip() for line in lines if line.strip()]
        report = evaluate_answers(knowledge_base(ctx).settings, evalset, questions)
        if as_json:
            click.echo(json.dumps({"dataset": evalset.name, "answers": report}, indent=2))
        else:
            click.echo(f"{evalset.name}: {len(evalset.qrels)} judged queries, extractive answers")
            for name, value in report.items():
                click.echo(f"  {name:<26} {value:.3f}")
        return
    results = evaluate(
        knowledge_base(ctx).settings, evalset, methods=ALL_METHODS if with_rrf else METHODS
    )
    if as_json:
        click.echo(json.dumps({"dataset": evalset.name, "methods": results}, indent=2))
        return
    names = list(next(iter(results.values())))
    click.echo(f"{evalset.name}: {len(evalset.qrels)} judged queries")
    click.echo(f"{'method':<9}" + "".join(f"{n:>11}" for n in names))
    for method, metrics in results.items():
        click.echo(f"{method:<9}" + "".join(f"{metrics[n]:>11.3f}" for n in names))


def _eval_regressions(ctx: click.Context, details: Path | None, as_json: bool) -> None:
    """Ask the regression questions of the served snapshot, print the figures."""
    from dataclasses import asdict

    scores = knowledge_base(ctx).regressions.score()
    if details:
        details.write_text("".join(json.dumps(asdict(o), ensure_ascii=False) + "\n"
                                   for o in scores.outcomes), encoding="utf-8")  # fmt: skip
    if as_json:
        click.echo(json.dumps(scores.figures(), indent=2))
        return
    noun = "question" if scores.questions == 1 else "questions"
    click.echo(f"regression questions on {scores.version}: {scores.questions} {noun},"
               " extractive answers")  # fmt: skip
    click.echo(f"  {'search hit@5':<26} {scores.hit_at_5:.3f}")
    click.echo(f"  {'answered, right citation':<26} {scores.right_citation:.3f}")
    for o in scores.outcomes:
        if o.why:
            click.echo(f"  #{o.id} {o.question[:70]!r}: {o.why}")


def _eval_helpcentre(
    ctx: click.Context, folder: Path, keep: Path | None, details: Path | None, as_json: bool
) -> None:
    """Crawl a help-centre set's source, ask its questions, print the figures."""
    from dataclasses import asdict

    from kb.usecases.helpcentre_eval import evaluate_helpcentre, format_report, load_helpcentre_set

    evalset = load_helpcentre_set(folder)
    settings = knowledge_base(ctx).settings
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as scratch:
        report = evaluate_helpcentre(settings, evalset, home=keep or Path(scratch))
    if details:
        details.write_text(
            "".join(json.dumps(asdict(o), ensure_ascii=False) + "\n" for o in report.outcomes),
            encoding="utf-8",
        )
    if as_json:
        click.echo(json.dumps({"dataset": evalset.name, **report.figures()}, indent=2))
    else:
        click.echo(format_report(report))


@cli.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Bring the store's schema up to date, and say which revision it is at.

    kb does this itself when a process first opens the store; run it before rolling out a new
    version so that no replica waits on it.
    """
    kb = knowledge_base(ctx)
    with kb.stores.open() as store:
        click.echo(f"The store ({store.engine.dialect.name}) is at schema revision {HEAD}.")


@cli.group("index")
def index_group() -> None:
    """List index snapshots, roll back to an earlier one, promote one the gate held back."""


@index_group.command("list")
@click.pass_context
def index_list(ctx: click.Context) -> None:
    """List the index snapshots on disk; * marks the one served, and the gate's verdicts."""
    kb = knowledge_base(ctx)
    manifests, current = kb.versions.list()
    if not manifests:
        click.echo("No index snapshots yet: run `kb ingest`.")
    held = {g.version: g for g in kb.gate.held()}
    for m in manifests:
        mark = "*" if m.version == current else " "
        note = f"  held back: {held[m.version].verdict['reason']}" if m.version in held else ""
        click.echo(
            f"{mark} {m.version}  {m.created_at}  {m.documents} documents, {m.passages} passages,"
            f" {m.model}" + note
        )


@index_group.command("promote")
@click.argument("version")
@click.pass_context
def index_promote(ctx: click.Context, version: str) -> None:
    """Serve snapshot VERSION, which the evaluation gate held back."""
    _now_serving(version, knowledge_base(ctx).versions.promote(version))


@index_group.command("rollback")
@click.argument("version")
@click.pass_context
def index_rollback(ctx: click.Context, version: str) -> None:
    """Serve snapshot VERSION from now on."""
    _now_serving(version, knowledge_base(ctx).versions.rollback(version))


def _now_serving(version: str, changes: Drift) -> None:
    click.echo(f"Now serving {version}.")
    if changes:
        click.echo(f"kb: warning: {changes.summary(version)}", err=True)
