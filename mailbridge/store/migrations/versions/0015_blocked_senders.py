"""blocked senders: addresses and domains whose mail is stored as spam and never answered

Revision ID: 0015
Revises: 0014

`mailbridge customers block ADDRESS|@DOMAIN` and an agent's `#spam` add rows; `customers unblock` removes them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blockedsender",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False, server_default=""),
        sa.Column("actor", sa.String(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry"),
    )


def downgrade() -> None:
    op.drop_table("blockedsender")
