"""named actions and topic choice, pre-sale flag (issue 19)

Revision ID: 0021
Revises: 0020

Named actions and topics live in the configuration; the only stored fact is `ticket.presale`: a new ticket from an
address with no earlier ticket whose first mail names no order number (`[support] presale_flag`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("presale", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("presale")
