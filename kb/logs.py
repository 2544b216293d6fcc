"""Logging set-up: readable lines for people, or one JSON object per line for log pipelines.

``KB_LOG_FORMAT=json`` turns every record into ``{"time", "level", "logger", "message", …}``
with the fields a record carries as extras (``request_id``, ``method``, ``path``, ``status``,
``ms``). Nothing a customer typed is logged: the access log has paths, never query strings.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

EXTRAS = ("request_id", "method", "path", "status", "ms", "route", "version")


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in EXTRAS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    """Send kb's logs to standard error in ``fmt`` (text or json) at ``level``."""
    logger = logging.getLogger("kb")
    logger.setLevel(level.upper())
    if fmt == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.handlers = [handler]
        logger.propagate = False
