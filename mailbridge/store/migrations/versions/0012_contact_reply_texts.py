"""contact reply texts: a Contact's greeting and signature per locale

Revision ID: 0012
Revises: 0011

contact.reply_greeting and contact.reply_signature stay as they are: they are the Contact's default text, used for
every locale that has no row here, so an upgraded installation answers exactly as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contactreplytext",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(), nullable=False),
        sa.Column("locale", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_id", "part", "locale", name="uq_contact_reply_text"),
    )
    with op.batch_alter_table("contactreplytext") as batch:
        batch.create_index("ix_contactreplytext_contact_id", ["contact_id"])


def downgrade() -> None:
    op.drop_table("contactreplytext")
