"""customer history with orders (issue 20): the order look-up cache

Revision ID: 0023
Revises: 0022

`shopcache`: one row per customer address looked up in the `[shop]`: when, the answer (runtime.shop_lookup's JSON,
decisions.shop.to_payload) and the error of a failed lookup. `shopwait`: a new customer's message whose agent
notification waits for the first lookup (sent by the shop job, with or without the history). New tables only:
nothing existing is rebuilt, on SQLite or PostgreSQL.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shopcache",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(), nullable=False, unique=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False, server_default=""),
    )
    op.create_table(
        "shopwait",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("message.id"), nullable=False, unique=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("headline", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_shopwait_ticket_id", "shopwait", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_shopwait_ticket_id", table_name="shopwait")
    op.drop_table("shopwait")
    op.drop_table("shopcache")
