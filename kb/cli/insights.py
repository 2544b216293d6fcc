"""The editors' commands: ``kb insights …``, ``kb train-router``, ``kb eval-router``."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import click

from kb.cli.group import cli, knowledge_base
from kb.errors import InvalidInput, SourceError

FIELDS = ("queue", "priority")


@cli.group("insights")
def insights_group() -> None:
    """What tickets and the query log say the help centre should say."""


@insights_group.command("faq")
@click.argument("tickets", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--min-size", default=3, show_default=True, help="Smallest cluster to propose.")
@click.option("--top", default=15, show_default=True, help="Clusters to print.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def insights_faq(
    ctx: click.Context, tickets: tuple[Path, ...], min_size: int, top: int, as_json: bool
) -> None:
    """Cluster resolved tickets into FAQ candidates (ingesting TICKETS first, if given)."""
    kb = knowledge_base(ctx)
    if tickets:
        report = kb.ingestion.ingest([str(t) for t in tickets])
        if not as_json:
            click.echo(f"Ingested tickets: {report.summary()}")
    found = kb.editorial.mine_faqs(min_size=min_size)
    saved = {c.key: c for c in kb.editorial.candidates()}
    if as_json:
        items = [{**c.to_dict(), "id": saved[c.key].id, "status": saved[c.key].status}
                 for c in found]  # fmt: skip
        click.echo(json.dumps({"candidates": items}, ensure_ascii=False, indent=2))
        return
    uncovered = sum(not c.covered for c in found)
    click.echo(
        f"{len(found)} clusters of {min_size}+ tickets; {uncovered} not covered by an article"
    )
    for c in found[:top]:
        s = saved[c.key]
        where = f"covered by {c.article['title']!r}" if c.covered and c.article else "NOT COVERED"
        click.echo(f"#{s.id:<4} {c.size:>4} tickets  coverage {c.coverage:.2f}  {where}  "
                   f"[{c.lang or '?'} · {c.queue or '?'}] {s.status}")  # fmt: skip
        click.echo(f"      Q: {_line(c.question)}")
        click.echo(f"      A: {_line(c.answer)}")


def _line(text: str, n: int = 110) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


@insights_group.command("accept")
@click.argument("candidate", type=int)
@click.option("--question", help="The question as it should read.")
@click.option("--answer", help="The answer as it should read.")
@click.pass_context
def insights_accept(
    ctx: click.Context, candidate: int, question: str | None, answer: str | None
) -> None:
    """Publish a FAQ candidate as a document of kind faq (indexed on the next ingest)."""
    c = knowledge_base(ctx).editorial.decide(candidate, True, question, answer)
    click.echo(f"Accepted #{candidate} as {c.doc_id}; run kb ingest to index it.")


@insights_group.command("reject")
@click.argument("candidate", type=int)
@click.pass_context
def insights_reject(ctx: click.Context, candidate: int) -> None:
    """Reject a FAQ candidate: it is not proposed again."""
    knowledge_base(ctx).editorial.decide(candidate, False)
    click.echo(f"Rejected #{candidate}.")


@insights_group.command("gaps")
@click.option("--days", default=90, show_default=True, help="How far back to look.")
@click.option("--top", default=15, show_default=True, help="Gaps to print.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def insights_gaps(ctx: click.Context, days: int, top: int, as_json: bool) -> None:
    """What customers ask that kb refuses, answers unsure, or gets a thumbs-down for."""
    found = knowledge_base(ctx).editorial.gaps(days)
    if as_json:
        click.echo(json.dumps({"gaps": [g.to_dict() for g in found]}, ensure_ascii=False,
                              indent=2))  # fmt: skip
        return
    if not found:
        click.echo(f"No gaps in the last {days} days.")
    for g in found[:top]:
        why = ", ".join(f"{k} {v}" for k, v in sorted(g.reasons.items()))
        near = f"closest: {g.closest['title']}" if g.closest else "no close article"
        click.echo(f"{g.count:>4}× (score {g.score:.1f}, last {g.last_seen[:10]}) {g.question}")
        click.echo(f"      {why}; {near}")


@insights_group.command("trends")
@click.option("--weeks", default=12, show_default=True, help="Weeks to show.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)  # fmt: skip
@click.pass_context
def insights_trends(ctx: click.Context, weeks: int, fmt: str) -> None:
    """Weekly ticket volume by queue, sentiment and topic, with rising ones flagged; customer
    satisfaction (CSAT) by week and by topic."""
    from kb.trends import to_csv

    found = knowledge_base(ctx).editorial.trends(weeks)
    if fmt == "json":
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        click.echo(to_csv(found), nl=False)
        return
    if not found["weeks"]:
        click.echo("No dated tickets.")
    else:
        click.echo(f"Weeks {found['weeks'][0]} to {found['weeks'][-1]} (tickets per week)")
        for dimension, values in found["series"].items():
            click.echo(f"{dimension}:")
            for value, counts in list(values.items())[:8]:
                spark = " ".join(f"{c:>2}" for c in counts)
                click.echo(f"  {_line(value, 34):<34} {spark}  total {sum(counts)}")
    for r in found["rising"]:
        click.echo(f"RISING {r['dimension']} {r['value']!r}: {r['recent_per_week']:.1f}/week "
                   f"in the last 4 weeks, {r['before_per_week']:.1f} before")  # fmt: skip
    _satisfaction(found["csat"])


def _csat(c: dict[str, Any]) -> str:
    """A CSAT as a line's end: ratings, mean and satisfied share."""
    n, plural = c["ratings"], "" if c["ratings"] == 1 else "s"
    return f"{n:>4} rating{plural}, mean {c['mean']:.2f}, {c['satisfied']:.0%} satisfied"


def _satisfaction(csat: dict[str, Any]) -> None:
    """Print CSAT by week (the rated weeks) and by topic."""
    weeks = csat["weeks"]
    if not csat["overall"]["ratings"]:
        click.echo(f"Satisfaction, weeks {weeks[0]} to {weeks[-1]}: no ratings.")
        return
    click.echo(f"Satisfaction (ratings of 1 to 5; 4 and 5 are satisfied), weeks {weeks[0]} to "
               f"{weeks[-1]}: {_csat(csat['overall']).strip()}")  # fmt: skip
    click.echo("by week:")
    for w in csat["by_week"]:
        if w["ratings"]:
            click.echo(f"  {w['week']:<34} {_csat(w)}")
    click.echo("by topic:")
    for t in csat["by_topic"][:8]:
        click.echo(f"  {_line(t['topic'], 34):<34} {_csat(t)}")


@cli.command("export")
@click.argument("kind", type=click.Choice(["finetune", "pairs"]))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("export"),
              show_default=True, help="Folder to write to.")  # fmt: skip
@click.option("--validation", default=0.1, show_default=True, help="Share held out.")
@click.pass_context
def export_command(ctx: click.Context, kind: str, out: Path, validation: float) -> None:
    """Training data: chat-format JSONL (finetune) or query–passage pairs (pairs)."""
    from kb.usecases.export import export

    done = export(knowledge_base(ctx), kind, out, validation)
    by_source = ", ".join(f"{n} from {s}" for s, n in sorted(done["sources"].items()))
    click.echo(f"Wrote {done['train']} train and {done['validation']} validation examples to "
               f"{out}/{kind}-*.jsonl ({by_source or 'nothing to export'}).")  # fmt: skip


@cli.command("admin-key")
def admin_key() -> None:
    """Make an admin key: give the key to editors, put the hash in the server's environment."""
    from kb.secrets import hash_key, new_key

    key = new_key()
    click.echo(f"admin key (give it to editors; it is not stored): {key}")
    click.echo(f"KB_ADMIN_KEY_HASH='{hash_key(key)}'")


@cli.command("train-router")
@click.argument("tickets", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip
@click.option("--field", "fields", multiple=True, default=FIELDS, show_default=True,
              help="Label fields to learn (repeatable).")  # fmt: skip
@click.pass_context
def train_router(ctx: click.Context, tickets: tuple[Path, ...], fields: tuple[str, ...]) -> None:
    """Train the queue and priority router on labelled ticket exports, and serve it."""
    version, size = knowledge_base(ctx).triage.train(list(tickets), fields)
    click.echo(f"Trained router {version} on {size} tickets ({', '.join(fields)}).")


@cli.command("eval-router")
@click.option("--tickets", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A folder of labelled ticket exports (tickets_multilang).")  # fmt: skip
@click.option("--banking77", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The BANKING77 folder (train.jsonl, test.jsonl).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def eval_router(
    ctx: click.Context, tickets: Path | None, banking77: Path | None, as_json: bool
) -> None:
    """Held-out accuracy and macro-F1 of the router, with the TF-IDF baseline beside each."""
    from kb.router import evaluate_split

    if not tickets and not banking77:
        raise click.UsageError("give --tickets DIR, --banking77 DIR, or both")
    kb = knowledge_base(ctx)
    embedder, model = kb.models.query_embedder, kb.models.name
    results: dict[str, dict[str, float]] = {}
    if tickets:
        train, test = stratified_split(tickets)
        scores = evaluate_split(
            [e.text for e in train], [e.text for e in test],
            {f: [e.labels[f] for e in train] for f in FIELDS},
            {f: [e.labels[f] for e in test] for f in FIELDS}, embedder, model,
        )  # fmt: skip
        results.update({f"tickets_{f}": v for f, v in scores.items()})
    if banking77:
        train_rows, test_rows = (_jsonl(banking77 / f"{s}.jsonl") for s in ("train", "test"))
        scores = evaluate_split(
            [r["text"] for r in train_rows], [r["text"] for r in test_rows],
            {"intent": [r["label"] for r in train_rows]},
            {"intent": [r["label"] for r in test_rows]}, embedder, model,
        )  # fmt: skip
        results["banking77"] = scores["intent"]
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    click.echo(f"{'task':<18}{'accuracy':>10}{'macro-F1':>10}{'baseline acc':>14}"
               f"{'baseline F1':>13}{'test':>7}")  # fmt: skip
    for task, r in results.items():
        click.echo(f"{task:<18}{r['accuracy']:>10.3f}{r['macro_f1']:>10.3f}"
                   f"{r['baseline_accuracy']:>14.3f}{r['baseline_macro_f1']:>13.3f}"
                   f"{r['test_size']:>7}")  # fmt: skip
    click.echo("baseline: TF-IDF word 1-2 grams + logistic regression; "
               "kb: embeddings + TF-IDF words and characters + logistic regression")  # fmt: skip


def stratified_split(folder: Path, test_share: float = 0.2, seed: int = 0) -> tuple[list, list]:
    """Every labelled ticket in ``folder``'s exports, split by queue, 80/20, reproducibly."""
    from ingest.tickets import labelled_tickets

    seen, examples = set(), []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in {".jsonl", ".json", ".csv"}:
            try:
                found = labelled_tickets(path, FIELDS)
            except SourceError:
                continue  # not a ticket export (a stats or README file)
            for e in found:
                if e.text not in seen:  # the same ticket in two exports counts once
                    seen.add(e.text)
                    examples.append(e)
    if len(examples) < 20:
        raise InvalidInput(f"{folder}: fewer than 20 labelled tickets")
    by_queue: dict[str, list] = {}
    for e in examples:
        by_queue.setdefault(e.labels["queue"], []).append(e)
    rng = random.Random(seed)
    train, test = [], []
    for queue in sorted(by_queue):
        group = by_queue[queue]
        rng.shuffle(group)
        cut = round(len(group) * test_share) if len(group) >= 5 else 0
        test += group[:cut]
        train += group[cut:]
    return train, test


def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise InvalidInput(f"{path} is missing")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
