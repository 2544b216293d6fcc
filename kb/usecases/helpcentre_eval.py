"""``kb eval --answers DIR`` on a real help centre: labelled customer questions, off-topic ones.

A help-centre set is a folder holding::

    eval.toml          source = "/usr/share/gimp/2.0/help/en"   (a folder of HTML, or a site URL;
                       a relative folder is relative to the set)
                       pages = ["*.pdf"]   (optional: the files of a folder to crawl, as globs;
                       its HTML pages if not given)
    questions.jsonl    {"id", "question", "pages": ["path/page.html", "page.html#anchor"], …}
    off_topic.txt      questions the help centre does not answer, one per line ("#" comments)

A folder source is served on 127.0.0.1 and crawled through a sitemap of its HTML pages, the
way a help centre with a sitemap is crawled with default settings; a URL is crawled as it is.
A label names a page relative to the source; with ``#anchor`` it names a section, and a citation
of that section or of any section nested in it is right. A PDF's sections are its pages
(``manual.pdf#page=12``).
"""

from __future__ import annotations

import json
import threading
import tomllib
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

from kb.calibration import Bucket, expected_calibration_error, reliability
from kb.config import SCRATCH, Settings
from kb.errors import SourceError

HTML_SUFFIXES = (".html", ".htm", ".xhtml")


@dataclass(frozen=True)
class Question:
    """A customer question and the pages (``path`` or ``path#anchor``) that answer it."""

    id: str
    text: str
    pages: tuple[str, ...]
    style: str = ""


@dataclass(frozen=True)
class HelpCentreSet:
    """A help centre to ingest, questions labelled with their right pages, off-topic ones."""

    name: str
    source: str
    questions: tuple[Question, ...]
    off_topic: tuple[str, ...]
    pages: tuple[str, ...] = ()  # globs of a folder's files to crawl; () for its HTML pages


@dataclass
class Outcome:
    """What kb did with one question."""

    id: str
    question: str
    style: str
    in_scope: bool
    labels: tuple[str, ...]
    results: list[str]  # result URLs of /search, best first
    hit_rank: int | None  # rank (from 1) of the first right result, if any in the top 5
    refused: bool
    confidence: float
    cited: list[str]
    right: bool  # answered, citing a right page (never for an off-topic question)
    answer: str = ""


@dataclass
class Report:
    """The figures of one help-centre set, and every question's outcome."""

    name: str
    documents: int
    questions: int
    off_topic: int
    hit_at_1: float
    hit_at_5: float
    answered_right: float
    off_topic_refused: float
    wrong_answers: int
    confident_wrong: int  # wrong answers given with confidence ≥ 0.9
    ece: float
    reliability: list[Bucket]
    unresolved_labels: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """The report without the per-question outcomes, as plain data."""
        out = asdict(self)
        out.pop("outcomes")
        return out


def is_helpcentre_set(folder: Path) -> bool:
    """Whether ``folder`` is a help-centre set (it has an ``eval.toml``)."""
    return (folder / "eval.toml").is_file()


def load_helpcentre_set(folder: Path) -> HelpCentreSet:
    """Read a help-centre set; raise :class:`SourceError` naming what is missing or malformed."""
    try:
        config = tomllib.loads((folder / "eval.toml").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise SourceError(f"{folder}/eval.toml is not readable TOML: {e}") from None
    source = config.get("source")
    if not isinstance(source, str) or not source:
        raise SourceError(f"{folder}/eval.toml: source must name a folder or a URL")
    if urlsplit(source).scheme not in ("http", "https"):
        source = str((folder / Path(source).expanduser()).resolve())  # relative to the set
    globs = config.get("pages", [])
    if not isinstance(globs, list) or not all(isinstance(g, str) and g for g in globs):
        raise SourceError(f"{folder}/eval.toml: pages must be a list of globs")
    path = folder / "questions.jsonl"
    if not path.is_file():
        raise SourceError(f"{folder}: missing questions.jsonl")
    questions = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            pages = tuple(str(p) for p in item["pages"])
            questions.append(
                Question(str(item["id"]), str(item["question"]), pages, str(item.get("style", "")))
            )
        except (ValueError, KeyError, TypeError):
            raise SourceError(
                f"questions.jsonl:{number}: expected {{id, question, pages: [...]}}"
            ) from None
    off_topic: list[str] = []
    if (folder / "off_topic.txt").is_file():
        lines = (folder / "off_topic.txt").read_text("utf-8").splitlines()
        off_topic = [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]
    if not questions:
        raise SourceError(f"{folder}: questions.jsonl has no questions")
    return HelpCentreSet(folder.name, source, tuple(questions), tuple(off_topic), tuple(globs))


# Serving a folder ------------------------------------------------------------------------------


def html_pages(root: Path, globs: Sequence[str] = ()) -> list[str]:
    """Return the paths, relative to ``root``, of every HTML page below it (or every file
    matching one of ``globs``), sorted."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file()
        and (any(p.match(g) for g in globs) if globs else p.suffix.lower() in HTML_SUFFIXES)
    )


def stable_port(root: Path) -> int:
    """A port chosen from the folder's path, so a kept evaluation recrawls the same URLs."""
    return 20000 + zlib.crc32(str(root.resolve()).encode()) % 20000


@contextmanager
def serve_folder(root: Path, globs: Sequence[str] = ()) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 with a ``/sitemap.xml`` of its pages (see
    :func:`html_pages`); yield the base URL."""
    pages = html_pages(root, globs)

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (the http.server name)
            if self.path == "/sitemap.xml":
                base = f"http://{self.headers.get('Host')}"
                urls = "".join(f"<url><loc>{escape(base + '/' + quote(p))}</loc></url>"
                               for p in pages)  # fmt: skip
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns='
                    f'"http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

    try:
        server = ThreadingHTTPServer(("127.0.0.1", stable_port(root)), Handler)
    except OSError:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# Labels ------------------------------------------------------------------------------------


def nested_anchors(page: Path) -> dict[str, set[str]]:
    """Return, for each section anchor of an HTML page, itself and the anchors nested in it;
    a PDF's anchors are its pages (``page=3``), none nested."""
    from ingest.extract import extract

    if page.suffix.lower() == ".pdf":
        from ingest.pdf import page_count

        return {f"page={n}": {f"page={n}"} for n in range(1, page_count(page.read_bytes()) + 1)}
    sections = extract(page.read_bytes()).sections
    out: dict[str, set[str]] = {}
    for i, section in enumerate(sections):
        if not section.anchor:
            continue
        inside = {section.anchor}
        for later in sections[i + 1 :]:
            if later.level <= section.level:
                break
            if later.anchor:
                inside.add(later.anchor)
        out[section.anchor] = inside
    return out


class Labels:
    """Decides whether a URL kb returned is one of a question's right pages or sections."""

    def __init__(self, base: str, root: Path | None) -> None:
        self.base = base.rstrip("/")
        self.root = root
        self._anchors: dict[str, dict[str, set[str]]] = {}

    def _sections(self, page: str) -> dict[str, set[str]]:
        """The page's section anchors with those nested in each, read once."""
        if page not in self._anchors:
            path = self.root / page if self.root else None
            self._anchors[page] = nested_anchors(path) if path and path.is_file() else {}
        return self._anchors[page]

    def _inside(self, page: str, anchor: str) -> set[str]:
        return self._sections(page).get(anchor, {anchor})

    def matches(self, url: str, label: str) -> bool:
        """Whether ``url`` (a result or citation) points at ``label``'s page or section."""
        page, _, anchor = label.partition("#")
        parts = urlsplit(url)
        wanted = urlsplit(f"{self.base}/{page}")
        if unquote(parts.path) != unquote(wanted.path) or parts.netloc != wanted.netloc:
            return False
        return not anchor or unquote(parts.fragment) in self._inside(page, anchor)

    def right(self, urls: Sequence[str], labels: Sequence[str]) -> bool:
        """Whether any of ``urls`` (a page and its duplicates) points at any label."""
        return any(self.matches(u, label) for u in urls for label in labels)

    def resolves(self, label: str) -> bool:
        """Whether the label names a page (and section) that exists in a folder source."""
        if self.root is None:
            return True
        page, _, anchor = label.partition("#")
        if not (self.root / page).is_file():
            return False
        return not anchor or anchor in self._sections(page)


# Running -----------------------------------------------------------------------------------


@contextmanager
def crawlable(source: str, globs: Sequence[str] = ()) -> Iterator[tuple[str, str, Path | None]]:
    """Yield (start URL, base URL for labels, folder) for a folder (its files matching
    ``globs``, or its HTML pages) or URL source."""
    if urlsplit(source).scheme in ("http", "https"):
        base = source.rsplit("/", 1)[0] if source.endswith((".xml", ".html")) else source
        yield source, base, None
        return
    root = Path(source).expanduser()
    if not root.is_dir():
        raise SourceError(f"source {source} is neither a folder nor an http(s) URL")
    with serve_folder(root, globs) as base:
        yield f"{base}/sitemap.xml", base, root


def evaluate_helpcentre(
    settings: Settings,
    evalset: HelpCentreSet,
    *,
    home: Path,
) -> Report:
    """Crawl the set's help centre into ``home``, then ask every question; return the figures.

    ``home`` may be kept between runs: a re-crawl of an unchanged source embeds nothing.
    """
    from kb.usecases.bootstrap import build

    kb = build(replace(settings, home=home, config=None, **SCRATCH))
    with crawlable(evalset.source, evalset.pages) as (start, base, root):
        forget_other_sources(kb, start)
        kb.ingestion.ingest([start])
        labels = Labels(base, root)
        unresolved = [
            f"{q.id}: {label}" for q in evalset.questions for label in q.pages
            if not labels.resolves(label)
        ]  # fmt: skip
        outcomes = [
            ask(kb, labels, q.id, q.text, q.style, q.pages) for q in evalset.questions
        ] + [ask(kb, labels, f"off-{i + 1:03d}", text, "off-topic", ()) for i, text in
             enumerate(evalset.off_topic)]  # fmt: skip
    return summarise(evalset, kb.documents.status()["documents"], outcomes, unresolved)


def forget_other_sources(kb: Any, source: str) -> None:
    """Remove from a kept evaluation store the documents and crawl state of any other source.

    A folder is served on a port of its own when it is free and on any port otherwise, and a
    crawl from another address is another source: its documents would stay beside the new
    ones as duplicates.
    """
    with kb.stores.open() as store:
        store.forget_sources_except(source)


def ask(kb: Any, labels: Labels, qid: str, text: str, style: str, pages: Sequence[str]) -> Outcome:
    """Search and answer one question as ``/search`` and ``/answer`` would."""
    hits = kb.retrieval.search(text, k=5)
    results = [h.passage.url for h in hits]
    hit_rank = next(
        (i + 1 for i, h in enumerate(hits) if labels.right([h.passage.url, *h.duplicates], pages)),
        None,
    )
    answer = kb.answering.answer(text)
    cited = [c.url for c in answer.citations]
    right = (
        bool(pages)
        and not answer.refused
        and any(labels.right([c.url, *c.duplicates], pages) for c in answer.citations)
    )
    return Outcome(
        qid, text, style, bool(pages), tuple(pages), results, hit_rank, answer.refused,
        answer.confidence, cited, right, answer.text,
    )  # fmt: skip


def summarise(
    evalset: HelpCentreSet, documents: int, outcomes: list[Outcome], unresolved: list[str]
) -> Report:
    """Return the set's figures from its questions' outcomes."""
    inside = [o for o in outcomes if o.in_scope]
    outside = [o for o in outcomes if not o.in_scope]
    given = [o for o in outcomes if not o.refused]
    wrong = [o for o in given if not o.right]
    n = max(len(inside), 1)
    confidences = [o.confidence for o in given]
    correct = [o.right for o in given]
    return Report(
        name=evalset.name,
        documents=documents,
        questions=len(inside),
        off_topic=len(outside),
        hit_at_1=sum(o.hit_rank == 1 for o in inside) / n,
        hit_at_5=sum(o.hit_rank is not None for o in inside) / n,
        answered_right=sum(o.right for o in inside) / n,
        off_topic_refused=sum(o.refused for o in outside) / len(outside) if outside else 0.0,
        wrong_answers=len(wrong),
        confident_wrong=sum(o.confidence >= 0.9 for o in wrong),
        ece=expected_calibration_error(confidences, correct),
        reliability=reliability(confidences, correct),
        unresolved_labels=unresolved,
        outcomes=outcomes,
    )


def format_report(report: Report) -> str:
    """Return the figures and the reliability table as text for a terminal."""
    lines = [
        f"{report.name}: {report.documents} documents, {report.questions} questions,"
        f" {report.off_topic} off-topic",
        f"  search hit@1                {report.hit_at_1:.3f}",
        f"  search hit@5                {report.hit_at_5:.3f}",
        f"  answered, right citation    {report.answered_right:.3f}",
        f"  off-topic refused           {report.off_topic_refused:.3f}",
        f"  wrong answers               {report.wrong_answers}"
        f" ({report.confident_wrong} with confidence ≥ 0.9)",
        f"  expected calibration error  {report.ece:.3f}",
        "  confidence    answers  mean conf  accuracy",
    ]
    for b in report.reliability:
        if b.count:
            lines.append(
                f"  {b.low:.1f}–{b.high:.1f}     {b.count:>7}  {b.confidence:>9.3f}"
                f"  {b.accuracy:>8.3f}"
            )
    if report.unresolved_labels:
        lines.append(f"  labels naming no page or section: {', '.join(report.unresolved_labels)}")
    return "\n".join(lines)
