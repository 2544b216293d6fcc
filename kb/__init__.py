"""kb: a retrieval-augmented FAQ knowledge base for customer support."""

from kb.config import Settings, load_settings
from kb.errors import KbError
from kb.models import Answer, Chunk, Citation, Document, Hit, Passage, Section

__version__ = "0.1.0"
__all__ = [
    "Answer", "Chunk", "Citation", "Document", "Hit", "KbError", "Passage", "Section", "Settings",
    "load_settings",
]  # fmt: skip
