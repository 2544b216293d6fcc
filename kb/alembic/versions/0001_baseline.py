"""The store as of kb's last SQLite-only schema (its migrations 1 to 7), for both engines.

Documents with their versions, sources and chunks; embeddings cached by content hash; crawl
state per source; ingest runs; what customers said (feedback) and asked (queries); FAQ
candidates mined from tickets; background jobs; backend API keys (only a salted hash of each).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TEXT = sa.Text()


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", TEXT, primary_key=True),
        sa.Column("source", TEXT, nullable=False),
        sa.Column("kind", TEXT, nullable=False, server_default="article"),
        sa.Column("title", TEXT, nullable=False),
        sa.Column("url", TEXT),
        sa.Column("lang", TEXT),
        sa.Column("meta", TEXT, nullable=False, server_default="{}"),
        sa.Column("content_hash", TEXT, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
        sa.Column("text_key", TEXT),
    )
    op.create_index("documents_source", "documents", ["source"])
    op.create_table(
        "document_versions",
        sa.Column("doc_id", TEXT, primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("content_hash", TEXT, nullable=False),
        sa.Column("title", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_table(
        "document_sources",
        sa.Column(
            "doc_id", TEXT, sa.ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
        ),  # fmt: skip
        sa.Column("source", TEXT, primary_key=True),
    )
    op.create_index("document_sources_source", "document_sources", ["source"])
    op.create_table(
        "chunks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "doc_id", TEXT, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
        ),  # fmt: skip
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("section", TEXT, nullable=False),
        sa.Column("anchor", TEXT),
        sa.Column("text", TEXT, nullable=False),
        sa.Column("content_hash", TEXT, nullable=False),
        sa.UniqueConstraint("doc_id", "ordinal"),
    )
    op.create_table(
        "embeddings",
        sa.Column("model", TEXT, primary_key=True),
        sa.Column("content_hash", TEXT, primary_key=True),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "ingest_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("started_at", TEXT, nullable=False),
        sa.Column("finished_at", TEXT),
        sa.Column("sources", TEXT, nullable=False),
        sa.Column("report", TEXT),
    )
    op.create_table(
        "pages",
        sa.Column("url", TEXT, primary_key=True),
        sa.Column("source", TEXT, primary_key=True),
        sa.Column("doc_id", TEXT),
        sa.Column("etag", TEXT),
        sa.Column("last_modified", TEXT),
        sa.Column("lastmod", TEXT),
        sa.Column("links", TEXT, nullable=False, server_default="[]"),
        sa.Column("fetched_at", TEXT, nullable=False),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("target", TEXT, nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", TEXT),
        sa.Column("query", TEXT, nullable=False),
        sa.Column("answer", TEXT),
        sa.Column("citations", TEXT, nullable=False, server_default="[]"),
        sa.Column("doc_id", TEXT),
        sa.Column("index_version", TEXT),
        sa.Column("request_id", TEXT),
        sa.CheckConstraint("target IN ('answer', 'result')"),
        sa.CheckConstraint("rating IN (-1, 1)"),
    )
    op.create_index("feedback_created", "feedback", ["created_at"])
    op.create_table(
        "queries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("channel", TEXT, nullable=False),
        sa.Column("query", TEXT, nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),  # 0 or 1, as SQLite has it
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("top_doc", TEXT),
        sa.Column("index_version", TEXT),
        sa.Column("conversation_id", TEXT),
    )
    op.create_index("queries_created", "queries", ["created_at"])
    op.create_table(
        "faq_candidates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", TEXT, nullable=False, unique=True),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("question", TEXT, nullable=False),
        sa.Column("answer", TEXT, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("tickets", TEXT, nullable=False),
        sa.Column("lang", TEXT),
        sa.Column("queue", TEXT),
        sa.Column("coverage", sa.Float(), nullable=False),
        sa.Column("article", TEXT),
        sa.Column("status", TEXT, nullable=False, server_default="pending"),
        sa.Column("decided_at", TEXT),
        sa.Column("doc_id", TEXT),
        sa.CheckConstraint("status IN ('pending', 'accepted', 'rejected')"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", TEXT, nullable=False),
        sa.Column("sources", TEXT, nullable=False),
        sa.Column("status", TEXT, nullable=False, server_default="queued"),
        sa.Column("progress", sa.Integer()),
        sa.Column("report", TEXT),
        sa.Column("error", TEXT),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", TEXT, nullable=False),
        sa.Column("key_id", TEXT, nullable=False, unique=True),
        sa.Column("key_hash", TEXT, nullable=False),
        sa.Column("answers_per_minute", sa.Integer(), nullable=False),
        sa.Column("searches_per_minute", sa.Integer(), nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("revoked_at", TEXT),
        sa.CheckConstraint("answers_per_minute >= 0"),
        sa.CheckConstraint("searches_per_minute >= 0"),
    )
    live = sa.text("revoked_at IS NULL")
    op.create_index("api_keys_live_name", "api_keys", ["name"], unique=True,
                    sqlite_where=live, postgresql_where=live)  # fmt: skip


def downgrade() -> None:
    for table in ("api_keys", "jobs", "faq_candidates", "queries", "feedback", "pages",
                  "ingest_runs", "embeddings", "chunks", "document_sources",
                  "document_versions", "documents"):  # fmt: skip
        op.drop_table(table)
