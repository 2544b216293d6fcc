"""Question → retrieved passages → generated text → verified citations → an Answer."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kb.confidence import Calibrator, features
from kb.generate import ExtractiveGenerator, Generator
from kb.llm import NOT_FOUND, UpstreamError
from kb.locales import _, text_language, translate
from kb.marks import MARK as _MARK
from kb.marks import escape, escape_copies, resolve
from kb.models import Answer, Citation, Hit, Passage
from kb.text import names, run_on, sentences, tokenize

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


def verify_citations(
    text: str,
    passages: Sequence[Passage],
    duplicates: Mapping[int, tuple[str, ...]] | None = None,
) -> tuple[str, list[Citation]]:
    """Drop citations to passages that were not given; renumber the rest in order of use.

    ``text`` has the sources' own bracketed numbers escaped (see kb/marks.py). Returns the
    text as the customer reads it, those brackets written plainly, and one citation per
    passage cited in it with the offsets of its marks, so no citation can point at a passage
    the answer was not given and no text is mistaken for one. ``duplicates`` gives, by chunk
    id, the URLs of pages with the same text as a passage's page.
    """
    numbering: dict[int, int] = {}

    def renumber(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if not 1 <= n <= len(passages):
            return ""
        numbering.setdefault(n, len(numbering) + 1)
        return f"[{numbering[n]}]"

    cleaned = _MARK.sub(renumber, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()
    plain, marks = resolve(cleaned)
    citations = []
    for original, number in numbering.items():
        p = passages[original - 1]
        citations.append(
            Citation(
                number=number,
                doc_id=p.doc_id,
                doc_version=p.doc_version,
                title=p.title,
                url=p.url,
                section=p.section,
                quote=supporting_quote(cleaned, number, p.text),
                duplicates=(duplicates or {}).get(p.chunk_id, ()),
                offsets=tuple(at for at, n in marks if n == number),
            )
        )
    return plain, citations


_CLOSERS = ".,;:!?。，；：！？、 "


def supporting_quote(answer: str, number: int, passage_text: str, max_chars: int = 300) -> str:
    """Return the passage sentences the answer repeats before citation ``[number]``.

    When it repeats only part of one (a clause of a long sentence), that part. ``answer`` has
    the passage's own bracketed numbers escaped (see kb/marks.py).
    """
    before = _MARK.split(answer.split(f"[{number}]")[0])
    cited_spans = [seg for seg in before[-1:] if seg.strip()]
    passage_sentences = sentences(passage_text)
    quoted = [s for s in passage_sentences if any(escape(s) in span for span in cited_spans)]
    # A span after an earlier mark starts with that sentence's end ("[1]. Enter …").
    lines = [line.strip().lstrip(_CLOSERS) for span in cited_spans for line in span.splitlines()]
    parts = [line for line in lines if line and line in escape(passage_text)]
    quote = (
        " ".join(quoted)
        or resolve(" ".join(parts))[0]
        or (passage_sentences[0] if passage_sentences else passage_text)
    )
    return quote if len(quote) <= max_chars else quote[: max_chars - 1].rstrip() + "…"


def supported(sentence: str, passage_text: str, min_share: float = 0.5) -> bool:
    """Return whether most content words of ``sentence`` appear in ``passage_text``."""
    words = set(tokenize(_MARK.sub(" ", sentence)))
    if not words:
        return True
    return len(words & set(tokenize(passage_text))) / len(words) >= min_share


def drop_unsupported(text: str, passages: Sequence[Passage]) -> str:
    """Keep the sentences that the passages they cite (or, uncited, any passage) support.

    A passage's label echoed back ("[1] Reset your password — On the web") says nothing and
    goes too.
    """
    text = re.sub(
        rf"([.!?。！？])\s*((?:{_MARK.pattern}\s*)+)",
        lambda m: f" {m.group(2).strip()}{m.group(1)} ",
        text,
    )
    labels = {_bare(f"{p.title} — {p.section}") for p in passages}
    labels |= {_bare(p.title) for p in passages} | {_bare(p.section) for p in passages}
    lines = []
    for line in text.splitlines():  # a step or a code line stays a line of its own
        kept = []
        for sentence in sentences(line):
            if _bare(sentence) in labels:
                continue
            cited = [int(n) for n in _MARK.findall(sentence) if 1 <= int(n) <= len(passages)]
            sources = [passages[n - 1] for n in cited] if cited else list(passages)
            phantom_only = not cited and _MARK.search(sentence)
            if not phantom_only and any(supported(sentence, p.text) for p in sources):
                kept.append(sentence)
        if kept:
            lines.append(run_on(kept))
    return "\n".join(lines)


def _bare(text: str) -> str:
    """``text`` without citation marks, punctuation at its ends, case or extra space."""
    return " ".join(_MARK.sub(" ", text).split()).strip(" .:—-").casefold()


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
