"""message raw path: raw mail over [ingest] raw_file_threshold_bytes kept as a file under the data directory

Revision ID: 0014
Revises: 0013

message.raw_path names the file (store.raw_files); such a row's `raw` blob is empty. Rows stored before this
revision keep their blob and get NULL.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("message", sa.Column("raw_path", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("raw_path")
