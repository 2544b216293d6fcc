"""Question → retrieved passages → generated text → verified citations → an Answer."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kb.citations import drop_unsupported, verify_citations
from kb.confidence import Calibrator, features
from kb.generate import ExtractiveGenerator, Generator
from kb.llm import NOT_FOUND, UpstreamError
from kb.locales import _, text_language, translate
from kb.marks import escape_copies
from kb.models import Answer, Citation, Hit, Passage
from kb.text import names, tokenize
from kb.timing import stage

REFUSAL = _(
    "I couldn't find an answer to this in the help centre. "
    "The articles below are the closest matches; if they don't help, please contact support."
)
MISSING = _(
    "I couldn't find anything about %(names)s in the help centre. "
    "The articles below are the closest matches; if they don't help, please contact support."
)


def refusal_text(missing: Sequence[str] = (), question: str = "") -> str:
    """Return the refusal in ``question``'s language, naming what the help centre never
    mentions when that is known."""
    lang = text_language(question)
    if not missing:
        return translate(lang, REFUSAL)
    quoted = [f"“{name}”" for name in missing]
    # NOTE: the separator between names the help centre never mentions, before the last
    comma = translate(lang, _(", "))
    first = comma.join(quoted[:-1])
    names = quoted[0] if len(quoted) == 1 else translate(lang, _("%(first)s or %(last)s"),
                                                        first=first, last=quoted[-1])  # fmt: skip
    return translate(lang, MISSING, names=names)


def escalation_text(department: str | None, contact: str, question: str = "") -> str:
    """Return where a refusal sends the customer, in ``question``'s language."""
    lang = text_language(question)
    if department and contact:
        message = _("Still stuck? Contact our %(department)s team: %(contact)s.")
    elif department:
        message = _("Still stuck? Contact our %(department)s team.")
    else:
        message = _("Still stuck? Contact support: %(contact)s.")
    return translate(lang, message, department=department or "", contact=contact)


def missing_names(question: str, known: Callable[[str], bool]) -> list[str]:
    """Return the names in ``question`` (products, brands, acronyms) no passage mentions.

    A question about a thing the knowledge base never names cannot be answered from it, however
    close the retrieved passages are in meaning: "Does it work with HomeKit?" retrieves the
    article on voice assistants, which says nothing about HomeKit.
    """
    return [
        name
        for name in names(question)
        if (terms := tokenize(name)) and not all(known(t) for t in terms)
    ]


RUNNER_UP_SHARE = 0.9  # the second page adds its best passage when it scores this near the first


def pick_passages(hits: Sequence[Hit], n: int) -> list[Passage]:
    """Return the passages an answer is drawn from: the best page's, in reading order.

    ``hits`` are pages, best first (see ``Searcher.pages``). The runner-up page adds its best
    passage when it scores nearly as well (``RUNNER_UP_SHARE``). The same text never appears
    twice.
    """
    if not hits:
        return []
    first = hits[0]
    chosen = list(first.support or (first.passage,))[: max(n - 1, 1)]
    if len(hits) > 1 and hits[1].score >= RUNNER_UP_SHARE * first.score:
        chosen.append(hits[1].passage)
    out: list[Passage] = []
    seen: set[str] = set()
    for passage in chosen:
        key = " ".join(passage.text.split()).casefold()
        if key not in seen:
            seen.add(key)
            out.append(passage)
    return out


@dataclass(frozen=True)
class Draft:
    """What is settled before generation: the passages to give, or already a refusal."""

    question: str
    given: list[Passage]
    related: tuple[Hit, ...]
    probability: float  # that the best page answers the question (see kb/confidence.py)
    refusal: Answer | None
    duplicates: Mapping[int, tuple[str, ...]] = field(default_factory=dict)


def prepare(
    question: str,
    hits: Sequence[Hit],
    *,
    mode: str,
    passages: int,
    min_confidence: float,
    missing: Sequence[str] = (),
    probability: float | None = None,
) -> Draft:
    """Pick the passages for ``question``, or refuse without generating.

    ``probability`` is the calibrated chance that the best page answers the question (the
    default model's estimate when not given). kb refuses up front when nothing was retrieved,
    when that probability is below ``min_confidence``, or when the question names things
    (``missing``) the knowledge base never mentions; then the confidence is scaled by the
    share of the question's names it does know.
    """
    if probability is None:
        probability = Calibrator().probability(features(hits, lambda _: True, question))
    probability = round(probability, 3)
    chosen = pick_passages(hits, passages)
    related = tuple(hits[:3])
    refusal = None
    duplicates = {p.chunk_id: h.duplicates for h in hits if h.duplicates
                  for p in (h.passage, *h.support)}  # fmt: skip
    if not chosen:
        refusal = Answer(question, refusal_text(missing, question), (), 0.0, True, mode, related)
    elif missing:
        known_share = 1 - len(missing) / max(len(names(question)), len(missing))
        conf = round(probability * known_share, 3)
        text = refusal_text(missing, question)
        refusal = Answer(question, text, (), conf, True, mode, related, missing=tuple(missing))
    elif probability < min_confidence:
        refusal = Answer(question, refusal_text((), question), (), probability, True, mode, related)
    return Draft(question, chosen, related, probability, refusal, duplicates)


def finish(
    draft: Draft, raw: str, mode: str, min_confidence: float, reason: str | None = None
) -> Answer:
    """Verify the generated ``raw`` text against the draft's passages into the final answer."""
    question, related = draft.question, draft.related
    conf = draft.probability
    if raw.strip() == NOT_FOUND:
        return Answer(question, refusal_text((), question), (), conf, True, mode, related, reason)
    text, citations = verified(raw, draft.given, draft.duplicates, composed=exact_marks(mode))
    if not citations or conf < min_confidence:
        return Answer(question, refusal_text((), question), (), conf, True, mode, related, reason)
    return Answer(question, text, tuple(citations), conf, False, mode, related, reason)


def verified(
    raw: str,
    given: Sequence[Passage],
    duplicates: Mapping[int, tuple[str, ...]] | None = None,
    *,
    composed: bool = False,
) -> tuple[str, list[Citation]]:
    """Return ``raw`` without unsupported sentences or phantom citations, and its citations.

    ``composed`` says every bare ``[n]`` in ``raw`` is a mark its generator added (the
    extractive composer escapes the brackets it quotes); otherwise a model's copies of the
    passages' own ``[n]`` are told from its citations first (see kb/marks.py).
    """
    if not composed:
        raw = escape_copies(raw, [p.text for p in given])
    with stage("citations"):
        return verify_citations(drop_unsupported(raw, given), given, duplicates)


def exact_marks(mode: str) -> bool:
    """Whether answers of ``mode`` mark their citations themselves, unambiguously."""
    return mode == ExtractiveGenerator.mode


def answer_question(
    question: str,
    hits: Sequence[Hit],
    generator: Generator,
    *,
    passages: int,
    min_confidence: float,
    fallback: Generator | None = None,
    missing: Sequence[str] = (),
    probability: float | None = None,
) -> Answer:
    """Answer ``question`` from ``hits``, or refuse with the closest articles.

    If ``generator`` fails upstream, ``fallback`` answers and the answer says why. ``missing``
    names what the question asks about that the knowledge base never mentions (see
    :func:`prepare`).
    """
    draft = prepare(
        question, hits, mode=generator.mode, passages=passages,
        min_confidence=min_confidence, missing=missing, probability=probability,
    )  # fmt: skip
    if draft.refusal is not None:
        return draft.refusal
    try:
        raw = generator.generate(question, draft.given)
    except UpstreamError as e:
        if fallback is None:
            raise
        return finish(draft, fallback.generate(question, draft.given), fallback.mode,
                      min_confidence, e.reason)  # fmt: skip
    answer = finish(draft, raw, generator.mode, min_confidence)
    if fallback is not None and unverified(answer, raw, fallback):
        extractive = fallback.generate(question, draft.given)
        return finish(draft, extractive, fallback.mode, min_confidence, UNVERIFIED)
    return answer


UNVERIFIED = "the language model's answer had no sentence its citations support"


def unverified(answer: Answer, raw: str, fallback: Generator) -> bool:
    """Whether a model's answer was refused only because none of it could be verified.

    The passages were good enough to answer from (``prepare`` let them through) and the model
    did not say they do not answer the question, so the extractive answer, verified by
    construction, serves the customer better than a refusal.
    """
    return answer.refused and answer.mode != fallback.mode and raw.strip() != NOT_FOUND


# A sentence is complete once the next one has begun: after its end mark (or line break) and
# any citations, something that is neither space nor another citation has arrived.
_SENTENCE_DONE = re.compile(
    r"(?:[.!?](?:\s*\[\d{1,3}\])*\s+|[。！？\n](?:\s*\[\d{1,3}\])*\s*)(?=[^\s\[])"
)

Event = tuple[str, Any]  # ("delta", text) | ("reset", reason) | ("done", Answer)


def stream_answer(
    question: str,
    hits: Sequence[Hit],
    generator: Generator,
    *,
    passages: int,
    min_confidence: float,
    fallback: Generator,
    missing: Sequence[str] = (),
    probability: float | None = None,
) -> Iterator[Event]:
    """Answer ``question`` as events: text as it is verified, then the final answer.

    Text goes out a sentence at a time, each only once it has been checked like the final
    answer (unsupported sentences dropped, phantom citations removed, numbers as in the final
    answer), so no unverified text or phantom citation reaches a client. ``("reset", reason)``
    tells the client to discard what it was sent: the model failed part-way (the extractive
    answer follows) or the final verdict is a refusal. ``("done", answer)`` always ends.
    """
    draft = prepare(
        question, hits, mode=generator.mode, passages=passages,
        min_confidence=min_confidence, missing=missing, probability=probability,
    )  # fmt: skip
    if draft.refusal is not None:
        yield "delta", draft.refusal.text
        yield "done", draft.refusal
        return
    raw, sent, checked = "", "", 0
    try:
        for piece in generator.stream(question, draft.given):
            raw += piece
            ends = [m.end() for m in _SENTENCE_DONE.finditer(raw, max(checked - 8, 0))]
            if not ends or ends[-1] <= checked:
                continue
            checked = ends[-1]
            text, cites = verified(
                raw[:checked], draft.given, draft.duplicates, composed=exact_marks(generator.mode)
            )
            # Nothing goes out before the first verified citation: an answer that never cites
            # anything is refused, and its text would only have to be taken back.
            if cites and text.startswith(sent) and len(text) > len(sent):
                yield "delta", text[len(sent) :]
                sent = text
        answer = finish(draft, raw, generator.mode, min_confidence)
        if unverified(answer, raw, fallback):
            raise UpstreamError(UNVERIFIED)
    except UpstreamError as e:
        if sent:
            yield "reset", e.reason
            sent = ""
        extractive = fallback.generate(question, draft.given)
        answer = finish(draft, extractive, fallback.mode, min_confidence, e.reason)
    if sent and (answer.refused or not answer.text.startswith(sent)):
        yield "reset", "the verified answer differs from the text sent"
        sent = ""
    if len(answer.text) > len(sent):
        yield "delta", answer.text[len(sent) :]
    yield "done", answer
