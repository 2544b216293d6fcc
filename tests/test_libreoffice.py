"""Crawl a real help centre: Debian's LibreOffice help (~2,500 pages) served on 127.0.0.1."""

import re
import shutil
from pathlib import Path

import pytest

from ingest.pipeline import IngestOptions, ingest_sources
from kb.store import Store
from tests.sites import serve_folder, write_sitemap

HELP = Path("/usr/share/libreoffice/help")
CHROME = re.compile(
    r"Search in all modules|Search in chosen module|LibreOffice \d+\.\d+ Help|"
    r"Help content debug info|Enable JavaScript in the browser"
)

pytestmark = pytest.mark.skipif(
    not (HELP / "en-US").is_dir(),
    reason="libreoffice-help-en-us is not installed (`make system-deps` installs it)",
)


def test_crawl_libreoffice_help_then_recrawl_then_remove_ten(tmp_path: Path):
    root = tmp_path / "help"
    shutil.copytree(HELP, root)
    store = Store(tmp_path / "kb.sqlite3")
    with serve_folder(root) as base:
        write_sitemap(root, base)
        start = f"{base}/sitemap.xml"

        first = ingest_sources(store, [start], options=IngestOptions())
        assert first.added >= 2400 and first.failed == []
        assert len(store.document_ids()) == first.added
        leaked = [r.doc_id for r in store.index_rows() if CHROME.search(r.text)]
        assert leaked == []

        second = ingest_sources(store, [start], options=IngestOptions())
        assert (second.added, second.updated, second.removed) == (0, 0, 0)
        assert second.unchanged == first.added

        pages = sorted((root / "en-US" / "text" / "swriter" / "guide").glob("*.html"))[:10]
        doomed = {p.relative_to(root).with_suffix("").as_posix().lower() for p in pages}
        for page in pages:
            page.unlink()
        write_sitemap(root, base)
        third = ingest_sources(store, [start], options=IngestOptions())
    assert third.removed == 10 and (third.added, third.updated) == (0, 0)
    remaining = {doc_id.split("/", 1)[1] for doc_id in store.document_ids()}
    assert not (doomed & remaining)
    assert len(remaining) == first.added - 10
