"""Alembic's environment for kb's store: run on the connection kb hands over (see kb/database.py).

kb runs its migrations itself when it opens a store (``kb migrate`` runs them on demand); the
connection comes in ``config.attributes["connection"]``. SQLite's ALTER TABLE is limited, so
changes are rendered in batch mode (copy and move), which PostgreSQL runs as plain ALTERs.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
