"""merge and split (issue 19): ticket.merged_into_id, the ticket a merged one joined

Revision ID: 0019
Revises: 0018

`#merge NUMBER` and `tickets merge A B` set B's merged_into_id to A (B's status becomes `merged`); later mail that
threads to B lands in A. Existing tickets get NULL. SQLite adds the column in place (ALTER TABLE ADD COLUMN with
REFERENCES), never rebuilding `ticket`, which every message and event references.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE ticket ADD COLUMN merged_into_id INTEGER REFERENCES ticket (id)")
    else:
        op.add_column("ticket", sa.Column("merged_into_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_ticket_merged_into_id", "ticket", "ticket", ["merged_into_id"], ["id"])
    op.create_index("ix_ticket_merged_into_id", "ticket", ["merged_into_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_merged_into_id", table_name="ticket")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE ticket DROP COLUMN merged_into_id")
    else:
        op.drop_constraint("fk_ticket_merged_into_id", "ticket", type_="foreignkey")
        op.drop_column("ticket", "merged_into_id")
