"""undo window and collision control (issue 19): answers that wait

Revision ID: 0020
Revises: 0019

`heldanswer`: an agent's answer waiting out `[agents] send_delay_seconds` in the outbox (with the status change it
carried, applied when delivery claims it), or written to an out-of-date notification and kept as a note until the
agent replies `#send`. A new table only: nothing existing is rebuilt, on SQLite or PostgreSQL.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "heldanswer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=False),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agent.id"), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False, server_default=""),
        sa.Column("source_message_id", sa.Integer(), sa.ForeignKey("message.id"), nullable=True),
        sa.Column("outbox_id", sa.Integer(), sa.ForeignKey("outboxmail.id"), nullable=True, unique=True),
        sa.Column("copy_message_id", sa.Integer(), sa.ForeignKey("message.id"), nullable=True),
        sa.Column("pending_status", sa.String(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_heldanswer_ticket_id", "heldanswer", ["ticket_id"])
    op.create_index("ix_heldanswer_agent_id", "heldanswer", ["agent_id"])
    op.create_index("ix_heldanswer_state", "heldanswer", ["state"])


def downgrade() -> None:
    op.drop_index("ix_heldanswer_state", table_name="heldanswer")
    op.drop_index("ix_heldanswer_agent_id", table_name="heldanswer")
    op.drop_index("ix_heldanswer_ticket_id", table_name="heldanswer")
    op.drop_table("heldanswer")
