"""Answers written by a language model behind any OpenAI-compatible endpoint.

The only module that imports ``openai``. The prompt is a data file (``prompts/answer.md``); the
passages go in numbered and fenced as quoted data. Every upstream fault (refused connection,
timeout, rate limit, an answer that is not one) becomes :class:`UpstreamError`, on which the
caller falls back to the extractive answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from kb.generate import Generator
from kb.models import Passage

NOT_FOUND = "NOT_FOUND"


class UpstreamError(Exception):
    """The language model could not be used for this answer; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def build_prompt(question: str, passages: Sequence[Passage]) -> str:
    """Return the prompt: the template with the numbered, fenced passages and the question."""
    template = resources.files("kb").joinpath("prompts/answer.md").read_text(encoding="utf-8")
    blocks = []
    for i, p in enumerate(passages, start=1):
        body = p.text.replace("<<<", "‹‹‹").replace(">>>", "›››")  # keep the fences ours
        blocks.append(f"[{i}] {p.title} — {p.section}\n<<<\n{body}\n>>>")
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
        import openai

        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": build_prompt(question, passages)}],
                max_tokens=self.max_tokens,
                temperature=0,
            )
        except openai.APITimeoutError:
            raise UpstreamError("the language model timed out") from None
        except openai.RateLimitError:
            raise UpstreamError("the language model is rate-limited") from None
        except openai.APIConnectionError:
            raise UpstreamError("the language model is unreachable") from None
        except openai.APIStatusError as e:
            raise UpstreamError(f"the language model answered HTTP {e.status_code}") from None
        except (openai.APIError, ValueError, TypeError):
            raise UpstreamError("the language model sent something that is not an answer") from None
        try:
            text = response.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise UpstreamError("the language model sent something that is not an answer") from None
        if not text.strip():
            raise UpstreamError("the language model sent an empty answer")
        return text.strip()
