"""Real HTTP servers on 127.0.0.1 for crawler tests: a hostile fixture site and static folders."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


def reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    content_type: str,
    data: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    """Send one whole response from a test server's handler: status, type, length, body."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def article(title: str, body: str, links: tuple[str, ...] = (), extra_head: str = "") -> str:
    anchors = "".join(f'<li><a href="{href}">link {i}</a></li>' for i, href in enumerate(links))
    return (
        f"<!doctype html><html lang='en'><head><title>{title} | Fixture Help</title>{extra_head}"
        f"</head><body><header><nav><a href='/help/a.html'>Home</a> Module menu</nav></header>"
        f"<main><article><h1>{title}</h1><p>{body}</p>"
        f"<h2 id='details'>Details</h2><p>More about {title.lower()}: {body}</p></article>"
        f"<aside><ul>{anchors}</ul></aside></main><footer>Footer chrome</footer></body></html>"
    )


class FixtureSite:
    """A help centre with every trap a crawler meets; pages can change between crawls."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str, bytes]] = {}
        self.requests: list[tuple[float, str, dict[str, str]]] = []
        self.robots = "User-agent: *\nDisallow: /help/private/\n"
        links = (
            "b.html?utm_source=newsletter#top", "private/secret.html", "redirect.html",
            "loop1.html", "missing.html", "error.html", "slow.html", "huge.html", "binary.html",
            "latin1.html", "calendar?month=0", "image.png", "c.html",
        )  # fmt: skip
        self.set_page(
            "a.html", article("Reset your password", "Open Settings and tap Reset.", links)
        )
        self.set_page("b.html", article("Refund policy", "Refunds take ten business days."))
        self.set_page(
            "c.html",
            article(
                "Shipping times",
                "Orders ship within two days.",
                extra_head="<link rel='canonical' href='/help/c.html'><base href='/help/'>",
            ),
        )
        self.set_page("private/secret.html", article("Secret", "Internal only."))
        self.set_page("error.html", b"oops", status=500)
        self.set_page("binary.html", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(2000))
        self.set_page(
            "latin1.html",
            article("Café opening hours", "Our café opens at nine.").encode("iso-8859-1"),
            content_type="text/html; charset=iso-8859-1",
        )

    def set_page(
        self, path: str, body: str | bytes, *, status: int = 200, content_type: str = "text/html"
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.pages[path] = (status, content_type, data)

    def sitemap(self) -> bytes:
        entries = "".join(
            f"<url><loc>{self.base}/help/{p}</loc><lastmod>2026-01-0{i + 1}</lastmod></url>"
            for i, p in enumerate(["a.html", "b.html"])
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
        ).encode()

    def handler(self) -> type[SimpleHTTPRequestHandler]:
        site = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                site.requests.append((time.monotonic(), self.path, dict(self.headers)))
                parts = urlsplit(self.path)
                path = parts.path
                if path == "/robots.txt":
                    return self._send(200, "text/plain", site.robots.encode())
                if path == "/help/sitemap.xml":
                    return self._send(200, "application/xml", site.sitemap())
                if path == "/help/redirect.html":
                    return self._redirect("/help/b.html")
                if path in ("/help/loop1.html", "/help/loop2.html"):
                    other = "loop2" if "loop1" in path else "loop1"
                    return self._redirect(f"/help/{other}.html")
                if path == "/help/slow.html":
                    time.sleep(3)
                    return self._send(200, "text/html", article("Slow", "Late.").encode())
                if path == "/help/huge.html":
                    return self._huge()
                if path == "/help/calendar":
                    month = int(parse_qs(parts.query).get("month", ["0"])[0])
                    body = (
                        f"<html><body><a href='calendar?month={month + 1}'>next</a></body></html>"
                    )
                    return self._send(200, "text/html", body.encode())
                key = path.removeprefix("/help/")
                if key not in site.pages:
                    return self._send(404, "text/html", b"not found")
                status, content_type, data = site.pages[key]
                etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
                if status == 200 and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return None
                return self._send(status, content_type, data, {"ETag": etag})

            def _send(self, status, content_type, data, headers=None):
                reply(self, status, content_type, data, headers)

            def _redirect(self, location):
                self.send_response(301)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _huge(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()  # no length: the client must stop reading by itself
                chunk = b"<p>" + b"x" * 65530 + b"</p>"
                try:
                    for _ in range(320):  # 20 MB
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """A test server that does not print a traceback when a client hangs up mid-response."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@contextmanager
def serve(handler: type[SimpleHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free port of 127.0.0.1; yield the base URL."""
    server = _QuietServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    with _running(server) as url:
        yield url


@contextmanager
def _running(server: Any) -> Iterator[str]:
    """Run ``server`` (a socketserver) in a thread until the block ends; yield its base URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve_site(site: FixtureSite) -> Iterator[str]:
    """Serve the fixture site; yield its base URL."""
    with serve(site.handler()) as base:
        site.base = base
        yield base


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve a folder as static files (with Last-Modified and 304s); yield the base URL."""

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    with serve(Quiet) as base:
        yield base


def write_sitemap(root: Path, base: str, limit: int | None = None) -> int:
    """Give a served help folder a sitemap (with lastmod) of its first ``limit`` pages."""
    pages = sorted(root.rglob("*.html"))[:limit]
    entries = []
    for page in pages:
        stamp = datetime.fromtimestamp(page.stat().st_mtime, UTC).strftime("%Y-%m-%d")
        url = f"{base}/{page.relative_to(root).as_posix()}"
        entries.append(f"<url><loc>{url}</loc><lastmod>{stamp}</lastmod></url>")
    (root / "sitemap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(entries)
        + "</urlset>"
    )
    return len(pages)


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve a WSGI ``app`` (threaded) on a free port of 127.0.0.1; yield the base URL."""
    from werkzeug.serving import make_server

    with _running(make_server("127.0.0.1", 0, app, threaded=True)) as url:
        yield url


@contextmanager
def serve_widget_host(lang: str, title: str, heading: str) -> Iterator[dict[str, str]]:
    """Another origin: a shop page that embeds kb's widget with one script tag.

    Yields a dict with ``origin`` (the shop's base URL); set ``kb`` to kb's base URL before a
    browser opens the shop.
    """
    holder: dict[str, str] = {}

    class Page(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = (
                f"<!doctype html><html lang={lang}><title>{title}</title><h1>{heading}</h1>"
                f'<script src="{holder["kb"]}/widget.js" defer></script>'
            ).encode()
            reply(self, 200, "text/html; charset=utf-8", body)

    with serve(Page) as base:  # type: ignore[arg-type]
        holder["origin"] = base
        yield holder
