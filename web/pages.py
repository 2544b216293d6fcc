"""Server-rendered pages: the search page and kb's own view of each article."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from markupsafe import Markup, escape
from pydantic import BaseModel

from index.versions import current_version
from kb.errors import KbError, NotFound
from kb.models import Citation, Section
from kb.text import slugify, tokenize
from web.contract import IdQuery, PageQuery
from web.locale import editor_messages, page_messages, satisfaction_scale, widget_messages
from web.openapi import Contract
from web.requests import get_kb, requested_id
from web.security import client_key_id, client_name


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


HTML: dict[int, Any] = {200: {"text/html": None}}
HELPFUL_ERRORS = {400: "What was wrong with the form", 413: "Form too large",
                  429: "Too many requests from this address"}  # fmt: skip
PAGE_ERRORS: dict[int, Any] = {code: {"text/html": None} for code in HELPFUL_ERRORS}


class HelpfulForm(BaseModel):
    """The search page's feedback form (no JavaScript needed)."""

    rating: Literal["up", "down"]
    target: Literal["answer", "result"] = "answer"
    query: str = ""
    comment: str | None = None
    answer: str | None = None
    doc_id: str | None = None
    index_version: str | None = None
    cited: list[str] = []


class SatisfactionForm(BaseModel):
    """The search page's satisfaction form (no JavaScript needed): one button per rating."""

    conversation_id: str
    rating: Literal["1", "2", "3", "4", "5"]
    lang: str | None = None  # the page's language, kept on the way back


def new_conversation() -> str:
    """A new conversation id for a question asked on the page: random, so nobody can guess
    another visitor's and rate it."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class ArticleSection:
    """A section as kb's article page shows it: its element id, page mark, heading or not."""

    section: Section
    anchor: str | None
    page: str | None
    heading: bool


def article_sections(sections: Sequence[Section]) -> list[ArticleSection]:
    """Return how kb's article page shows ``sections``: each anchor once, a PDF's pages marked.

    Sections without an anchor get their heading's slug; sections of one PDF page share its
    ``page=N`` anchor, which the first of them carries, with a page mark.
    """
    shown: list[ArticleSection] = []
    seen: set[str] = set()
    previous = None
    for s in sections:
        anchor = s.anchor or slugify(s.heading)
        page_number = anchor[5:] if anchor.startswith("page=") and anchor[5:].isdigit() else None
        first = anchor not in seen
        seen.add(anchor)
        shown.append(ArticleSection(s, anchor if first else None,
                                    page_number if first else None,
                                    heading=s.heading != previous))  # fmt: skip
        previous = s.heading
    return shown


def blueprint(contract: Contract) -> Blueprint:
    """Return the pages' blueprint, declared in ``contract`` (HTML, so not validated there)."""
    bp = Blueprint("pages", __name__)
    for name, f in (("cite", cite), ("highlight", highlight), ("contact_link", contact_link)):
        bp.add_app_template_filter(f, name)
    op = contract.operation

    @bp.get("/")
    @op(query=PageQuery, media=HTML, validate=False)
    def home() -> ResponseReturnValue:
        """The search page; with ``q`` it shows the answer and the matching articles."""
        kb = get_kb()
        query = request.args.get("q", "")
        hits, answer, error, updated = [], None, None, {}
        version = current_version(kb.settings.snapshots_dir)
        conversation = new_conversation()
        if query.strip():
            try:
                searcher = kb.retrieval.searcher()
                version = searcher.version
                hits = kb.retrieval.search(query, k=10, searcher=searcher)
                answer = kb.answering.answer(query, searcher=searcher, channel="page",
                                             conversation=conversation)  # fmt: skip
                updated = kb.documents.updated_times((h.passage.doc_id for h in hits), searcher)
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
            rated=request.args.get("rated") == "1",
            csat=kb.settings.csat_page,
            scale=satisfaction_scale(),
            conversation_id=conversation,
            index_version=version,
            messages=page_messages(),
        )

    @bp.post("/helpful")
    @op(form=HelpfulForm, status=303, description="Back to the results, with thanks",
        errors=HELPFUL_ERRORS, media=PAGE_ERRORS, validate=False)  # fmt: skip
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
        get_kb().documents.add_feedback(item, client=client_name())
        return redirect(url_for("pages.home", q=item["query"], thanks=1) + "#feedback-thanks", 303)

    @bp.post("/satisfaction")
    @op(form=SatisfactionForm, status=303, description="Back to the search page, with thanks",
        errors=HELPFUL_ERRORS, media=PAGE_ERRORS, validate=False)  # fmt: skip
    def satisfaction() -> ResponseReturnValue:
        """A rating from the page without JavaScript: store it, then thank the customer.

        The rating ends the conversation, so the page it goes back to asks nothing again.
        """
        form = request.form
        rating = form.get("rating", "")
        item = {
            "conversation_id": form.get("conversation_id", ""),
            "rating": int(rating)
            if rating.isascii() and rating.isdigit() and len(rating) < 3
            else rating,
            "channel": "page",
        }
        get_kb().documents.add_rating(item, client=client_key_id())
        lang = form.get("lang") or None
        return redirect(url_for("pages.home", rated=1, lang=lang) + "#rating-thanks", 303)

    @bp.get("/editor")
    @op(media=HTML)
    def editor() -> ResponseReturnValue:
        """The editors' page: a shell that loads everything from the admin API with the key."""
        return page("editor.html", messages=editor_messages())

    @bp.get("/theme.css")
    @op(description="CSS", media={200: {"text/css": None}})
    def theme() -> ResponseReturnValue:
        """The configured colours, as CSS (out of the page, so the CSP needs no inline style)."""
        colour = get_kb().settings.brand_color
        response = make_response(f":root {{ --accent: {colour}; }}\n")
        response.mimetype = "text/css"
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    @bp.get("/widget.js")
    @op(description="Script", media={200: {"text/javascript": None}})
    def widget() -> ResponseReturnValue:
        """The embeddable ask box: ``<script src="https://help.example/widget.js" defer>``."""
        s = get_kb().settings
        response = make_response(
            render_template(
                "widget.js",
                product=s.product_name,
                colour=s.brand_color,
                csat=s.csat_widget,
                messages=widget_messages(),
            )
        )
        response.mimetype = "text/javascript"
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    @bp.get("/articles/", defaults={"doc_id": None})
    @bp.get("/articles/<path:doc_id>")
    @op(
        query=IdQuery,
        errors={400: "No id given", 404: "No such public document"},
        media={**HTML, 400: {"text/html": None}, 404: {"text/html": None}},
        validate=False,
    )
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
        return page("article.html", doc=doc, sections=article_sections(doc.sections))

    return bp
