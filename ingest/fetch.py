"""Fetching over HTTP. The only module in kb that talks to web servers.

``Fetcher.get`` is the one-method interface; :class:`HttpFetcher` is the real implementation.
Redirects are returned, not followed, so the crawler can check scope and loops itself.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from ingest.compression import inflate

USER_AGENT = "kb-crawler/0.1"


@dataclass(frozen=True)
class Response:
    """What a server answered: status, headers (lower-case names) and the body."""

    url: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str:
        """The media type, without parameters."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        """The charset the server declared, if any."""
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'")
        return None


class FetchError(Exception):
    """A page could not be fetched: timeout, refused connection, too large…"""


class Fetcher(ABC):
    """Gets one URL."""

    @abstractmethod
    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        """Return the server's response to GET ``url``; raise :class:`FetchError` on failure."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class HttpFetcher(Fetcher):
    """GET over HTTP(S) with a timeout, a total deadline and a size limit per response.

    A body the server compressed anyway (``Content-Encoding: gzip`` or ``deflate``) is
    returned decompressed, within the same size limit.
    """

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        max_bytes: int = 5 * 1024 * 1024,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self._opener = urllib.request.build_opener(_NoRedirect)

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        request = urllib.request.Request(
            url,
            headers={
                "User-Agent": self.user_agent,
                "Accept-Encoding": "identity",
                **(headers or {}),
            },
        )
        deadline = time.monotonic() + self.timeout
        try:
            try:
                raw = self._opener.open(request, timeout=self.timeout)
            except urllib.error.HTTPError as e:  # 3xx (not followed), 4xx, 5xx
                raw = e
            with raw:
                status = raw.status if hasattr(raw, "status") else raw.code
                names = {k.lower(): v for k, v in raw.headers.items()}
                length = names.get("content-length", "")
                if length.isdigit() and int(length) > self.max_bytes:
                    raise FetchError(f"larger than {self.max_bytes} bytes")
                body = self._read(raw, deadline)
                coding = names.pop("content-encoding", "identity").strip().lower()
                if coding in ("gzip", "x-gzip", "deflate"):
                    # Sent although we asked for identity: some servers always compress.
                    try:
                        body = inflate(body, limit=self.max_bytes)
                    except ValueError as e:
                        raise FetchError(f"{coding} body: {e}") from None
                elif coding not in ("identity", ""):
                    raise FetchError(f"unsupported Content-Encoding {coding!r}")
                return Response(url=url, status=status, headers=names, body=body)
        except FetchError:
            raise
        except TimeoutError:
            raise FetchError(f"timed out after {self.timeout:g}s") from None
        except urllib.error.URLError as e:
            raise FetchError(f"cannot connect ({e.reason})") from None
        except (http.client.HTTPException, OSError, ValueError) as e:
            raise FetchError(f"{type(e).__name__}: {e}") from None

    def _read(self, raw: object, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise FetchError(f"timed out after {self.timeout:g}s")
            chunk = raw.read(65536)  # type: ignore[attr-defined]
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(f"larger than {self.max_bytes} bytes")
            chunks.append(chunk)
