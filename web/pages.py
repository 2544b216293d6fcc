"""Server-rendered pages: the search page and kb's own view of each article."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from markupsafe import Markup, escape

from index.versions import current_version
from kb.errors import KbError, NotFound
from kb.models import Citation
from kb.text import slugify, tokenize
from web.locale import editor_messages, page_messages, widget_messages
from web.requests import get_kb, requested_id

bp = Blueprint("pages", __name__)


@bp.app_template_filter("cite")
def cite(text: str, citations: Sequence[Citation]) -> Markup:
    """Return ``text`` escaped, each citation mark (at its citation's offsets) a link.

    Bracketed numbers elsewhere in the text are the source's own ("press [2]") and stay text.
    """
    marks = sorted((at, c) for c in citations for at in c.offsets)
    out, pos = [], 0
    for at, c in marks:
        mark = f"[{c.number}]"
        if at < pos or text[at : at + len(mark)] != mark:
            continue
        url = escape(c.url)
        out.append(str(escape(text[pos:at])))
        label = escape(gettext("source %(number)s", number=c.number))
        out.append(f'<sup><a href="{url}" aria-label="{label}">{mark}</a></sup>')
        pos = at + len(mark)
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


@bp.app_template_filter("highlight")
def highlight(text: str, query: str, width: int = 260) -> Markup:
    """Return a snippet of ``text`` around the query's words, those words in ``<mark>``."""
    wanted = set(tokenize(query))
    words = list(_WORDS.finditer(text))
    hits = [m for m in words if tokenize(m.group(0)) and set(tokenize(m.group(0))) <= wanted]
    start = max(0, hits[0].start() - width // 3) if hits else 0
    if start:
        start = text.find(" ", start) + 1 or start
    end = min(len(text), start + width)
    out, pos = [], start
    for m in hits:
        if m.start() < start or m.end() > end:
            continue
        out.append(str(escape(text[pos : m.start()])))
        out.append(f"<mark>{escape(m.group(0))}</mark>")
        pos = m.end()
    out.append(str(escape(text[pos:end])))
    prefix = "… " if start else ""
    suffix = " …" if end < len(text) else ""
    return Markup(prefix + "".join(out).replace("\n", " ") + suffix)


_WORDS = re.compile(r"\w+", re.UNICODE)


@bp.app_template_filter("contact_link")
def contact_link(text: str, contact: str) -> Markup:
    """Return ``text`` escaped, its first mention of ``contact`` a link (mail or web)."""
    at = text.find(contact) if contact else -1
    if at < 0:
        return escape(text)
    href = contact if contact.startswith(("http://", "https://")) else f"mailto:{contact}"
    link = Markup('<a href="{}">{}</a>').format(href, contact)
    return escape(text[:at]) + link + escape(text[at + len(contact) :])


def page(template: str, **values: Any) -> str:
    """Render a page with the branding every page needs."""
    s = get_kb().settings
    return render_template(template, product=s.product_name, logo=s.logo_url, **values)


@bp.get("/")
def home() -> ResponseReturnValue:
    """The search page; with ``q`` it shows the answer and the matching articles."""
    kb = get_kb()
    query = request.args.get("q", "")
    hits, answer, error, updated = [], None, None, {}
    version = current_version(kb.settings.index_dir)
    if query.strip():
        try:
            searcher = kb.retrieval.searcher()
            version = searcher.version
            hits = kb.retrieval.search(query, k=10, searcher=searcher)
            answer = kb.answering.answer(query, searcher=searcher, channel="page")
            updated = kb.documents.updated_times(h.passage.doc_id for h in hits)
        except KbError as e:
            if e.status >= 500:
                raise
            error = e.message
    return page(
        "search.html",
        query=query,
        hits=hits,
        answer=answer,
        error=error,
        updated=updated,
        thanks=request.args.get("thanks") == "1",
        index_version=version,
        messages=page_messages(),
    )


@bp.post("/helpful")
def helpful() -> ResponseReturnValue:
    """Feedback from the page without JavaScript: store it, then go back to the results."""
    form = request.form
    item: dict[str, Any] = {
        "rating": form.get("rating"),
        "target": form.get("target", "answer"),
        "query": form.get("query", ""),
        "comment": form.get("comment") or None,
        "answer": form.get("answer") or None,
        "doc_id": form.get("doc_id") or None,
        "index_version": form.get("index_version") or None,
        "citations": [{"doc_id": d} for d in form.getlist("cited") if d][:20],
    }
    get_kb().documents.add_feedback(item)
    return redirect(url_for("pages.home", q=item["query"], thanks=1) + "#feedback-thanks", 303)


@bp.get("/editor")
def editor() -> ResponseReturnValue:
    """The editors' page: a shell that loads everything from the admin API with the key."""
    return page("editor.html", messages=editor_messages())


@bp.get("/theme.css")
def theme() -> ResponseReturnValue:
    """The configured colours, as CSS (kept out of the page so the CSP needs no inline style)."""
    colour = get_kb().settings.brand_color
    response = make_response(f":root {{ --accent: {colour}; }}\n")
    response.mimetype = "text/css"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/widget.js")
def widget() -> ResponseReturnValue:
    """The embeddable ask box: ``<script src="https://help.example/widget.js" defer>``."""
    s = get_kb().settings
    response = make_response(
        render_template(
            "widget.js", product=s.product_name, colour=s.brand_color, messages=widget_messages()
        )
    )
    response.mimetype = "text/javascript"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/articles/", defaults={"doc_id": None})
@bp.get("/articles/<path:doc_id>")
def article(doc_id: str | None) -> ResponseReturnValue:
    """kb's copy of a document, each section under its anchor.

    The id is the path, or the ``id`` query parameter for ids a path cannot carry (see
    :func:`kb.links.article_path`).
    """
    kb = get_kb()
    doc_id = requested_id(doc_id)
    doc = kb.documents.public_document(doc_id)
    if doc is None:
        raise NotFound(f"no document {doc_id[:200]!r}")
    sections = [(s, s.anchor or slugify(s.heading)) for s in doc.sections]
    return page("article.html", doc=doc, sections=sections)
