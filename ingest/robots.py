"""robots.txt rules for one host, pure once fetched: allowed paths, crawl delay, sitemaps."""

from __future__ import annotations

from contextlib import suppress
from urllib.robotparser import RobotFileParser

MAX_DELAY = 30.0


class Robots:
    """The rules of one robots.txt for one user agent."""

    def __init__(self, text: str | None, user_agent: str, *, allow_all: bool = True) -> None:
        self.user_agent = user_agent
        self._parser: RobotFileParser | None = None
        self._allow_all = allow_all
        self._delay = 0.0
        # A site may ask for a delay, not stall a crawl: at most MAX_DELAY between requests.
        if text is not None:
            parser = RobotFileParser()
            parser.parse(text.splitlines())
            self._parser = parser
            self._delay = min(crawl_delay(text, user_agent), MAX_DELAY)

    @classmethod
    def unavailable(cls, user_agent: str) -> Robots:
        """Rules for a host whose robots.txt failed with a server error: fetch nothing."""
        return cls(None, user_agent, allow_all=False)

    def allowed(self, url: str) -> bool:
        """Return whether the user agent may fetch ``url``."""
        if self._parser is None:
            return self._allow_all
        return self._parser.can_fetch(self.user_agent, url)

    def sitemaps(self) -> tuple[str, ...]:
        """Return the sitemap URLs the robots.txt lists (``Sitemap:`` lines), in order."""
        found = self._parser.site_maps() if self._parser else None
        return tuple(dict.fromkeys(url.strip() for url in found or () if url.strip()))

    def crawl_delay(self) -> float:
        """Return the delay between requests the site asks of this user agent, in seconds."""
        return self._delay


def crawl_delay(text: str, user_agent: str) -> float:
    """Return the Crawl-delay of the group for ``user_agent`` (else ``*``); fractions allowed.

    The standard library's parser accepts only whole seconds, and "Crawl-delay: 0.5" is common.
    """
    token = user_agent.split("/")[0].strip().lower()
    groups: list[tuple[list[str], float | None]] = []
    agents: list[str] = []
    delay: float | None = None
    in_rules = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if in_rules:
                groups.append((agents, delay))
                agents, delay, in_rules = [], None, False
            agents.append(value.lower())
        elif key and agents:
            in_rules = True
            if key == "crawl-delay":
                with suppress(ValueError):
                    delay = max(float(value), 0.0)
    if agents:
        groups.append((agents, delay))
    for specific in (True, False):
        for names, found in groups:
            if any((a != "*" and a in token) if specific else a == "*" for a in names):
                return found or 0.0
    return 0.0
