"""Regression questions and the evaluation gate's verdicts on new snapshots.

A knowledge base keeps questions with their right pages (documents), grown from accepted FAQ
entries, editors' marks and helpful feedback; every snapshot an ingest builds is scored on
them against the one served, and held back when it does worse (see kb/usecases/gate.py).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TEXT = sa.Text()


def upgrade() -> None:
    op.create_table(
        "regression_questions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("question", TEXT, nullable=False),
        sa.Column("folded", TEXT, nullable=False),  # the question as compared: see kb/regressions
        sa.Column("pages", TEXT, nullable=False),  # JSON list of document ids
        sa.Column("origin", TEXT, nullable=False),  # editor, faq, feedback, import
        sa.Column("ref", TEXT),  # what it first came from ("feedback:12")
        sa.Column("status", TEXT, nullable=False, server_default="active"),
        sa.Column("note", TEXT, nullable=False, server_default=""),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
    )
    op.create_index("regression_questions_folded", "regression_questions", ["folded"])
    op.create_table(  # everything a question came from, so feedback is added once
        "regression_refs",
        sa.Column("ref", TEXT, primary_key=True),
        sa.Column("question_id", sa.Integer(), nullable=False),
    )
    op.create_table(
        "index_gates",
        sa.Column("version", TEXT, primary_key=True),
        sa.Column("status", TEXT, nullable=False),  # passed, held, promoted, forced
        sa.Column("served", TEXT),  # the snapshot it was compared with
        sa.Column("verdict", TEXT, nullable=False),  # JSON: figures, broken questions, reason
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("index_gates")
    op.drop_table("regression_refs")
    op.drop_index("regression_questions_folded", "regression_questions")
    op.drop_table("regression_questions")
