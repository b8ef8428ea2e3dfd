"""ingest: an index for counting a ticket's recent outbox mail on every intake

Revision ID: 0004
Revises: 0001
"""

from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outboxmail_ticket_created", "outboxmail", ["ticket_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outboxmail_ticket_created", table_name="outboxmail")
