"""The ``kb`` command line: ``kb.cli:main`` is its entry point."""

from kb.cli import (  # noqa: F401  (each registers its commands)
    commands,
    insights,
    keys,
    models,
    regressions,
)
from kb.cli.group import cli, main

__all__ = ["cli", "main"]
