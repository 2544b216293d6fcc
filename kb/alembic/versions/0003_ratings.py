"""Customer satisfaction: a 1–5 rating at the end of a conversation, one per conversation and
client (a second rating replaces the first).

Each rating keeps a copy of its conversation's first question (redacted, as the query log has
it) and the document kb answered it from, so CSAT by topic outlives the query log. The query
log gets an index on its conversation ids, where a rating finds that first question.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TEXT = sa.Text()


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("conversation_id", TEXT, nullable=False),
        sa.Column("client", TEXT, nullable=False, server_default=""),  # backend key id, or ""
        sa.Column("channel", TEXT, nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", TEXT),
        sa.Column("question", TEXT),
        sa.Column("top_doc", TEXT),
        sa.CheckConstraint("rating BETWEEN 1 AND 5"),
        sa.CheckConstraint("channel IN ('page', 'widget', 'api')"),
        sa.UniqueConstraint("client", "conversation_id"),
    )
    op.create_index("ratings_created", "ratings", ["created_at"])
    op.create_index("queries_conversation", "queries", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("queries_conversation", "queries")
    op.drop_table("ratings")
