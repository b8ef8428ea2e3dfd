"""IMAP UIDs and UIDVALIDITY as 64-bit integers (RFC 3501 allows up to 2**32-1, past a signed 32-bit column)

Revision ID: 0009
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = {
    "message": ("uidvalidity", "uid"),
    "mailboxstate": ("uidvalidity", "last_uid", "silent_below_uid"),
    "intakefailure": ("uidvalidity", "uid"),
}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, type_=sa.Integer(), existing_type=sa.BigInteger())
