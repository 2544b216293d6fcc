"""The use cases: what kb does for customers, chatbot backends and editors.

The only code that wires ``index/`` (retrieval) and ``ingest/`` (reading sources) together
and to the store. The layers, held by the import-linter contracts in ``pyproject.toml``::

    web, kb.cli  →  kb.usecases  →  index, ingest  →  the kb core (every other module of kb/)
"""
