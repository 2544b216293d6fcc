"""The ``kb`` command line: ``kb.cli:main`` is its entry point."""

from kb.cli import commands, insights, keys, regressions  # noqa: F401  (each registers its commands)
from kb.cli.group import cli, main

__all__ = ["cli", "main"]
