"""Answers written by a language model behind any OpenAI-compatible endpoint.

The only module that imports ``openai``. The prompt is a data file (``prompts/answer.md``); the
passages go in numbered and fenced as quoted data. Every upstream fault (refused connection,
timeout, rate limit, an answer that is not one) becomes :class:`UpstreamError`, on which the
caller falls back to the extractive answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources

from kb.generate import Generator
from kb.marks import escape
from kb.models import Passage

NOT_FOUND = "NOT_FOUND"
log = logging.getLogger("kb")


class UpstreamError(Exception):
    """The language model could not be used for this answer; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def build_prompt(question: str, passages: Sequence[Passage]) -> str:
    """Return the prompt: the template with the numbered, fenced passages and the question.

    The passages' own bracketed numbers are escaped, so the only bare ``[n]`` are kb's.
    """
    template = resources.files("kb").joinpath("prompts/answer.md").read_text(encoding="utf-8")
    blocks = []
    for i, p in enumerate(passages, start=1):
        body = escape(fence(p.text))  # keep the fences and the citation marks ours
        blocks.append(f"[{i}] {escape(p.title)} — {escape(p.section)}\n<<<\n{body}\n>>>")
    return template.replace("{passages}", "\n\n".join(blocks)).replace("{question}", question)


class OpenAIGenerator(Generator):
    """Writes answers with a chat model through the ``openai`` client."""

    mode = "llm"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str,
        timeout: float,
        max_tokens: int,
        retries: int,
    ) -> None:
        from openai import OpenAI

        self.model = model
        self.max_tokens = max_tokens
        self.client = OpenAI(
            base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=retries
        )

    def generate(self, question: str, passages: Sequence[Passage]) -> str:
        with upstream_errors():
            response = self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": build_prompt(question, passages)}],
                max_tokens=self.max_tokens,
                temperature=0,
            )
            text = response.choices[0].message.content or ""
        count_tokens(response)
        if not text.strip():
            raise UpstreamError("the language model sent an empty answer")
        return text.strip()

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str]:
        """Yield the answer as the model writes it; a fault part-way raises UpstreamError."""
        wrote = False
        with upstream_errors():
            chunks = self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": build_prompt(question, passages)}],
                max_tokens=self.max_tokens,
                temperature=0,
                stream=True,
            )
            finish = None
            try:
                for chunk in chunks:
                    if not chunk.choices:  # usage or keep-alive chunks carry no text
                        continue
                    piece = chunk.choices[0].delta.content
                    finish = chunk.choices[0].finish_reason or finish
                    if piece:
                        wrote = wrote or bool(piece.strip())
                        yield piece
            finally:
                chunks.close()
        if finish is None:  # the stream ended without saying it was done: cut off
            raise UpstreamError("the language model stopped part-way")
        if not wrote:
            raise UpstreamError("the language model sent an empty answer")

    def rewrite(self, question: str, history: Sequence[str]) -> str:
        """Return ``question`` rewritten to stand alone, given the earlier ``history``."""
        template = resources.files("kb").joinpath("prompts/rewrite.md").read_text("utf-8")
        turns = "\n".join(f"- {fence(q)}" for q in history)
        prompt = template.replace("{history}", turns).replace("{question}", fence(question))
        with upstream_errors():
            response = self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=100,
                temperature=0,
            )
            text = (response.choices[0].message.content or "").strip().strip('"')
        if not text or "\n" in text or len(text) > 500:
            raise UpstreamError("the language model sent something that is not a question")
        return text

    def draft_faq(self, questions: Sequence[str], resolutions: Sequence[str]) -> tuple[str, str]:
        """Return (question, answer) for an FAQ entry drafted from a cluster of tickets."""
        template = resources.files("kb").joinpath("prompts/faq.md").read_text("utf-8")
        quote = lambda items: "\n".join(f"<<<\n{fence(t[:1500])}\n>>>" for t in items)  # noqa: E731
        prompt = template.replace("{questions}", quote(questions)).replace(
            "{resolutions}", quote(resolutions)
        )
        with upstream_errors():
            response = self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=self.max_tokens,
                temperature=0,
            )
            text = (response.choices[0].message.content or "").strip()
        question, _, answer = text.partition("\n")
        if not question.strip() or not answer.strip():
            raise UpstreamError("the language model sent something that is not an FAQ entry")
        return question.strip().lstrip("#Q:").strip(), answer.strip()


def count_tokens(response: object) -> None:
    """Add a reply's token usage, when the endpoint reports it, to the metrics."""
    from kb.telemetry import LLM_TOKENS

    usage = getattr(response, "usage", None)
    for kind in ("prompt", "completion"):
        n = getattr(usage, f"{kind}_tokens", None)
        if isinstance(n, int) and n > 0:
            LLM_TOKENS.labels(kind).inc(n)


def fence(text: str) -> str:
    """Return ``text`` with kb's own fence marks neutralised, for quoting inside a prompt."""
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")


@contextmanager
def upstream_errors() -> Iterator[None]:
    """Turn every fault of the endpoint or its replies into :class:`UpstreamError`."""
    import openai

    from kb.telemetry import LLM_FAILURES, LLM_SECONDS

    started = time.perf_counter()
    try:
        yield
    except openai.APITimeoutError:
        LLM_FAILURES.labels("timeout").inc()
        raise UpstreamError("the language model timed out") from None
    except openai.RateLimitError:
        LLM_FAILURES.labels("rate_limited").inc()
        raise UpstreamError("the language model is rate-limited") from None
    except openai.APIConnectionError:
        LLM_FAILURES.labels("unreachable").inc()
        raise UpstreamError("the language model is unreachable") from None
    except openai.APIStatusError as e:
        LLM_FAILURES.labels("status").inc()
        raise UpstreamError(f"the language model answered HTTP {e.status_code}") from None
    except (openai.APIError, ValueError, TypeError, AttributeError, IndexError, KeyError):
        LLM_FAILURES.labels("garbage").inc()
        raise UpstreamError("the language model sent something that is not an answer") from None
    except Exception as e:  # the HTTP library's own errors, from a stream cut or stalled part-way
        log.warning("language model stream failed: %s: %s", type(e).__name__, e)
        LLM_FAILURES.labels("cut").inc()
        raise UpstreamError("the language model stopped part-way") from None
    finally:
        LLM_SECONDS.observe(time.perf_counter() - started)
