"""Progress bars for long work, on standard error, only when someone is watching."""

from __future__ import annotations

import sys
from types import TracebackType

from tqdm import tqdm


class Progress:
    """A counter that draws a bar when enabled and standard error is a terminal."""

    def __init__(self, label: str, *, enabled: bool, total: int | None = None) -> None:
        self.bar = None
        if enabled and sys.stderr.isatty():
            self.bar = tqdm(total=total, desc=label, unit="", leave=False, file=sys.stderr)

    def step(self, n: int = 1) -> None:
        """Advance by ``n``."""
        if self.bar is not None:
            self.bar.update(n)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.close()
