"""Fetching over HTTP. The only module in kb that talks to web servers.

``Fetcher.get`` is the one-method interface; :class:`HttpFetcher` is the real implementation.
Redirects are returned, not followed, so the crawler can check scope and loops itself.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from ingest.compression import inflate

USER_AGENT = "kb-crawler/0.1"
# Files a crawl reads as documents (ingest.sources.file_document), by media type.
DOCUMENT_TYPES = {
    "application/pdf": ".pdf",
    "application/x-pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/download"}


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


def document_suffix(content_type: str, url: str) -> str | None:
    """Return ``.pdf`` or ``.docx`` if a response of ``content_type`` from ``url`` is such a
    file (by its media type, or by the URL's extension when the type says nothing), else None.
    """
    if content_type in DOCUMENT_TYPES:
        return DOCUMENT_TYPES[content_type]
    path = urllib.parse.urlsplit(url).path.lower()
    for suffix in set(DOCUMENT_TYPES.values()):
        if content_type in _GENERIC_TYPES and path.endswith(suffix):
            return suffix
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

    Pages may have ``max_bytes``; PDF and Word files (:func:`document_suffix`)
    ``max_document_bytes``, as manuals are larger than pages.

    A body the server compressed anyway (``Content-Encoding: gzip`` or ``deflate``) is
    returned decompressed, within the same size limit.
    """

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        max_bytes: int = 5 * 1024 * 1024,
        max_document_bytes: int = 100 * 1024 * 1024,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_document_bytes = max_document_bytes
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
                media = names.get("content-type", "").split(";")[0].strip().lower()
                limit = self.max_document_bytes if document_suffix(media, url) else self.max_bytes
                if length.isdigit() and int(length) > limit:
                    raise FetchError(f"larger than {limit} bytes")
                body = self._read(raw, deadline, limit)
                coding = names.pop("content-encoding", "identity").strip().lower()
                if coding in ("gzip", "x-gzip", "deflate"):
                    # Sent although we asked for identity: some servers always compress.
                    try:
                        body = inflate(body, limit=limit)
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

    def _read(self, raw: object, deadline: float, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise FetchError(f"timed out after {self.timeout:g}s")
            chunk = raw.read(65536)  # type: ignore[attr-defined]
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise FetchError(f"larger than {limit} bytes")
            chunks.append(chunk)
