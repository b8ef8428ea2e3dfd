"""Cc and collaborators (issue 19): a ticket's participants

Revision ID: 0018
Revises: 0017

`ticketparticipant`: the people besides the customer on a ticket (a colleague the customer wrote in Cc, or one an
agent added with `#cc add`), who get the relayed answers in Cc; `removed` keeps an agent's `#cc remove`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticketparticipant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False, server_default=""),
        sa.Column("added_by", sa.String(), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "email", name="uq_ticket_participant"),
    )
    op.create_index("ix_ticketparticipant_ticket_id", "ticketparticipant", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_ticketparticipant_ticket_id", table_name="ticketparticipant")
    op.drop_table("ticketparticipant")
