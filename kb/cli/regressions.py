"""Regression questions from the command line: ``kb regressions list|add|edit|retire|import``
(see :mod:`kb.usecases.regressions`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kb.cli.group import cli, knowledge_base
from kb.regressions import RegressionQuestion


@cli.group("regressions")
def regressions_group() -> None:
    """Questions with their right pages: every new snapshot must answer them as well."""


def _line(q: RegressionQuestion) -> str:
    retired = " (retired)" if q.status != "active" else ""
    return f"#{q.id} [{q.origin}]{retired} {q.question!r} → {', '.join(q.pages)}"


@regressions_group.command("list")
@click.option("--all", "everything", is_flag=True, help="Retired questions too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def regressions_list(ctx: click.Context, everything: bool, as_json: bool) -> None:
    """List the regression questions, oldest first."""
    questions = knowledge_base(ctx).regressions.questions(None if everything else "active")
    if as_json:
        click.echo(json.dumps([q.to_dict() for q in questions], indent=2, ensure_ascii=False))
        return
    if not questions:
        click.echo("No regression questions yet: `kb regressions add QUESTION --page ID`.")
    for q in questions:
        click.echo(_line(q))


@regressions_group.command("add")
@click.argument("question")
@click.option(
    "--page",
    "pages",
    multiple=True,
    required=True,
    help="A document that answers it: its id, kb's link or its URL (repeatable).",
)
@click.option("--note", default="", help="Why the question matters.")
@click.pass_context
def regressions_add(ctx: click.Context, question: str, pages: tuple[str, ...], note: str) -> None:
    """Add QUESTION, answered by the --page documents."""
    made = knowledge_base(ctx).regressions.add(question, list(pages), note=note)
    if made is not None:
        click.echo(f"Added {_line(made)}")


@regressions_group.command("edit")
@click.argument("question_id", type=int)
@click.option("--question", default=None, help="The question's new text.")
@click.option("--page", "pages", multiple=True, help="Its pages, replacing the old (repeatable).")
@click.option("--note", default=None, help="A new note.")
@click.option("--restore", is_flag=True, help="Make a retired question active again.")
@click.pass_context
def regressions_edit(ctx: click.Context, question_id: int, question: str | None,
                     pages: tuple[str, ...], note: str | None, restore: bool) -> None:  # fmt: skip
    """Change question QUESTION_ID."""
    edited = knowledge_base(ctx).regressions.edit(
        question_id, question=question, pages=list(pages) or None, note=note,
        status="active" if restore else None,
    )  # fmt: skip
    click.echo(f"Now {_line(edited)}")


@regressions_group.command("retire")
@click.argument("question_id", type=int)
@click.pass_context
def regressions_retire(ctx: click.Context, question_id: int) -> None:
    """Stop asking question QUESTION_ID (kept, and restored with `edit --restore`)."""
    retired = knowledge_base(ctx).regressions.edit(question_id, status="retired")
    click.echo(f"Retired {_line(retired)}")


@regressions_group.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.pass_context
def regressions_import(ctx: click.Context, path: Path) -> None:
    """Add the questions of a JSONL file ({"question", "pages": [ids or links], "id"?}) or of
    a help-centre set's folder (bench/helpcentres/gimp), whose pages are paths on the site."""
    added, skipped = knowledge_base(ctx).regressions.import_file(path)
    click.echo(f"Added {added} regression questions from {path.name}, {len(skipped)} skipped.")
    for reason in skipped[:20]:
        click.echo(f"  skipped {reason}")
