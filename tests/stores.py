"""Reading a knowledge base's SQLite store directly, as a test checking what was stored."""

import sqlite3
from pathlib import Path


def feedback_rows(home: Path) -> list[dict]:
    """Every feedback row, oldest first."""
    conn = sqlite3.connect(home / "kb.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM feedback ORDER BY id")]
    finally:
        conn.close()


def rating_rows(home: Path) -> list[dict]:
    """Every satisfaction rating, oldest first."""
    conn = sqlite3.connect(home / "kb.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM ratings ORDER BY id")]
    finally:
        conn.close()
