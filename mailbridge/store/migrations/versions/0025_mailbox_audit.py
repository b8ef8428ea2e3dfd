"""mailbox audit (issue 20): the last audit's result per mailbox

Revision ID: 0025
Revises: 0024

`mailboxaudit`: the last `mailboxes audit` of each mailbox (the daemon's nightly run or the CLI's), its counts and
problems as JSON. `mailboxstate.start_uid`: the initial-sync line of a folder (UIDs up to it were there before the
first poll and not taken), NULL for rows written before this version. A new table and a nullable column: nothing
existing is rebuilt on upgrade, on SQLite or PostgreSQL.
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("mailboxstate", sa.Column("start_uid", sa.BigInteger(), nullable=True))
    op.create_table(
        "mailboxaudit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("mailbox", sa.String(), nullable=False, unique=True),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("marked_not_stored", sa.Integer(), nullable=False),
        sa.Column("stored_not_marked", sa.Integer(), nullable=False),
        sa.Column("not_yet_polled", sa.Integer(), nullable=False),
        sa.Column("on_server", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False, server_default=""),
        sa.Column("error", sa.String(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mailboxaudit")
    # SQLite drops a column by rebuilding the table (mailboxstate has no foreign keys pointing at it).
    with op.batch_alter_table("mailboxstate") as batch:
        batch.drop_column("start_uid")
