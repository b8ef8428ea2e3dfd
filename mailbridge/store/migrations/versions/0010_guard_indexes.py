"""indexes for the loop guard's counts: automatic mail per address per day, messages per sender in 10 minutes

Revision ID: 0010
Revises: 0001
"""

from alembic import op

revision = "0010"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_message_sender_stored", "message", ["from_addr", "stored_at"])
    op.create_index("ix_outboxmail_rcpt_created", "outboxmail", ["rcpt_to", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outboxmail_rcpt_created", table_name="outboxmail")
    op.drop_index("ix_message_sender_stored", table_name="message")
