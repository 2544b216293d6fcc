"""Shared fixtures: the real embedding model (loaded once), real SQLite files, the demo KB."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.embedding import Embedder, load_embedder
from kb.config import Settings, load_settings
from kb.usecases.bootstrap import Services, build
from tests.servers import PostgreSQL, Redis, postgresql_bin
from web import create_app

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo" / "helpcentre"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2 model, loaded once per test session."""
    return load_embedder("all-MiniLM-L6-v2")


@pytest.fixture(scope="session", autouse=True)
def shared_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One ONNX export for the whole session (KB_MODEL_CACHE), not one per test's KB_HOME."""
    cache = tmp_path_factory.mktemp("models")
    previous = os.environ.get("KB_MODEL_CACHE")
    os.environ["KB_MODEL_CACHE"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("KB_MODEL_CACHE", None)
    else:
        os.environ["KB_MODEL_CACHE"] = previous


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgreSQL]:
    """A real PostgreSQL server from Debian's package, for the whole session."""
    if postgresql_bin() is None:
        pytest.skip("PostgreSQL is not installed (make test installs it where it may)")
    server = PostgreSQL()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    """A real redis-server from Debian's package, for the whole session."""
    if shutil.which("redis-server") is None:
        pytest.skip("Redis is not installed (make test installs it where it may)")
    server = Redis()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: Redis) -> str:
    """A Redis database for one test, emptied first."""
    import redis

    url = redis_server.url()
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a store test keeps its store: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "kb.sqlite3"
    server: PostgreSQL = request.getfixturevalue("postgresql_server")
    return server.database()


@pytest.fixture
def settings(tmp_path: Path, shared_model_cache: Path) -> Settings:
    """Settings with a fresh data directory."""
    return load_settings({"home": tmp_path / "home", "model_cache": shared_model_cache}, environ={})


@pytest.fixture
def kb(settings: Settings, embedder: Embedder) -> Services:
    """An empty knowledge base in a fresh data directory."""
    return build(settings, embedder=embedder)


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A data directory with the bundled demo help centre ingested (read-only for tests)."""
    home = tmp_path_factory.mktemp("demo-home")
    build(load_settings({"home": home}), embedder=embedder).ingestion.ingest([str(DEMO)])
    # Shared by many tests, so nothing they ask is logged into it; tests of the query log
    # copy it and turn the log on.
    (home / "kb.toml").write_text("query_log = false\n")
    return home


@pytest.fixture
def demo_kb(demo_home: Path, embedder: Embedder) -> Services:
    """The demo knowledge base."""
    return build(load_settings({"home": demo_home}), embedder=embedder)


@pytest.fixture
def client(demo_home: Path, embedder: Embedder):
    """A Flask test client over the demo knowledge base."""
    app = create_app({"home": demo_home})
    return app.test_client()
