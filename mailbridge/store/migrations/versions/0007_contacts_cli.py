"""contacts CLI: Contact description, accept_attachments, send_survey

Revision ID: 0007
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact") as batch:
        batch.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("accept_attachments", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("send_survey", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("send_survey")
        batch.drop_column("accept_attachments")
        batch.drop_column("description")
