"""Issue 14, document identity: one id per document, links that open it, one document per text.

Three kinds of fault, each with the case users reported (tests/fixtures/cases/) and a family of
inputs of the same kind: pages or files whose readable ids collide; ids that look like paths
and made links a browser resolves elsewhere; one article at several addresses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from http.server import SimpleHTTPRequestHandler
from itertools import permutations
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import numpy as np
import pytest
from sqlalchemy import event
from werkzeug.serving import make_server

from ingest.ids import Claim, also_at, sharing_groups, unique_ids, url_preference
from ingest.pipeline import IngestOptions, IngestReport, ingest_sources
from ingest.sources import read_folder, url_doc_id
from ingest.urls import normalize_url
from kb.config import load_settings
from kb.generate import compose
from kb.links import article_path, at_address, is_plain_path
from kb.store import Store, StoredDocument
from kb.usecases.bootstrap import Services, build
from tests.servers import free_port
from tests.sites import reply, serve, serve_folder
from web import create_app

CASES = Path(__file__).resolve().parent / "fixtures" / "cases"


def fresh_kb(tmp_path: Path, embedder, name: str = "home") -> Services:
    return build(load_settings({"home": tmp_path / name}, environ={}), embedder=embedder)


def stored(kb: Services, source: str | None = None) -> dict[str, StoredDocument]:
    """Return the documents stored (of ``source``, if given), by id."""
    store = kb.stores.open()
    try:
        return {i: store.get_document(i) for i in store.document_ids(source)}  # type: ignore[misc]
    finally:
        store.close()


def host_id(base: str) -> str:
    return base.removeprefix("http://").replace(":", "-").replace(".", "-")


# Kind 1: two sources, one document id ------------------------------------------------------


def test_crawl_ids_keep_the_query_string_normalised_and_nothing_else_changes():
    assert url_doc_id("http://h.example/help/article.php?id=1") == "h-example/help/article?id=1"
    assert normalize_url("http://h.example/a.php?utm_source=x&b=2&a=1&fbclid=y") == (
        "http://h.example/a.php?a=1&b=2"
    )
    # A site without query strings keeps the ids it always had.
    assert url_doc_id("http://h.example/kb/Reset-Password.html") == "h-example/kb/reset-password"
    assert url_doc_id("http://h.example:8080/help/") == "h-example-8080/help"


def test_colliding_readable_ids_are_told_apart_whatever_the_order():
    claims = [
        Claim("h/kb/reset-password", "h/kb/reset-password~1"),
        Claim("h/kb/reset-password", "h/kb/reset-password~2"),
        Claim("h/setup", "h/setup~3"),
        Claim("h/setup", "h/setup~4"),
        Claim("h/other", "h/other~5"),
    ]
    mapping = dict(zip(claims, unique_ids(claims), strict=True))
    assert len(set(mapping.values())) == len(claims)
    assert mapping[claims[4]] == "h/other"
    for order in permutations(claims):
        assert dict(zip(order, unique_ids(list(order)), strict=True)) == mapping


def test_an_id_held_last_time_stays_and_taken_ids_are_never_given():
    a = Claim("faq", "faq.md", previous="faq.md")
    b = Claim("faq", "faq.html")
    assert unique_ids([a, b]) == ["faq.md", "faq"]
    assert unique_ids([b], taken={"faq"}) == ["faq.html"]
    # Base and alternative both taken: still a fresh id, never a taken one.
    (odd,) = unique_ids([Claim("x", "y")], taken={"x", "y"})
    assert odd not in {"x", "y"}
    # A previous id that is neither its base nor its alternative (an old collapsed id) is let go.
    assert unique_ids([Claim("h/a?id=1", "h/a?id=1~9", previous="h/a")]) == ["h/a?id=1"]


@pytest.fixture
def case_shop() -> Iterator[str]:
    """The reported site (site.py, run as its README says) on a free port."""
    port = free_port()
    script = CASES / "crawl-query-id-collision" / "site.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()


def test_case_query_string_pages_are_three_documents_and_a_recrawl_is_a_no_op(
    case_shop: str, tmp_path: Path, embedder
):
    kb = fresh_kb(tmp_path, embedder)
    first = kb.ingestion.ingest([f"{case_shop}/help/"])
    assert (first.added, first.updated, first.unchanged) == (3, 0, 0)
    host = host_id(case_shop)
    for number, query in (("1", "change delivery address"), ("2", "cancel an order"),
                          ("3", "pay with a gift card")):  # fmt: skip
        top = kb.retrieval.search(query, k=3)[0].passage
        assert top.doc_id == f"{host}/help/article?id={number}"
        assert top.url.startswith(f"{case_shop}/help/article.php?id={number}")
    answer = kb.answering.answer("How do I cancel an order?")
    assert not answer.refused
    assert answer.citations[0].doc_id == f"{host}/help/article?id=2"
    again = kb.ingestion.ingest([f"{case_shop}/help/"])
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 3, 0)
    assert again.index_version == first.index_version and not again.index_changed


# A page is its HTML ({links} becomes the site's links) or its (title, text).
SitePage = str | tuple[str, str]
FAMILY_PAGES: dict[str, SitePage] = {
    "/help/": "<html><body><main><h1>Help</h1><ul>{links}</ul></main></body></html>",
    "/help/kb/Reset-Password": ("Reset a password", "Tap Forgot password on the sign-in screen."),
    "/help/kb/reset-password": (
        "Reset a PIN",
        "Hold the reset key for ten seconds to clear the PIN.",
    ),
    "/help/setup.html": ("Set up the hub", "Plug the hub into the router with the flat cable."),
    "/help/setup.htm": (
        "Set up the sensor",
        "Peel the backing off and stick the sensor to the door.",
    ),
    "/help/view?a=1&b=2": ("Export a report", "Choose Export in the report menu and pick CSV."),
    "/help/view?a=2&b=1": ("Share a report", "Press Share and type the colleague's address."),
}
FAMILY_LINKS = [
    "kb/Reset-Password", "kb/reset-password", "setup.html", "setup.htm", "view?b=2&a=1",
    "view?a=1&b=2&utm_source=mail",  # the same page as above, tracking parameter aside
    "view?a=2&b=1",
]  # fmt: skip


def family_handler(
    pages: Mapping[str, SitePage], links: list[str]
) -> type[SimpleHTTPRequestHandler]:
    """A site whose pages are chosen by path and query string (sorted), like a help desk."""

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            query = "&".join(sorted(p for p in parts.query.split("&") if p and "utm_" not in p))
            key = parts.path + (f"?{query}" if query else "")
            page = pages.get(key) or pages.get(parts.path)
            if page is None:
                self.send_error(404)
                return
            if isinstance(page, str):
                items = "".join(f"<li><a href='{href}'>{href}</a></li>" for href in links)
                body = page.format(links=items)
            else:
                title, text = page
                body = (
                    f"<!doctype html><html lang='en'><head><title>{title}</title></head><body>"
                    f"<main><h1>{title}</h1><p>{text}</p></main></body></html>"
                )
            reply(self, 200, "text/html; charset=utf-8", body.encode())

    return Handler


def test_pages_whose_ids_differ_by_case_extension_or_query_are_all_kept_with_stable_ids(
    tmp_path: Path, embedder
):
    with serve(family_handler(FAMILY_PAGES, FAMILY_LINKS)) as base:
        kb = fresh_kb(tmp_path, embedder)
        first = kb.ingestion.ingest([f"{base}/help/"])
        assert first.added == 6, first.skipped
        docs = stored(kb)
        assert {d.url for d in docs.values()} == {
            f"{base}{p}" for p in FAMILY_PAGES if p[-1] != "/"
        }
        for title in ("Reset a password", "Reset a PIN", "Set up the hub", "Set up the sensor",
                      "Export a report", "Share a report"):  # fmt: skip
            assert kb.retrieval.search(title, k=1)[0].passage.title == title
        again = kb.ingestion.ingest([f"{base}/help/"])
        assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 6)
        # The same site read into another store gets the same ids: nothing depends on timing.
        other = fresh_kb(tmp_path, embedder, "other")
        other.ingestion.ingest([f"{base}/help/"])
        assert {i: d.url for i, d in stored(other).items()} == {i: d.url for i, d in docs.items()}


def test_files_with_one_name_in_one_folder_are_two_documents(tmp_path: Path):
    folder = tmp_path / "help"
    folder.mkdir()
    (folder / "faq.md").write_text("# Shipping FAQ\n\nParcels leave the warehouse in two days.\n")
    (folder / "faq.html").write_text(
        "<html><body><main><h1>Billing FAQ</h1><p>Invoices arrive on the first.</p></main>"
        "</body></html>"
    )
    (folder / "guide.md").write_text("# Guide\n\nPress the blue button to start the guide.\n")
    batch = read_folder(folder)
    ids = {d.id: d.title for d in batch.documents}
    assert ids == {"faq": "Billing FAQ", "faq.md": "Shipping FAQ", "guide": "Guide"}
    assert read_folder(folder).documents == batch.documents  # the same on every read


def test_jsonl_ids_differing_by_case_or_extension_stay_apart_and_reingest_is_a_no_op(
    tmp_path: Path, embedder
):
    source = tmp_path / "docs.jsonl"
    rows = [("FAQ", "Upper-case FAQ about the blue lamp."), ("faq", "Lower-case FAQ on red lamps."),
            ("setup.html", "Setup page for the garden sensor."),
            ("setup.htm", "Setup page for the kitchen scale.")]  # fmt: skip
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows))
    kb = fresh_kb(tmp_path, embedder)
    assert kb.ingestion.ingest([str(source)]).added == 4
    assert set(stored(kb)) == {i for i, _ in rows}
    again = kb.ingestion.ingest([str(source)])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)


def test_two_sources_sharing_an_id_keep_both_documents_and_say_so(tmp_path: Path, embedder):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps({"id": "faq", "text": "Parcels ship within two working days."}) + "\n")
    b.write_text(json.dumps({"id": "faq", "text": "Invoices are e-mailed every month."}) + "\n")
    kb = fresh_kb(tmp_path, embedder)
    report = kb.ingestion.ingest([str(a), str(b)])
    assert report.added == 2
    [(doc_id, note)] = report.renamed
    assert doc_id == "faq" and f"id taken by {a.resolve()}" in note
    ids = set(stored(kb))
    assert set(stored(kb, str(a.resolve()))) == {"faq"}
    (renamed,) = stored(kb, str(b.resolve()))
    assert ids == {"faq", renamed} and renamed.startswith("faq~") and f"{renamed!r}" in note
    for only in ([str(b)], [str(a)], [str(a), str(b)]):  # every re-run is a no-op
        again = kb.ingestion.ingest(only)
        assert (again.added, again.updated, again.removed) == (0, 0, 0)
    assert set(stored(kb)) == ids
    # The same document from another source is that source's own copy: it holds it alone.
    c = tmp_path / "c.jsonl"
    shutil.copy(a, c)
    [(doc_id, note)] = kb.ingestion.ingest([str(c)]).renamed
    assert doc_id == "faq" and f"id taken by {a.resolve()}" in note


def ingest_into(store: Store, *sources: str) -> IngestReport:
    """Ingest ``sources`` into ``store`` as kb does, without building an index."""
    return ingest_sources(store, list(sources), options=IngestOptions(timeout=5.0))


def no_op(report: IngestReport) -> bool:
    return (report.added, report.updated, report.removed) == (0, 0, 0)


def jsonl(path: Path, *rows: tuple[str, str]) -> str:
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows))
    return str(path)


FAQ = ("faq", "Parcels ship within two working days.")
OTHER = ("other", "Gift cards never expire.")


@pytest.mark.parametrize("together", [False, True])
@pytest.mark.parametrize("dropping", ["a", "c"])
def test_a_document_two_sources_share_stays_while_either_has_it(
    tmp_path: Path, together: bool, dropping: str
):
    a = jsonl(tmp_path / "a.jsonl", FAQ, OTHER)
    c = jsonl(tmp_path / "c.jsonl", FAQ)
    store = Store(tmp_path / "kb.sqlite3")
    if together:
        assert ingest_into(store, a, c).added == 3
    else:
        assert ingest_into(store, a).added == 2
        assert ingest_into(store, c).added == 1  # c's own copy, text and all
    ids = store.document_ids()
    assert len(ids) == 3 and store.document_ids(c) == ids - {"faq", "other"}
    for source in (a, c, a):
        assert no_op(ingest_into(store, source))
    # One source drops faq: its copy goes, the other source's stays.
    if dropping == "a":
        jsonl(tmp_path / "a.jsonl", OTHER)
    else:
        jsonl(tmp_path / "c.jsonl", ("returns", "Returns take a week."))
    dropper = a if dropping == "a" else c
    report = ingest_into(store, dropper)
    assert report.removed == 1
    keeper = c if dropping == "a" else a
    (kept,) = [store.get_document(i) for i in store.document_ids(keeper) if i != "other"]
    assert kept is not None and kept.sections[0].text == FAQ[1]
    settled = store.document_ids()
    for source in (a, c, keeper, dropper):  # and the ids stay as they are
        assert no_op(ingest_into(store, source))
        assert store.document_ids() == settled


def test_case_the_shared_faq_is_still_found_when_its_first_source_drops_it(
    tmp_path: Path, embedder
):
    a = jsonl(tmp_path / "a.jsonl", FAQ, OTHER)
    c = jsonl(tmp_path / "c.jsonl", FAQ)
    kb = fresh_kb(tmp_path, embedder)
    kb.ingestion.ingest([a])
    assert kb.ingestion.ingest([c]).added == 1
    jsonl(tmp_path / "a.jsonl", OTHER)
    assert kb.ingestion.ingest([a]).removed == 1
    top = kb.retrieval.search("when do parcels ship", k=1)[0].passage
    assert "two working days" in top.text and top.doc_id in stored(kb, str(Path(c).resolve()))
    assert no_op(kb.ingestion.ingest([c])) and no_op(kb.ingestion.ingest([a]))


def urls(store: Store) -> dict[str, str | None]:
    """Return the public URL of every stored document, by id."""
    return {i: store.get_document(i).url for i in store.document_ids()}  # type: ignore[union-attr]


class MutableSite:
    """Pages by path, each an article linking to some others; change them between crawls."""

    def __init__(self) -> None:
        self.links: dict[str, list[str]] = {}

    def page(self, path: str, *links: str) -> None:
        self.links[path] = list(links)

    def handler(self) -> type[SimpleHTTPRequestHandler]:
        site = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                if path not in site.links:
                    self.send_error(404)
                    return
                etag = f'"{hash(tuple(site.links[path]))}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                items = "".join(f"<li><a href='{h}'>{h}</a></li>" for h in site.links[path])
                title = path.strip("/").replace("/", " ") or "home"
                body = (
                    f"<!doctype html><html lang='en'><head><title>{title}</title></head><body>"
                    f"<main><h1>{title}</h1><p>All about {title}, in plain words.</p></main>"
                    f"<aside><ul>{items}</ul></aside></body></html>"
                ).encode()
                reply(self, 200, "text/html; charset=utf-8", body, {"ETag": etag})

        return Handler


def test_a_page_two_crawls_reach_is_one_document_kept_while_either_reaches_it(tmp_path: Path):
    site = MutableSite()
    site.page("/help/", "/help/billing/p.html")
    site.page("/help/billing/", "/help/billing/p.html")
    site.page("/help/billing/p.html")
    store = Store(tmp_path / "kb.sqlite3")
    with serve(site.handler()) as base:
        a, b = f"{base}/help/", f"{base}/help/billing/"
        p_url = f"{base}/help/billing/p.html"

        def p_ids() -> set[str]:
            return {i for i, url in urls(store).items() if url == p_url}

        assert ingest_into(store, a).added == 2
        (p,) = p_ids()
        first_b = ingest_into(store, b)
        assert (first_b.added, first_b.unchanged, first_b.renamed) == (1, 1, [])
        assert p_ids() == {p} and p in store.document_ids(a) & store.document_ids(b)
        for source in (a, b):
            assert no_op(ingest_into(store, source))
        # B stops reaching P: A still does, so P stays.
        site.page("/help/billing/")
        assert ingest_into(store, b).removed == 0 and p_ids() == {p}
        assert no_op(ingest_into(store, a)) and p in store.document_ids(a)
        # B reaches it again, then A stops: B still does, so P stays, as B's.
        site.page("/help/billing/", "/help/billing/p.html")
        assert no_op(ingest_into(store, b))
        site.page("/help/")
        assert ingest_into(store, a).removed == 0 and p_ids() == {p}
        assert store.get_document(p).source == b  # type: ignore[union-attr]
        # Neither reaches it: now it goes.
        site.page("/help/billing/")
        assert ingest_into(store, b).removed == 1 and p_ids() == set()


# Kind 1b: an id a source held stays its document -------------------------------------------

SHIPPING = ("Shipping FAQ", "Parcels leave the warehouse in two days.")
RETURNS = ("Returns FAQ", "Send it back within thirty days.")


def write_file(path: Path, title: str, *paragraphs: str) -> None:
    """Write an article as Markdown or HTML, as ``path``'s extension says."""
    if path.suffix in (".md", ".markdown"):
        path.write_text(f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n")
    else:
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        path.write_text(f"<html><body><main><h1>{title}</h1>{body}</main></body></html>")


@pytest.mark.parametrize("forget_paths", [False, True])
@pytest.mark.parametrize(
    "first, later",
    [("faq.md", "faq.html"), ("faq.html", "faq.md"), ("guides/setup.md", "guides/setup.htm"),
     ("guides/setup.markdown", "guides/setup.html")],
)  # fmt: skip
def test_a_file_keeps_its_id_when_a_file_of_the_same_stem_appears(
    tmp_path: Path, first: str, later: str, forget_paths: bool
):
    folder = tmp_path / "help"
    (folder / first).parent.mkdir(parents=True)
    write_file(folder / first, *SHIPPING)
    store = Store(tmp_path / "kb.sqlite3")
    assert ingest_into(store, str(folder)).added == 1
    (held,) = store.document_ids()
    assert held == first.rsplit(".", 1)[0]
    if forget_paths:  # a store written before files' ids were recorded by path
        with store.transaction() as c:
            c.execute("DELETE FROM pages")
            if "text_key" in {r[1] for r in c.execute("PRAGMA table_info(documents)")}:
                c.execute("UPDATE documents SET text_key = NULL")
    write_file(folder / later, *RETURNS)
    report = ingest_into(store, str(folder))
    assert (report.added, report.updated, report.removed) == (1, 0, 0)
    assert store.get_document(held).title == "Shipping FAQ"  # type: ignore[union-attr]
    assert store.get_document(later).title == "Returns FAQ"  # type: ignore[union-attr]
    assert no_op(ingest_into(store, str(folder)))
    # The file's text changing later does not move its id either.
    write_file(folder / first, *SHIPPING, "Weekends excluded.")
    report = ingest_into(store, str(folder))
    assert (report.added, report.updated, report.removed) == (0, 1, 0)
    assert store.get_document(held).title == "Shipping FAQ"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "first, later",
    [("/help/setup.html", "/help/setup.htm"), ("/help/setup.htm", "/help/setup.html"),
     ("/help/kb/reset-password", "/help/kb/Reset-Password"),
     ("/help/kb/Reset-Password", "/help/kb/reset-password")],
)  # fmt: skip
def test_a_page_keeps_its_id_when_a_variant_of_its_address_appears(
    tmp_path: Path, first: str, later: str
):
    site = MutableSite()
    site.page("/help/", first)
    site.page(first)
    site.page(later)
    store = Store(tmp_path / "kb.sqlite3")
    with serve(site.handler()) as base:
        ingest_into(store, f"{base}/help/")
        ids = {url: i for i, url in urls(store).items()}
        site.page("/help/", first, later)
        report = ingest_into(store, f"{base}/help/")
        assert (report.added, report.removed) == (1, 0)
        again = {url: i for i, url in urls(store).items()}
        assert again[f"{base}{first}"] == ids[f"{base}{first}"]
        assert no_op(ingest_into(store, f"{base}/help/"))


# Reading by id is a lookup, not a scan -----------------------------------------------------


def statements(store: Store) -> list[str]:
    """Record every SQL statement ``store`` runs from now on; return the (growing) list."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    return seen


def test_a_new_page_among_many_unchanged_reads_no_stored_document_back(tmp_path: Path):
    site = MutableSite()
    pages = [f"/help/p{i}.html" for i in range(30)]
    site.page("/help/", *pages)
    for path in pages:
        site.page(path)
    store = Store(tmp_path / "kb.sqlite3")
    with serve(site.handler()) as base:
        assert ingest_into(store, f"{base}/help/").added == 31
        with store.transaction() as c:  # as if stored before text keys were
            if "text_key" in {r[1] for r in c.execute("PRAGMA table_info(documents)")}:
                c.execute("UPDATE documents SET text_key = NULL")
        for new in ("/help/new.html", "/help/newer.html"):
            # The articles answer 304 (kept, not read again) and a new page appears.
            site.page("/help/", *site.links["/help/"], new)
            site.page(new)
            run = statements(store)
            assert ingest_into(store, f"{base}/help/").added == 1
        # Read back once at most, to learn the text keys; never again.
        assert not [s for s in run if "FROM chunks" in s]


def test_ids_another_source_holds_are_found_in_one_query(tmp_path: Path):
    rows = [(f"faq-{i}", f"Answer number {i} about lamps.") for i in range(40)]
    a = jsonl(tmp_path / "a.jsonl", *rows)
    c = jsonl(tmp_path / "c.jsonl", *((i, f"Another answer: {t}") for i, t in rows))
    store = Store(tmp_path / "kb.sqlite3")
    ingest_into(store, a)
    run = statements(store)
    assert len(ingest_into(store, c).renamed) == 40
    # Before the first document is written: the source's ids, their owners, the first upsert.
    first_write = next(i for i, s in enumerate(run) if s.lstrip().startswith("INSERT"))
    reads = [s for s in run[:first_write] if s.lstrip().startswith("SELECT")]
    assert len(reads) <= 3, reads


def test_a_snapshot_finds_a_document_s_passages_by_index(tmp_path: Path, embedder):
    import sqlite3

    kb = fresh_kb(tmp_path, embedder)
    kb.ingestion.ingest([jsonl(tmp_path / "a.jsonl", FAQ, OTHER)])
    (path,) = (tmp_path / "home").rglob("passages.sqlite3")
    conn = sqlite3.connect(path)
    plan = " ".join(
        str(r[-1])
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT section, anchor, text FROM passages WHERE doc_id = ?"
            " ORDER BY row",
            ("faq",),
        )
    )
    conn.close()
    assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


# Kind 2: ids that are paths ----------------------------------------------------------------

WORDS = [
    "amber", "azure", "beige", "black", "bronze", "cherry", "coral", "cream", "crimson", "denim",
    "emerald", "golden", "green", "grey", "indigo", "ivory", "jade", "khaki", "lemon", "lilac",
    "maroon", "mint", "navy", "olive", "orange", "peach", "plum", "ruby",
]  # fmt: skip
ODD_IDS = [
    "guides/../billing-cycle", "../admin/faq", "/leading-slash", "trailing/", "faq?id=7",
    "how to: reset", "billing-cycle", ".", "..", "a/./b", "a/../..", "a//b", "x/..", "...",
    ".hidden", "%2F", "a%2Fb", "%2e%2e", "a/%2e%2e/b", "#top", "faq#7", "q?x=1&y=2",
    "spaces  and\ttab", "ünïcode/ページ", "back\\slash", "plus+sign", "semi;colon", "~tilde",
]  # fmt: skip


def browser_path(base: str, href: str) -> str:
    """Return the path and query a browser requests for ``href`` on a page at ``base``.

    As the WHATWG URL standard says: ``.`` and ``..`` segments (also written ``%2e``) go, a
    backslash is a slash, and tab and newline are dropped.
    """
    href = re.sub(r"[\t\n\r]", "", href).replace("\\", "/")
    parts = urlsplit(urljoin(base, href))
    out: list[str] = []
    segments = parts.path.split("/")[1:]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment.lower() in ("..", ".%2e", "%2e.", "%2e%2e"):
            if out:
                out.pop()
            if last:
                out.append("")
        elif segment.lower() in (".", "%2e"):
            if last:
                out.append("")
        else:
            out.append(segment)
    return urlunsplit(("", "", "/" + "/".join(out), parts.query, ""))


@pytest.mark.parametrize("doc_id", ODD_IDS)
def test_every_article_link_survives_a_browser(doc_id: str):
    path = article_path(doc_id)
    assert browser_path("http://kb.example/?q=x", path) == path
    assert browser_path("http://kb.example/articles/some/deep/page", path) == path
    assert path.startswith("/articles/")


def test_plain_ids_keep_the_links_they_always_had():
    assert article_path("guides/setup") == "/articles/guides/setup"
    assert article_path("how to: reset") == "/articles/how%20to%3A%20reset"
    assert not is_plain_path("a//b") and not is_plain_path("..") and is_plain_path("...")


@pytest.fixture
def odd_server(tmp_path: Path, embedder) -> Iterator[tuple[str, dict[str, str]]]:
    """kb on a real HTTP server, with the reported ids and the family's; yields base, id→title."""
    source = tmp_path / "odd.jsonl"
    lines = (CASES / "docid-dot-segments" / "ids.jsonl").read_text().splitlines()
    reported = [json.loads(line) for line in lines if line.strip()]
    known = {r["id"] for r in reported}
    family = [
        {"id": i, "title": f"The {word} lamp", "text": f"The {word} lamp glows when you clap."}
        for i, word in zip(ODD_IDS, WORDS, strict=True)
        if i not in known
    ]
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reported + family))
    kb = fresh_kb(tmp_path, embedder)
    kb.ingestion.ingest([str(source)])
    httpd = make_server("127.0.0.1", 0, create_app({"home": tmp_path / "home"}), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield (
            f"http://127.0.0.1:{httpd.server_port}",
            {r["id"]: r["title"] for r in reported + family},
        )
    finally:
        httpd.shutdown()


def get(url: str) -> tuple[int, str]:
    """GET ``url`` as is (http.client never rewrites a path); return status and body."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def opens(base: str, page: str, href: str) -> str:
    """Follow ``href`` on ``page`` as a browser would; return the article's heading."""
    status, body = get(base + browser_path(page, href))
    assert status == 200, (href, status)
    match = re.search(r"<h1[^>]*>(.*?)</h1>", body, re.S)
    assert match, href
    return match.group(1).strip().replace("&#39;", "'")


def test_case_links_from_search_answer_and_page_open_the_article_they_name(odd_server):
    base, titles = odd_server
    for doc_id, title in titles.items():
        hits = json.loads(get(f"{base}/search?q={quote(title)}&k=10")[1])["hits"]
        hit = next(h for h in hits if h["doc_id"] == doc_id)
        assert opens(base, f"{base}/search", hit["url"]) == title, doc_id
    request = urllib.request.Request(
        f"{base}/answer",
        data=json.dumps({"question": "How many team members can I add?"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    assert answer["citations"][0]["doc_id"] == "../admin/faq"
    for citation in answer["citations"]:
        assert opens(base, f"{base}/", citation["url"]) == titles[citation["doc_id"]]
    # The streamed answer's final event carries the same links.
    request = urllib.request.Request(
        f"{base}/answer",
        data=json.dumps({"question": "How many team members can I add?", "stream": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        events = response.read().decode("utf-8").split("\n\n")
    done = json.loads(next(e for e in events if e.startswith("event: done")).split("data: ", 1)[1])
    assert [c["url"] for c in done["citations"]] == [c["url"] for c in answer["citations"]]
    # The search page (no JavaScript) links the same way.
    page = get(f"{base}/?q=billing+cycle+renew")[1]
    hrefs = re.findall(r'class="title" href="([^"]+)"', page)
    assert "/articles/?id=guides%2F..%2Fbilling-cycle" in hrefs
    assert {opens(base, f"{base}/", h.replace("&amp;", "&")) for h in hrefs} >= {"Billing cycle"}


def test_the_api_document_url_and_the_id_parameter_open_the_same_article(odd_server):
    base, titles = odd_server
    for doc_id in ("../admin/faq", "/leading-slash", "..", "a//b", "%2F"):
        status, body = get(base + article_path(doc_id).replace("/articles/", "/documents/"))
        assert status == 200, doc_id
        document = json.loads(body)
        assert document["id"] == doc_id
        assert opens(base, f"{base}/", document["url"]) == titles[doc_id]
    status, body = get(f"{base}/articles/")
    assert status == 400
    status, body = get(f"{base}/documents/")
    assert status == 400 and json.loads(body)["error"]


# Kind 3: the same page under two URLs ------------------------------------------------------


def test_the_plainest_address_stands_for_a_page():
    urls = [
        "http://h/help/pair-remote.html?src=menu",
        "http://h/help/print/pair-remote.html",
        "http://h/help/pair-remote.html",
    ]
    assert min(urls, key=url_preference) == "http://h/help/pair-remote.html"
    assert min(["http://h/articles/123-Title", "http://h/articles/123"], key=url_preference) == (
        "http://h/articles/123"
    )
    assert also_at(urls[2], urls) == ["http://h/help/print/pair-remote.html"]
    assert at_address("http://h/a.html#blink", "http://h/print/a.html") == (
        "http://h/print/a.html#blink"
    )
    assert sharing_groups([("u1", "t1"), ("u2", "t2"), ("u3", "t1"), ("u2", "t4")]) == [
        [0, 2],
        [1, 3],
    ]


def test_case_one_article_at_three_addresses_is_one_document_cited_once(tmp_path: Path, embedder):
    root = tmp_path / "www"
    shutil.copytree(CASES / "duplicate-pages-no-canonical" / "www", root)
    kb = fresh_kb(tmp_path, embedder)
    with serve_folder(root) as base:
        report = kb.ingestion.ingest([f"{base}/help/"])
        assert (report.added, report.updated) == (3, 0)
        skipped = dict(report.skipped)
        for copy in ("print/pair-remote.html", "pair-remote.html?src=menu"):
            assert skipped[f"{base}/help/{copy}"] == f"duplicate of {base}/help/pair-remote.html"
        answer = kb.answering.answer("How do I pair a remote with a bulb?")
        assert len(answer.citations) == 1
        assert answer.citations[0].url.startswith(f"{base}/help/pair-remote.html")
        assert answer.text.count("Hold the remote next to the bulb") == 1
        hits = kb.retrieval.search("bulb does not blink", k=5)
        pairs = [h for h in hits if "Hold the remote" in h.passage.text
                 or "does not blink" in h.passage.section]  # fmt: skip
        assert len(pairs) == 1
        assert pairs[0].passage.url == f"{base}/help/pair-remote.html#blink"
        assert [u.split("#")[0] for u in pairs[0].duplicates] == [
            f"{base}/help/print/pair-remote.html"
        ]
        again = kb.ingestion.ingest([f"{base}/help/"])
        assert (again.added, again.updated, again.removed) == (0, 0, 0)
        assert not again.index_changed


def test_the_address_kept_does_not_depend_on_link_order_and_a_canonical_wins(
    tmp_path: Path, embedder
):
    body = ("Answer the call", "Swipe up on the green phone and speak after the tone.")
    canonical = "<link rel='canonical' href='/help/articles/77-Calls-and-voicemail'>"
    pages: dict[str, SitePage] = {
        "/help/": "<html><body><main><h1>Help</h1><ul>{links}</ul></main></body></html>",
        "/help/articles/123-Answer-the-call": body,
        "/help/articles/123": body,
        "/help/articles/123?src=menu": body,
    }
    links = ["articles/123-Answer-the-call", "articles/123?src=menu", "articles/123"]
    kept = set()
    for n, order in enumerate((links, links[::-1])):
        with serve(family_handler(pages, order)) as base:
            kb = fresh_kb(tmp_path, embedder, f"home{n}")
            assert kb.ingestion.ingest([f"{base}/help/"]).added == 1
            (doc,) = stored(kb).values()
            kept.add((doc.url or "").removeprefix(base))
            assert doc.meta["also_at"] == [f"{base}/help/articles/123-Answer-the-call"]
    assert kept == {"/help/articles/123"}
    # A page that names its canonical address stands for its copies, however long the address.
    title, text = body
    head = f"<!doctype html><html><head>{canonical}<title>{title}</title></head><body><main>"
    pages["/help/articles/77-Calls-and-voicemail"] = (
        f"{head}<h1>{title}</h1><p>{text}</p></main></body></html>"
    )
    with serve(family_handler(pages, [*links, "articles/77-Calls-and-voicemail"])) as base:
        kb = fresh_kb(tmp_path, embedder, "canonical")
        assert kb.ingestion.ingest([f"{base}/help/"]).added == 1
        (doc,) = stored(kb).values()
        assert doc.url == f"{base}/help/articles/77-Calls-and-voicemail"


def test_one_sentence_in_two_documents_is_said_and_cited_once(tmp_path: Path, embedder):
    units = [(0, "Hold the remote next to the bulb."), (1, "hold the remote  next to the bulb")]
    assert compose(units, np.array([1.0, 0.99]), 90) == "Hold the remote next to the bulb. [1]"
    units.append((1, "Then release both buttons."))
    composed = compose(units, np.array([1.0, 0.99, 0.98]), 90)
    assert composed == "Hold the remote next to the bulb. [1]\nThen release both buttons. [2]"
    # End to end: two sources holding one article under different ids.
    text = "Hold the remote next to the bulb and press On and Off together for five seconds."
    for name in ("a", "b"):
        (tmp_path / f"{name}.jsonl").write_text(
            json.dumps({"id": f"pair-{name}", "title": "Pair a remote", "text": text}) + "\n"
        )
    kb = fresh_kb(tmp_path, embedder)
    kb.ingestion.ingest([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")])
    answer = kb.answering.answer("How do I pair a remote with the bulb?")
    assert not answer.refused
    assert answer.text.count("Hold the remote") == 1
    assert len({c.quote for c in answer.citations}) == len(answer.citations)


def test_a_copy_of_an_unchanged_page_found_later_is_no_new_document(tmp_path: Path, embedder):
    root = tmp_path / "www"
    shutil.copytree(CASES / "duplicate-pages-no-canonical" / "www", root)
    index = root / "help" / "index.html"
    full = index.read_text()
    index.write_text(
        re.sub(r"<li><a href=\"/help/(print/|pair-remote.html\?)[^<]*</a></li>", "", full)
    )
    kb = fresh_kb(tmp_path, embedder)
    with serve_folder(root) as base:
        assert kb.ingestion.ingest([f"{base}/help/"]).added == 3
        index.write_text(full)  # now the print copy and the menu link appear
        later = index.stat().st_mtime + 5
        os.utime(index, (later, later))
        again = kb.ingestion.ingest([f"{base}/help/"])
        assert (again.added, again.updated, again.removed) == (0, 0, 0)
        skipped = dict(again.skipped)
        for copy in ("print/pair-remote.html", "pair-remote.html?src=menu"):
            assert skipped[f"{base}/help/{copy}"] == f"duplicate of {base}/help/pair-remote.html"
        assert len(stored(kb)) == 3
