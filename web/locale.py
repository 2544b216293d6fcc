"""The pages' language: Flask-Babel over kb's catalogue, and the messages the scripts need.

A request's locale is its ``lang`` parameter when kb has that catalogue, else the best match
for its ``Accept-Language`` (``zh-CN``, ``zh-Hans`` and ``zh-TW`` all read the Simplified
Chinese one), else English. Answers and refusals follow the question's own language instead
(see :func:`kb.locales.text_language`).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask_babel import Babel, force_locale, get_locale, gettext, ngettext

from kb.locales import DEFAULT, HTML_LANG, LOCALES, TRANSLATIONS, supported


def select_locale() -> str:
    """Return the locale for this request: ``?lang=``, then ``Accept-Language``, then English."""
    explicit = supported(request.args.get("lang"))
    if explicit:
        return explicit
    return supported(request.accept_languages.best_match(LOCALES)) or DEFAULT


def current_locale() -> str:
    """Return this request's locale as kb names it (``en``, ``zh``)."""
    return supported(str(get_locale())) or DEFAULT


def page_messages() -> dict[str, str]:
    """Return the search page script's messages in this request's locale."""
    return {
        "helpful": gettext("Was this helpful?"),
        "yes": gettext("Yes"),
        "no": gettext("No"),
        "add_comment": gettext("Add a comment"),
        "what_missing": gettext("What was missing or wrong?"),
        "no_match": gettext("No articles match. Try other words."),
        # Plural forms for one and for many: enough for English and Chinese.
        "articles_one": ngettext("%(num)d article", "%(num)d articles", 1),
        "articles_other": ngettext("%(num)d article", "%(num)d articles", 2),
        "updated": gettext("updated"),
        "also_at": gettext("also at"),
        "source": gettext("source %(number)s"),
        "not_found": gettext("We couldn't find an answer"),
        "answer": gettext("Answer"),
        "confidence": gettext("Confidence %(percent)s%%"),
        "went_wrong": gettext("Something went wrong. Please try again."),
        "thanks": gettext("Thanks for your feedback."),
        "not_saved": gettext("Sorry, we couldn't save that."),
        "satisfied_q": gettext("How satisfied are you?"),
        "scale_help": gettext("1 = very dissatisfied, 5 = very satisfied"),
        "rated": gettext("Thanks for your rating."),
        **{f"scale_{n}": label for n, label in satisfaction_scale()},
    }


def satisfaction_scale() -> list[tuple[int, str]]:
    """Return each rating of the satisfaction scale with its label, in this request's locale:
    the buttons' names, the number first (a screen reader says what is on the button)."""
    return [
        (1, gettext("1 – very dissatisfied")),
        (2, gettext("2 – dissatisfied")),
        (3, gettext("3 – neither satisfied nor dissatisfied")),
        (4, gettext("4 – satisfied")),
        (5, gettext("5 – very satisfied")),
    ]


def editor_messages() -> dict[str, str]:
    """Return the editors' page script's messages in this request's locale."""
    return {
        "bad_key": gettext("That key is not right."),
        "failed": gettext("The request failed."),
        "covered_by": gettext("covered by"),
        "not_covered": gettext("not covered"),
        "tickets": gettext("%(count)s tickets"),
        "coverage": gettext("coverage %(value)s"),
        "question": gettext("Question"),
        "answer": gettext("Answer"),
        "accept": gettext("Accept"),
        "reject": gettext("Reject"),
        "published_as": gettext("Published as %(doc_id)s"),
        "accepted": gettext("Accepted: it is published at the next ingest."),
        "rejected": gettext("Rejected."),
        "no_data": gettext("no data"),
        "weeks": gettext("%(first)s to %(last)s"),
        "chart": gettext("Tickets per week, %(weeks)s"),
        "loading": gettext("Loading…"),
        "questions": gettext("Questions"),
        "answered": gettext("Answered"),
        "refused": gettext("Refused"),
        "helpful": gettext("Helpful"),
        "not_helpful": gettext("Not helpful"),
        "deflection": gettext("Deflection (proxy)"),
        "csat": gettext("Satisfaction (mean of 1–5)"),
        "satisfied": gettext("Satisfied (4 or 5)"),
        "by_week": gettext("By week"),
        "by_topic": gettext("By topic"),
        "week": gettext("Week"),
        "topic": gettext("Topic"),
        "ratings": gettext("Ratings"),
        "mean": gettext("Mean"),
        "no_ratings": gettext("No ratings yet."),
        "no_candidates": gettext("No candidates yet: mine the tickets."),
        "gap_meta": gettext("%(count)s questions · %(reasons)s · last %(date)s"),
        "closest": gettext("closest article:"),
        "no_gaps": gettext("No gaps: every question was answered with confidence."),
        "rising": gettext("Rising %(dimension)s: %(value)s (%(recent)s a week, %(before)s before)"),
        "mining": gettext("Mining tickets…"),
        "job": gettext("Ingest #%(id)s: %(status)s – %(summary)s"),
        "documents_read": gettext("%(count)s documents read"),
        "held": gettext("Snapshot %(version)s is held back: %(reason)s"),
        "promoted": gettext("Now serving %(version)s."),
        "add_regression": gettext("Add as regression question"),
        "regression_added": gettext("Added regression question #%(id)s."),
        "regression_saved": gettext("Saved regression question #%(id)s."),
        "regression_retired": gettext("Retired regression question #%(id)s."),
        "no_regressions": gettext("No regression questions yet."),
        "no_pages": gettext("Tick a page that answers it, or name one."),
        "no_hits": gettext("No articles match. Try other words."),
        "searching": gettext("Searching…"),
        "pages": gettext("Pages, one a line"),
        "edit": gettext("Edit"),
        "save": gettext("Save"),
        "retire": gettext("Retire"),
        "origin_editor": gettext("added by an editor"),
        "origin_faq": gettext("accepted FAQ entry"),
        "origin_feedback": gettext("helpful feedback"),
        "origin_import": gettext("imported"),
        "nudge": gettext("%(direction)s%(percent)s · %(clients)s customers · “%(query)s”"),
        "undo": gettext("Undo"),
        "no_nudges": gettext("No votes move ranking now."),
        "nudge_undone": gettext("Votes on %(doc)s set aside."),
    }


def widget_messages() -> dict[str, dict[str, str]]:
    """Return the widget's messages in every locale: it picks by its host page's language."""
    out = {}
    for locale in LOCALES:
        with force_locale(locale):
            out[locale] = {
                "ask": gettext("Ask"),
                "ask_product": gettext("Ask %(product)s"),
                "help": gettext("Help"),
                "unavailable": gettext("Sorry, help is unavailable right now."),
                "satisfied_q": gettext("How satisfied are you?"),
                "rated": gettext("Thanks for your rating."),
                "not_saved": gettext("Sorry, we couldn't save that."),
                **{f"scale_{n}": label for n, label in satisfaction_scale()},
            }
    return out


def _template_values() -> dict[str, Any]:
    """The page's language for ``<html lang>``, and ``lang`` to carry on when it was asked for."""
    locale = current_locale()
    explicit = supported(request.args.get("lang"))
    return {"locale": locale, "html_lang": HTML_LANG[locale], "lang_param": explicit}


def init_app(app: Flask) -> None:
    """Give the app Flask-Babel over kb's catalogue and the locale to every template."""
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app, locale_selector=select_locale)
    app.context_processor(_template_values)
    app.after_request(_vary)


def _vary(response: Response) -> Response:
    """Pages differ by Accept-Language: say so to caches."""
    if response.mimetype == "text/html":
        response.vary.add("Accept-Language")
    return response
