"""Server-rendered pages: the search page and kb's own view of each article."""

from __future__ import annotations

import re
from collections.abc import Sequence

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from kb.errors import KbError, NotFound
from kb.models import Citation
from kb.text import slugify
from web.requests import get_kb

bp = Blueprint("pages", __name__)


@bp.app_template_filter("cite")
def cite(text: str, citations: Sequence[Citation]) -> Markup:
    """Return ``text`` escaped, with each ``[n]`` a link to its source."""
    urls = {c.number: c.url for c in citations}

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in urls:
            return ""
        return f'<sup><a href="{escape(urls[n])}" aria-label="source {n}">[{n}]</a></sup>'

    return Markup(re.sub(r"\[(\d+)\]", link, str(escape(text))))


@bp.get("/")
def home() -> ResponseReturnValue:
    """The search page; with ``q`` it shows the answer and the matching articles."""
    kb = get_kb()
    query = request.args.get("q", "")
    hits, answer, error = [], None, None
    if query.strip():
        try:
            hits = kb.search(query, k=10)
            answer = kb.answer(query)
        except KbError as e:
            if e.status >= 500:
                raise
            error = e.message
    return render_template(
        "search.html",
        product=kb.settings.product_name,
        query=query,
        hits=hits,
        answer=answer,
        error=error,
    )


@bp.get("/articles/<path:doc_id>")
def article(doc_id: str) -> ResponseReturnValue:
    """kb's copy of a document, each section under its anchor."""
    kb = get_kb()
    doc = kb.public_document(doc_id)
    if doc is None:
        raise NotFound(f"no document {doc_id!r}")
    sections = [(s, s.anchor or slugify(s.heading)) for s in doc.sections]
    return render_template(
        "article.html", product=kb.settings.product_name, doc=doc, sections=sections
    )
