"""Reading web pages. Only this module talks HTTP to help centres."""

from __future__ import annotations

import urllib.error
import urllib.request

from ingest.sources import Batch, html_document, url_doc_id
from kb.errors import SourceError

USER_AGENT = "kb-ingest/0.1 (+https://github.com/kb)"
MAX_BYTES = 10 * 1024 * 1024


def fetch(url: str, timeout: float = 20.0) -> tuple[str, bytes, str]:
    """Return the final URL, the body and the content type of ``url``."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_BYTES + 1)
            if len(body) > MAX_BYTES:
                raise SourceError(f"{url}: page larger than {MAX_BYTES} bytes")
            return response.geturl(), body, response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        raise SourceError(f"{url}: HTTP {e.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise SourceError(f"{url}: cannot fetch ({reason})") from None


def read_url(url: str) -> Batch:
    """Read the one page at ``url``."""
    final, body, content_type = fetch(url)
    if "html" not in content_type.lower():
        raise SourceError(f"{url}: not an HTML page ({content_type or 'no content type'})")
    batch = Batch(source=url)
    doc, reason = html_document(body, doc_id=url_doc_id(final), source=url, url=final)
    if doc is None:
        raise SourceError(f"{url}: {reason}")
    batch.documents.append(doc)
    return batch
