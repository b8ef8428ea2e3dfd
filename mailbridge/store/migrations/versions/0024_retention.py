"""retention and erasure (issue 20): `ticket.anonymised_at` and the `erasure` audit table

Revision ID: 0024
Revises: 0023

`[retention]` and `customers erase` anonymise tickets (`anonymised_at` marks them, so the daily timer does each once)
and record every erasure in `erasure` (who, when, counts; never the address). A nullable column added and a new
table: nothing existing is rebuilt, on SQLite (so message_fts's triggers stay) or PostgreSQL.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ticket", sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "erasure",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False, server_default=""),
        sa.Column("counts", sa.Text(), nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    op.drop_table("erasure")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("anonymised_at")
