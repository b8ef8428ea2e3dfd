"""daemon leases: the running daemons, which one polls each mailbox, and the timers' due times

Revision ID: 0017
Revises: 0016

Several `mailbridge run` on one PostgreSQL: each beats its `daemon` row, holds the mailboxes it polls through a
`mailboxlease` row (holder, expires_at), and claims each due time of a timer on its `timerdue` row.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daemon",
        sa.Column("instance", sa.String(), primary_key=True),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_beat_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "mailboxlease",
        sa.Column("mailbox", sa.String(), primary_key=True),
        sa.Column("holder", sa.String(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "timerdue",
        sa.Column("job", sa.String(), primary_key=True),
        sa.Column("next_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=False, server_default=""),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("timerdue")
    op.drop_table("mailboxlease")
    op.drop_table("daemon")
