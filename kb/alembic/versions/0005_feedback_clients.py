"""Feedback says which client gave it, pseudonymously, so votes can move ranking only when
several clients agree; editors' undos of such nudges; the store's own secrets.

``feedback.client`` is a backend API key's id, or for a visitor ``v:`` and an HMAC of the
address and the month under a secret kept in ``kb_secrets`` (the address is never stored).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TEXT = sa.Text()


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy of the table, whose CHECK constraints are unnamed).
    op.add_column("feedback", sa.Column("client", TEXT, nullable=False, server_default=""))
    op.create_table(
        "nudge_undos",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("doc_id", TEXT, nullable=False),
        sa.Column("query", TEXT, nullable=False),  # votes on questions like it are ignored
        sa.Column("created_at", TEXT, nullable=False),  # … if they came before it
    )
    op.create_table(
        "kb_secrets",
        sa.Column("name", TEXT, primary_key=True),
        sa.Column("value", TEXT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kb_secrets")
    op.drop_table("nudge_undos")
    op.drop_column("feedback", "client")  # SQLite 3.35 and later drop a column in place
