"""Benchmarks: programs that print figures (never timed asserts).

A bench is a client on loopback like any chatbot backend: it makes itself a backend API key
without limits (``kb keys create``) instead of switching the server's rate limits off, so what
it measures is the server as deployed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

KB = [sys.executable, "-c", "from kb.cli import main; main()"]


def bench_key(env: Mapping[str, str], name: str) -> dict[str, str]:
    """Make a backend key with no limits in ``env``'s KB_HOME; return the header that sends it."""
    made = subprocess.run([*KB, "keys", "create", "--name", name, "--answers-per-minute", "0",
                           "--searches-per-minute", "0"],
                          env=dict(env), capture_output=True, text=True, check=True)  # fmt: skip
    return {"Authorization": f"Bearer {made.stdout.strip()}"}


def revoke_bench_key(env: Mapping[str, str], name: str) -> None:
    """Revoke the key :func:`bench_key` made."""
    subprocess.run([*KB, "keys", "revoke", name], env=dict(env), capture_output=True, check=False)
