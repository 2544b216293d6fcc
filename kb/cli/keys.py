"""Backend API keys from the command line: ``kb keys create|list|revoke`` (see :mod:`kb.keys`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from kb import keys
from kb.cli.group import cli, knowledge_base


def _rate_option(name: str, what: str, setting: str) -> Callable[[Any], Any]:
    return click.option(name, type=click.IntRange(0, keys.MAX_RATE), default=None,
                        help=f"{what} a minute, 0 for no limit (default: {setting}).")  # fmt: skip


@cli.group("keys")
def keys_group() -> None:
    """Backend API keys: a chatbot's server calls the API with limits of its own."""


@keys_group.command("create")
@click.option("--name", required=True, help="Who the key is for, e.g. support-bot.")
@_rate_option("--answers-per-minute", "Answers and routings", "KB_KEY_RATE_LIMIT_ANSWER")
@_rate_option("--searches-per-minute", "Searches and other calls", "KB_KEY_RATE_LIMIT")
@click.pass_context
def keys_create(
    ctx: click.Context, name: str, answers_per_minute: int | None, searches_per_minute: int | None
) -> None:
    """Make a key; print it (only the key, on standard output) once: it is not stored."""
    settings = knowledge_base(ctx).settings
    answers = settings.key_rate_limit_answer if answers_per_minute is None else answers_per_minute
    searches = settings.key_rate_limit if searches_per_minute is None else searches_per_minute
    with knowledge_base(ctx).stores.journal() as store:
        key, stored = keys.create_key(store, name, answers, searches)
    click.echo(key)
    click.echo(f"API key {stored.name!r} made: {_limits(stored)}. Send it as "
               "'Authorization: Bearer KEY'; it is shown only this once.", err=True)  # fmt: skip


def _limits(key: keys.ApiKey) -> str:
    def per_minute(n: int, what: str) -> str:
        return f"{n} {what}/min" if n else f"unlimited {what}"

    return (f"{per_minute(key.answers_per_minute, 'answers')}, "
            f"{per_minute(key.searches_per_minute, 'searches')}")  # fmt: skip


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def keys_list(ctx: click.Context, as_json: bool) -> None:
    """List the keys, live ones first (names and limits; the keys themselves are not kept)."""
    with knowledge_base(ctx).stores.journal() as store:
        found = keys.list_keys(store)
    if as_json:
        click.echo(json.dumps([k.to_dict() for k in found], indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("No API keys yet: kb keys create --name NAME")
    for k in found:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "live"
        click.echo(f"{k.name:<24} kbk_{k.key_id}_…  {_limits(k)}  created {k.created_at}  {state}")


@keys_group.command("revoke")
@click.argument("name")
@click.pass_context
def keys_revoke(ctx: click.Context, name: str) -> None:
    """Revoke the live key called NAME: its next request is refused (401)."""
    with knowledge_base(ctx).stores.journal() as store:
        keys.revoke_key(store, name)
    click.echo(f"Revoked {name!r}.")
