"""The ``kb`` command: errors as one line (real subprocesses), the happy path in-process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli

FAQ = Path(__file__).parent / "fixtures" / "faq.jsonl"


def run_kb(*args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 120):
    environ = {**os.environ, "KB_HOME": str(home), **(env or {})}
    code = "from kb.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "args, env, message, code",
    [
        (["ingest", "/no/such/path"], {}, "kb: error: no such file or folder: /no/such/path", 1),
        (["search", ""], {}, "kb: error: query is empty", 1),
        (["search", "x" * 5000], {}, "kb: error: query is too long", 1),
        (["search", "hello"], {}, "kb: error: the knowledge base has no index yet", 1),
        (["index", "rollback", "v9"], {}, "kb: error: no index snapshot 'v9'", 1),
        (["search", "x"], {"KB_PORT": "abc"}, "kb: error: setting 'port' must be of type int", 2),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path, args, env, message, code):
    result = run_kb(*args, home=tmp_path, env=env)
    assert result.returncode == code
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_usage_errors_and_help(tmp_path):
    result = run_kb("search", home=tmp_path)
    assert result.returncode == 2 and "Missing argument 'QUERY'" in result.stderr
    assert "Traceback" not in result.stderr
    for command in ([], ["ingest"], ["search"], ["ask"], ["serve"], ["index"]):
        result = run_kb(*command, "--help", home=tmp_path)
        assert result.returncode == 0 and "Usage:" in result.stdout


def test_ingest_jsonl_then_search_json_keeps_ids(tmp_path, embedder):
    runner = CliRunner()
    home = str(tmp_path / "home")
    first = runner.invoke(cli, ["--home", home, "ingest", str(FAQ)])
    assert first.exit_code == 0, first.output
    assert "3 added" in first.output and "3 chunks embedded" in first.output
    again = runner.invoke(cli, ["--home", home, "ingest", str(FAQ)])
    assert "3 unchanged" in again.output and "Nothing changed." in again.output

    found = runner.invoke(cli, ["--home", home, "search", "can my dog get the flu", "--json"])
    hits = json.loads(found.output)["hits"]
    assert hits[0]["doc_id"] == "faq-pets"
    assert {h["doc_id"] for h in hits} <= {"faq-pets", "faq-masks", "faq-refund"}

    asked = runner.invoke(cli, ["--home", home, "ask", "when do I get my refund", "--json"])
    answer = json.loads(asked.output)
    assert answer["refused"] is False
    assert answer["citations"][0]["url"] == "https://travel.example/faq/refunds"

    listed = runner.invoke(cli, ["--home", home, "index", "list"])
    assert listed.output.startswith("* v000001")
    assert listed.output.rstrip().endswith("passages, all-MiniLM-L6-v2")  # the model it needs
