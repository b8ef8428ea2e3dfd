"""loop guard: automatic-mail flag on the outbox, address suppressions

Revision ID: 0005
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outboxmail") as batch:
        batch.add_column(sa.Column("is_automatic", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("caused_by_message_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_outboxmail_caused_by", "message", ["caused_by_message_id"], ["id"])
        batch.create_index("ix_outboxmail_is_automatic", ["is_automatic"])
        batch.create_index("ix_outboxmail_rcpt_to", ["rcpt_to"])
    op.create_table(
        "addresssuppression",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("address", sa.String(), nullable=False, unique=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("addresssuppression")
    with op.batch_alter_table("outboxmail") as batch:
        batch.drop_index("ix_outboxmail_rcpt_to")
        batch.drop_index("ix_outboxmail_is_automatic")
        batch.drop_constraint("fk_outboxmail_caused_by", type_="foreignkey")
        batch.drop_column("caused_by_message_id")
        batch.drop_column("is_automatic")
