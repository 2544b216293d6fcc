"""The use cases: what kb does for customers, chatbot backends and editors.

The only code that wires ``index/`` (retrieval) and ``ingest/`` (reading sources) together
and to the store. The layers, held by the import-linter contracts in ``pyproject.toml``::

    kb.cli  →  web  →  kb.usecases  →  index | ingest  →  the kb core (the other modules of kb/)
"""
