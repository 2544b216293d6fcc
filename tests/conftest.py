"""Shared fixtures: the real embedding model (loaded once), real SQLite files, the demo KB."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.embedding import Embedder, load_embedder
from kb.config import Settings, load_settings
from kb.service import KnowledgeBase
from web import create_app

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo" / "helpcentre"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2 model, loaded once per test session."""
    return load_embedder("all-MiniLM-L6-v2")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh data directory."""
    return load_settings({"home": tmp_path / "home"}, environ={})


@pytest.fixture
def kb(settings: Settings, embedder: Embedder) -> KnowledgeBase:
    """An empty knowledge base in a fresh data directory."""
    return KnowledgeBase(settings, embedder=embedder)


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A data directory with the bundled demo help centre ingested (read-only for tests)."""
    home = tmp_path_factory.mktemp("demo-home")
    KnowledgeBase(load_settings({"home": home}, environ={}), embedder=embedder).ingest([str(DEMO)])
    return home


@pytest.fixture
def demo_kb(demo_home: Path, embedder: Embedder) -> KnowledgeBase:
    """The demo knowledge base."""
    return KnowledgeBase(load_settings({"home": demo_home}, environ={}), embedder=embedder)


@pytest.fixture
def client(demo_home: Path, embedder: Embedder):
    """A Flask test client over the demo knowledge base."""
    app = create_app({"home": demo_home})
    return app.test_client()
