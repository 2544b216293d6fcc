"""The layer contracts (pyproject.toml, checked by `make lint`) cover every module of kb/."""

import pkgutil
import tomllib
from pathlib import Path

import kb

ROOT = Path(__file__).resolve().parent.parent


def test_every_module_of_the_kb_core_is_held_to_the_core_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    core = next(c for c in config["contracts"] if c["name"].startswith("the kb core"))
    modules = {f"kb.{m.name}" for m in pkgutil.iter_modules(kb.__path__)}
    above = {"kb.usecases", "kb.cli"}
    assert above <= modules and set(core["forbidden_modules"]) >= above
    assert set(core["source_modules"]) == modules - above
