"""The answer writers of one knowledge base: the language model when one is configured, and the
extractive generator that needs none."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kb.config import Settings
from kb.generate import ExtractiveGenerator
from kb.usecases.embedders import EmbeddingModels

if TYPE_CHECKING:  # the openai client loads only when a model is configured
    from kb.llm import OpenAIGenerator


class Generators:
    """Builds the generators from ``settings``, the language model once."""

    def __init__(self, settings: Settings, models: EmbeddingModels) -> None:
        self.settings = settings
        self.models = models
        self._llm: OpenAIGenerator | None = None
        self._extractive: ExtractiveGenerator | None = None

    def llm(self) -> OpenAIGenerator | None:
        """The language model when ``llm_base_url`` is set, else None: it generates answers,
        rewrites follow-ups (:class:`kb.generate.Rewriter`) and drafts FAQ entries
        (:class:`kb.generate.FaqDrafter`)."""
        s = self.settings
        if not s.llm_base_url:
            return None
        if self._llm is None:
            from kb.llm import OpenAIGenerator

            self._llm = OpenAIGenerator(
                base_url=s.llm_base_url,
                model=s.llm_model,
                api_key=s.llm_api_key or os.environ.get("OPENAI_API_KEY", ""),
                timeout=s.llm_timeout,
                max_tokens=s.llm_max_tokens,
                retries=s.llm_retries,
            )
        return self._llm

    def extractive(self) -> ExtractiveGenerator:
        """The extractive generator: sentences of the passages, chosen with the query embedder."""
        embedder = self.models.query_embedder
        if self._extractive is None or self._extractive.embedder is not embedder:
            self._extractive = ExtractiveGenerator(embedder)  # one per model: it keeps vectors
        return self._extractive
