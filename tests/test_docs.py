"""The README documents every setting and opens with the two commands."""

import dataclasses
from pathlib import Path

from kb.config import Settings, env_name

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [
        env_name(f.name)
        for f in dataclasses.fields(Settings)
        if f"| `{env_name(f.name)}` |" not in README
    ]
    assert missing == []


def test_every_setting_has_a_docstring():
    assert all(f.metadata.get("doc") for f in dataclasses.fields(Settings))


def test_readme_opens_with_run_and_test():
    opening = "\n".join(README.splitlines()[:12])
    assert "make run" in opening and "make test" in opening
