"""The embedding model from the command line: ``kb tune``, ``kb model list|rollback`` (see
:mod:`kb.usecases.tuning`)."""

from __future__ import annotations

import json
from typing import Any

import click

from kb.cli.group import cli, knowledge_base
from kb.tuning import MIN_TRAIN
from kb.usecases.tuning import MAX_PAIRS, MIN_GAIN, MIN_REGRESSIONS, TuneOptions


@cli.command("tune")
@click.option(
    "--max-pairs",
    type=click.IntRange(MIN_TRAIN, 100_000),
    default=MAX_PAIRS,
    show_default=True,
    help="Training pairs at most (about 0.2 s each on 2 cores).",
)
@click.option(
    "--epochs",
    type=click.IntRange(1, 10),
    default=1,
    show_default=True,
    help="Passes over the training pairs.",
)
@click.option(
    "--min-gain",
    type=click.FloatRange(0.0, 1.0),
    default=MIN_GAIN,
    show_default=True,
    help="Held-out MRR@10 the tuned model must add.",
)
@click.option(
    "--min-regressions",
    type=click.IntRange(0, 100_000),
    default=MIN_REGRESSIONS,
    show_default=True,
    help="Regression questions the tuned model must be checked on before it is served"
    " (0 serves it on the held-out pairs alone).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def tune(ctx: click.Context, max_pairs: int, epochs: int, min_gain: float, min_regressions: int,
         as_json: bool) -> None:  # fmt: skip
    """Fine-tune the embedding model on this knowledge base's own pairs.

    Pairs are its pages' titles and headings with their text, resolved tickets, and questions
    customers rated helpful with the passage cited. A fifth of the documents is held out; the
    tuned model is served only if it finds their passages better than the served model does
    and answers at least --min-regressions regression questions no worse. Exits 3 when it is
    not promoted.
    """
    kb = knowledge_base(ctx)
    options = TuneOptions(max_pairs, epochs, min_gain, min_regressions)
    report = kb.tuning.tune(options, say=lambda line: click.echo(line, err=True),
                            progress=not as_json)  # fmt: skip
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        before, after = report.before, report.after
        assert before is not None and after is not None
        click.echo(f"held-out pairs ({report.held_out}): {report.tuned_from} {before.line()}")
        click.echo(f"{'':>{len(str(report.held_out)) + 19}}{report.model} {after.line()}")
        if report.gate and report.gate.get("before") and report.gate.get("after"):
            b, a = report.gate["before"], report.gate["after"]
            click.echo(f"regression questions ({a['questions']}): hit@5 {b['hit_at_5']:.3f} →"
                       f" {a['hit_at_5']:.3f}, right citations {b['right_citation']:.3f} →"
                       f" {a['right_citation']:.3f}")  # fmt: skip
        seconds = ", ".join(f"{k} {v:.0f} s" for k, v in report.seconds.items())
        verdict = "promoted" if report.promoted else "not promoted"
        click.echo(f"{report.model}: {verdict} ({report.reason}); {seconds}")
    if not report.promoted:
        ctx.exit(3)


@cli.group("model")
def model_group() -> None:
    """The embedding model's versions: the tuned ones, and rolling back."""


def _figures(record: dict[str, Any]) -> str:
    report = record.get("report") or {}
    before, after = report.get("before") or {}, report.get("after") or {}
    if "mrr_at_10" not in before or "mrr_at_10" not in after:
        return ""
    return f"held-out MRR@10 {before['mrr_at_10']:.3f} → {after['mrr_at_10']:.3f}"


@model_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def model_list(ctx: click.Context, as_json: bool) -> None:
    """List the tuned models, oldest first, and which model is served."""
    found, served = knowledge_base(ctx).tuning.list()
    if as_json:
        click.echo(json.dumps({"served": served, "tuned": found}, indent=2, ensure_ascii=False))
        return
    click.echo(f"served: {served or 'nothing yet'}")
    if not found:
        click.echo("No tuned models yet: `kb tune`.")
    for r in found:
        mark = "*" if r["name"] == served else " "
        status = "serving" if r["name"] == served else r.get("status", "?")
        click.echo(f"{mark} {r['name']}  {str(r.get('created_at', ''))[:16]}  {status}"
                   f"  {r.get('train', 0)} pairs  {_figures(r)}")  # fmt: skip


@model_group.command("rollback")
@click.option("--to", "to", default=None, help="The model to serve (default: the one replaced).")
@click.pass_context
def model_rollback(ctx: click.Context, to: str | None) -> None:
    """Serve the model the served tuned model replaced (or --to MODEL) again.

    A snapshot is built with it from the store; passages it embedded before are not embedded
    again.
    """
    old, new, embedded = knowledge_base(ctx).tuning.rollback(to, progress=True)
    click.echo(f"Rolled back {old}: {new} serves now ({embedded} passages embedded).")
