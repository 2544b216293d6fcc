"""Follow-up questions made standalone for retrieval, by rule. Pure.

"And on the web?" means nothing to a search index; after "How do I reset my password?" it
means "How do I reset my password? And on the web?". A question is read as a follow-up when it
opens like one ("and", "what about", "那"), ends like one ("那退款呢？"), leans on a pronoun
("how long does it take?", "它支持安卓吗？"), or is too short to say what it is about; then the
previous question goes in front of it. A short question that names a topic the knowledge base
knows ("Refunds?", "退款？") is a new question, however short.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from kb.text import STOPWORDS, has_cjk, tokenize

MAX_TURNS = 3  # prior turns that count; older ones are dropped
_OPENERS = re.compile(
    r"^(and|also|but|or|what about|how about|what if|same for|and if|in that case)\b"
    r"|^(那|那么|还有|另外|还是|也|和|以及|而且|但是|可是|如果|要是|换成|至于|然后)",
    re.I,
)
# A preposition opens a follow-up ("By phone?", "For business accounts?") only when nothing
# asks a question of its own: "In which cases can I get a refund?" is a new question.
_FRAGMENT_OPENERS = re.compile(
    r"^(then|so|by|via|on|in|for|with|without|using|through|over|from|at|after|before)\b", re.I
)
_ASKS = re.compile(
    r"\b(who|what|which|when|where|why|how|can|could|do|does|did|is|are|was|were|will|would"
    r"|should|shall|may|might|must|have|has|need|i|we)\b",
    re.I,
)
_PRONOUNS = re.compile(
    r"\b(it|its|that|this|those|these|they|them|there|one|ones)\b"
    r"|它|这个|那个|这些|那些|这样|那样|这种|那种|其|该",
    re.I,
)
_ELLIPSIS = re.compile(r"呢\s*[?？]?\s*$")  # "X呢？": "and X?"
_CONTENT = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
# Words that ask or react but never name what a question is about.
_REACTIONS = """
about again also else ever long many more much often please really right sure take takes
thank thanks okay cost costs work works why help need want still
"""
_NOT_TOPICS = STOPWORDS | frozenset(_REACTIONS.split())
_ZH_QUESTION = re.compile(
    r"怎么样|怎么|怎样|如何|什么|为什么|多久|多长时间|多少|哪里|哪儿|哪个|可以|能不能|能否|需要"
    r"|是否|是不是|请问|谢谢|好的|吗|呢|吧|啊|呀|我|你|您|要|能|会|的|了|是|有|在|[?？!！.,。，]"
)

Known = Callable[[str], bool]  # whether the knowledge base has a (tokenised) term


def is_follow_up(question: str, known: Known | None = None) -> bool:
    """Return whether ``question`` needs the previous turn to make sense.

    ``known`` tells a term the knowledge base has: a short question naming one is a new
    question. Without it, every short question is read as a follow-up.
    """
    text = question.strip()
    content_words = [w for w in _CONTENT.findall(text) if not _PRONOUNS.fullmatch(w)]
    if has_cjk(text):
        short = len(_ZH_QUESTION.sub("", text)) <= 8
        leans = bool(_PRONOUNS.search(text)) and short
        content_words = [] if short else content_words
    else:
        leans = bool(_PRONOUNS.search(text)) and len(content_words) <= 4
    return (
        bool(_OPENERS.match(text))
        or (bool(_FRAGMENT_OPENERS.match(text)) and not _ASKS.search(text))
        or bool(_ELLIPSIS.search(text))
        or leans
        or (len(content_words) <= 1 and not names_topic(text, known))
    )


def names_topic(question: str, known: Known | None) -> bool:
    """Return whether ``question`` names something ``known`` to the knowledge base.

    Question words, pronouns and words that only react ("really", "thanks") name nothing; in
    Chinese, what is left once the question words (怎么, 多久, 吗…) are taken out is the topic.
    """
    if known is None:
        return False
    latin = [
        w for w in re.findall(r"[^\W\d_]{3,}", question)
        if not has_cjk(w) and w.casefold() not in _NOT_TOPICS and not _PRONOUNS.fullmatch(w)
    ]  # fmt: skip
    chinese = [run for run in re.split(r"\s+", _ZH_QUESTION.sub(" ", question)) if has_cjk(run)]
    # A Latin word must be known; a run of Chinese, written without spaces, half its bigrams.
    if any(t and all(map(known, t)) for t in map(tokenize, latin)):
        return True
    bigrams = [tokenize(run) for run in chinese if len(run) >= 2]
    return any(sum(map(known, b)) >= len(b) / 2 for b in bigrams if b)


def standalone(question: str, history: Sequence[str], known: Known | None = None) -> str:
    """Return the query to retrieve with: the question, with its context if it is a follow-up.

    ``known`` is as for :func:`is_follow_up`.
    """
    previous = [q.strip() for q in history[-MAX_TURNS:] if q.strip()]
    if not previous or not is_follow_up(question, known):
        return question
    return f"{previous[-1]} {question}"


def faithful(rewrite: str, question: str, history: Sequence[str]) -> bool:
    """Whether a model's rewrite of a follow-up keeps to the conversation.

    At least half of its content words must come from the question or the earlier turns: a
    rewrite that drifts to another topic would retrieve for a question nobody asked.
    """
    words = set(tokenize(rewrite))
    said = set(tokenize(" ".join([*history, question])))
    return bool(words) and len(words & said) >= len(words) / 2
