"""``kb serve``: the app under gunicorn (threads in each worker; the model loads once each)."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from kb.config import Settings
from kb.errors import KbError
from web import create_app

log = logging.getLogger("kb.web")


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        app = create_app(self.settings)
        # Each worker embeds on its share of the cores, before warm() makes its session.
        app.extensions["kb"].models.share_cores(self.settings.worker_count)
        warm(app)
        return app


def _child_exit(server: object, worker: Any) -> None:
    """Drop a finished worker's live gauges from the shared metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def warm(app: Flask) -> None:
    """Load the model and the index before the first request, if there is an index."""
    kb = app.extensions["kb"]
    try:
        searcher = kb.retrieval.searcher()
        searcher.search(searcher.query("warm up"), 1)
    except KbError as e:
        log.warning("%s", e.message)


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Serve until interrupted."""
    options = {
        "bind": f"{host}:{port}",
        "workers": settings.worker_count,
        "threads": settings.threads,
        "worker_class": "gthread",
        "timeout": 120,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        # Long queries are refused by the app in the JSON error shape, not by the server.
        "limit_request_line": 0,
        "child_exit": _child_exit,
    }
    print(f"Serving {settings.product_name} on http://{host}:{port}/", flush=True)
    _Server(settings, options).run()
