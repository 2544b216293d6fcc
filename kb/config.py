"""Settings in layers: defaults in code, then a TOML file, then ``KB_*`` variables, then a dict.

Every setting is a field of :class:`Settings` with a one-line ``doc``; the README's settings
table is checked against these fields by ``tests/test_docs.py``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import ConfigError
from kb.secrets import valid_hash


def _s(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """Every knob kb has. Environment variable: ``KB_`` + the upper-case field name."""

    home: Path = _s(Path("var"), "Data directory: the SQLite store and index snapshots.")
    index_dir: Path | None = _s(
        None,
        "Where index snapshots are kept (default: `$KB_HOME/index`). A volume every replica"
        " mounts lets all of them serve what one ingests (it must rename atomically).",
    )
    database_url: str = _s(
        "",
        "The store's database: empty for the SQLite file under `home`; `postgresql://user:pass@"
        "host/db` to share one store between replicas.",
    )
    config: Path | None = _s(
        None, "TOML file of settings (default: `$KB_HOME/kb.toml` if present)."
    )
    embed_model: str = _s(
        "auto",
        "Embedding model: `auto` (chosen at ingest from the content's languages),"
        " `all-MiniLM-L6-v2` (bundled, English), `multilingual-e5-small` (extra `multilingual`)"
        " or a local sentence-transformers folder.",
    )
    query_backend: str = _s(
        "auto",
        "Query embedding: `onnx` (no torch when serving), `torch`, or `auto` (onnx if built).",
    )
    model_cache: Path | None = _s(None, "Where ONNX exports are kept (default: `$KB_HOME/models`).")
    llm_base_url: str = _s(
        "", "OpenAI-compatible endpoint for written answers; empty: extractive answers only."
    )
    llm_model: str = _s("", "Model name sent to the LLM endpoint.")
    llm_api_key: str = _s("", "API key for the LLM endpoint (falls back to OPENAI_API_KEY).")
    llm_timeout: float = _s(15.0, "Seconds an LLM answer may take before kb answers extractively.")
    llm_max_tokens: int = _s(400, "Most tokens an LLM answer may use.")
    llm_retries: int = _s(1, "Retries (with backoff) after a failed LLM request.")
    embed_batch_size: int = _s(32, "Passages embedded per batch during ingestion.")
    chunk_words: int = _s(150, "Target chunk size in words; chunks never cross a section.")
    crawl_concurrency: int = _s(4, "Requests a crawl has in flight at once.")
    crawl_delay: float = _s(0.0, "Seconds between requests to one host (robots.txt may ask more).")
    crawl_max_pages: int = _s(100_000, "Most pages one crawl fetches; past it nothing is removed.")
    crawl_max_depth: int = _s(25, "Most links followed from a start page or sitemap.")
    crawl_timeout: float = _s(20.0, "Seconds one page may take to arrive.")
    crawl_max_bytes: int = _s(5 * 1024 * 1024, "Largest page fetched, in bytes.")
    feedback_boost: float = _s(
        0.15,
        "Most a page's score moves up or down for questions like ones several customers voted"
        " on (0.15: 15%); 0: votes never move ranking.",
    )
    gate_margin: float = _s(
        0.05,
        "Largest drop in search hit@5 or right-citation rate on the regression questions a new"
        " snapshot may show and still be served (0.05: five questions in a hundred).",
    )
    max_file_bytes: int = _s(
        100 * 1024 * 1024,
        "Largest file ingested, in bytes: a PDF, Word file, sheet or export on disk, or a PDF or"
        " Word file a crawled page links to.",
    )
    user_agent: str = _s(
        "kb-crawler/0.1", "User agent the crawler sends and matches in robots.txt."
    )
    public_kinds: str = _s(
        "article,faq", "Document kinds search and answers draw on; tickets stay private."
    )
    context_fields: str = _s(
        "product,plan",
        "User-context fields (besides locale) that narrow and boost retrieval by document label.",
    )
    search_candidates: int = _s(100, "Passages each retriever contributes before fusion.")
    dense_weight: float = _s(
        0.8,
        "Weight of dense similarity (above chance) in the hybrid; BM25 over its query ceiling"
        " gets the rest.",
    )
    answer_passages: int = _s(4, "Passages given to the answer generator.")
    min_confidence: float = _s(
        0.4,
        "Below this probability that the cited page answers the question, /answer refuses.",
    )
    redis_url: str = _s(
        "",
        "Redis for rate limits (`redis://host:6379/0`), so workers and replicas share each"
        " client's count; empty: each process counts on its own.",
    )
    rate_limit: int = _s(300, "Searches and pages a client may request per minute (0: no limit).")
    rate_limit_answer: int = _s(
        30, "Answers and routings a client may ask for per minute (0: no limit)."
    )
    key_rate_limit: int = _s(
        6000, "Searches and pages a new backend API key may request per minute (0: no limit)."
    )
    key_rate_limit_answer: int = _s(
        600, "Answers and routings a new backend API key may ask for per minute (0: no limit)."
    )
    behind_proxy: bool = _s(
        False, "Trust X-Forwarded-For for the client's address (only behind your own proxy)."
    )
    frame_ancestors: str = _s(
        "",
        "Who may frame the pages (CSP frame-ancestors, e.g. https://shop.example); none by default",
    )
    query_log: bool = _s(True, "Record questions (redacted) for the gap report and the KPIs.")
    server_timing: bool = _s(
        False,
        "Send each response's stages (embedding, dense, lexical, …) in a `Server-Timing`"
        " header, as `make bench` reads them.",
    )
    admin_key_hash: str = _s(
        "", "Hash of the admin key (from `kb admin-key`); admin routes are shut without a key."
    )
    admin_key: str = _s("", "The admin key in plain text: for development only; prefer the hash.")
    escalation_contact: str = _s(
        "", "Where a refusal sends customers: a contact page URL or support e-mail address."
    )
    escalation_text: str = _s(
        "",
        "What a refusal tells customers about where to go next, shown as written; empty: kb's"
        " sentence naming the department and contact, in the question's language.",
    )
    max_query_chars: int = _s(1000, "Longest accepted query or question, in characters.")
    max_request_bytes: int = _s(65536, "Largest accepted request body, in bytes.")
    max_k: int = _s(50, "Largest `k` accepted by /search.")
    hnsw_threshold: int = _s(
        50_000, "Passages above which dense search uses an HNSW graph instead of exact search."
    )
    answer_unit_vectors: bool = _s(
        True,
        "Embed the sentences extractive answers are drawn from when a snapshot is built, so an"
        " answer embeds none (a first build up to twice as long, 768 bytes a sentence on disk);"
        " false: when a question needs them.",
    )
    index_keep: int = _s(5, "Index snapshots kept on disk for rollback, the served one included.")
    reload_interval: float = _s(1.0, "Seconds between checks for a new index snapshot.")
    host: str = _s("127.0.0.1", "Address `kb serve` binds to.")
    port: int = _s(8000, "Port `kb serve` listens on.")
    workers: int = _s(
        0,
        "Server worker processes for `kb serve`; 0: one per core (each embeds questions on its"
        " share of the cores).",
    )
    threads: int = _s(4, "Threads per server worker.")
    product_name: str = _s("Lumio Help Centre", "Name shown on the search page.")
    brand_color: str = _s(
        "#0b5cad", "Accent colour of the search page and widget (#rgb or #rrggbb)."
    )
    logo_url: str = _s("", "Logo shown on the search page: a URL or a path on this server.")
    cors_origins: str = _s(
        "", "Origins whose pages may call the API (the widget): a comma list, or * for any."
    )
    csat_page: bool = _s(
        True, "Ask for a 1–5 satisfaction rating (CSAT) under each answer on the search page."
    )
    csat_widget: bool = _s(
        False, "Ask for a 1–5 satisfaction rating (CSAT) under each answer in the widget."
    )
    log_level: str = _s("INFO", "Log level: DEBUG, INFO, WARNING or ERROR.")
    log_format: str = _s(
        "text", "Log format: text, or json (one object per line, with request ids)."
    )

    @property
    def worker_count(self) -> int:
        """Worker processes ``kb serve`` runs: ``workers``, or one per core when 0."""
        return self.workers or os.cpu_count() or 1

    @property
    def public(self) -> frozenset[str]:
        """The document kinds public search and answers draw on."""
        return frozenset(k.strip() for k in self.public_kinds.split(",") if k.strip())

    @property
    def context_keys(self) -> tuple[str, ...]:
        """The user-context fields matched against document labels."""
        return tuple(k.strip().lower() for k in self.context_fields.split(",") if k.strip())

    @property
    def store(self) -> str | Path:
        """Where the store is: the PostgreSQL URL when one is set, else the SQLite file."""
        return self.database_url or self.store_path

    @property
    def store_path(self) -> Path:
        """Path of the SQLite store."""
        return self.home / "kb.sqlite3"

    @property
    def models_dir(self) -> Path:
        """Directory of models derived locally from installed ones (ONNX exports)."""
        return self.model_cache or self.home / "models"

    @property
    def snapshots_dir(self) -> Path:
        """Directory holding the versioned index snapshots: ``index_dir``, else under ``home``."""
        return self.index_dir or self.home / "index"


# What a throwaway knowledge base (an evaluation's) must not share with the one it is made
# from: its store and snapshots stay under its own home.
SCRATCH: dict[str, Any] = {"index_dir": None, "database_url": ""}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def env_name(name: str) -> str:
    """Return the environment variable that sets field ``name``."""
    return "KB_" + name.upper()


def _coerce(name: str, value: Any) -> Any:
    kind = FIELDS[name].type
    try:
        if kind in ("Path", "Path | None"):
            return None if value in (None, "") else Path(value).expanduser()
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in ("1", "true", "yes", "on")
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name!r} must be of type {kind}, got {value!r}") from None


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings from defaults, the config file, ``KB_*`` variables and ``overrides``."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(FIELDS)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    from_env = {n: environ[env_name(n)] for n in FIELDS if env_name(n) in environ}

    layered: dict[str, Any] = {}
    home = Path(overrides.get("home") or from_env.get("home") or Settings.home)
    config = overrides.get("config") or from_env.get("config")
    path = Path(config) if config else home / "kb.toml"
    if config or path.is_file():
        layered.update(_read_toml(path))
    layered.update(from_env)
    layered.update(overrides)
    values = {name: _coerce(name, value) for name, value in layered.items()}
    settings = Settings(**values)
    _validate(settings)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ConfigError(f"unknown setting(s) in {path}: {', '.join(sorted(unknown))}")
    secrets = sorted(set(data) & SECRETS)
    if secrets:
        names = ", ".join(env_name(s) for s in secrets)
        raise ConfigError(f"{path} holds a secret ({names}): set it in the environment instead")
    return data


# Settings that are secrets: only from the environment, never from a file kb reads.
SECRETS = frozenset({"llm_api_key", "admin_key", "admin_key_hash"})


def _validate(s: Settings) -> None:
    checks = [
        (s.chunk_words >= 20, "chunk_words must be at least 20"),
        (s.max_file_bytes >= 1024, "max_file_bytes must be at least 1024"),
        (0.0 <= s.gate_margin <= 1.0, "gate_margin must be between 0 and 1"),
        (0.0 <= s.feedback_boost <= 1.0, "feedback_boost must be between 0 and 1"),
        (s.search_candidates >= 1, "search_candidates must be at least 1"),
        (0.0 <= s.dense_weight <= 1.0, "dense_weight must be between 0 and 1"),
        (0.0 <= s.min_confidence <= 1.0, "min_confidence must be between 0 and 1"),
        (s.answer_passages >= 1, "answer_passages must be at least 1"),
        (s.max_k >= 1, "max_k must be at least 1"),
        (s.log_format in ("text", "json"), "log_format must be text or json"),
        (
            not s.admin_key_hash or valid_hash(s.admin_key_hash),
            "admin_key_hash must be the line `kb admin-key` prints (scrypt$…)",
        ),
        (
            min(s.rate_limit, s.rate_limit_answer, s.key_rate_limit, s.key_rate_limit_answer) >= 0,
            "rate limits cannot be negative",
        ),
        (
            re.fullmatch(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?", s.brand_color) is not None,
            "brand_color must be a colour like #0b5cad",
        ),
        (s.index_keep >= 1, "index_keep must be at least 1"),
        (s.embed_batch_size >= 1, "embed_batch_size must be at least 1"),
        (s.workers >= 0 and s.threads >= 1, "workers must be 0 or more and threads at least 1"),
        (s.crawl_concurrency >= 1 and s.crawl_max_pages >= 1, "crawl limits must be at least 1"),
        (s.crawl_delay >= 0 and s.crawl_timeout > 0, "crawl_delay and crawl_timeout must be >= 0"),
        (s.llm_timeout > 0 and s.llm_max_tokens > 0 and s.llm_retries >= 0, "bad llm_* limits"),
        (not s.llm_base_url or bool(s.llm_model), "llm_model is required with llm_base_url"),
        (s.query_backend in ("auto", "onnx", "torch"), "query_backend must be auto, onnx or torch"),
        (s.log_level.upper() in LOG_LEVELS, f"log_level must be one of {', '.join(LOG_LEVELS)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
