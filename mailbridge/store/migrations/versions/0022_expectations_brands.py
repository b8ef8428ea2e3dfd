"""expectations, reminders, auto_close_statuses, brands (issue 19)

Revision ID: 0022
Revises: 0021

A Contact may close tickets left in other statuses than `waiting` (auto_close_statuses, comma-separated; NULL:
waiting only), remind the customer before (auto_close_reminder_hours; NULL: [support]'s), and be a brand of its own:
its From name, the `[smtp.NAME]` profile its mail goes through, and a template directory. An outbox row keeps the
SMTP profile chosen when it was queued (NULL: [smtp]).
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact") as batch:
        batch.add_column(sa.Column("auto_close_statuses", sa.String(), nullable=True))
        batch.add_column(sa.Column("auto_close_reminder_hours", sa.Float(), nullable=True))
        batch.add_column(sa.Column("from_name", sa.String(), nullable=True))
        batch.add_column(sa.Column("smtp", sa.String(), nullable=True))
        batch.add_column(sa.Column("template_dir", sa.String(), nullable=True))
    with op.batch_alter_table("outboxmail") as batch:
        batch.add_column(sa.Column("smtp_profile", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outboxmail") as batch:
        batch.drop_column("smtp_profile")
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("template_dir")
        batch.drop_column("smtp")
        batch.drop_column("from_name")
        batch.drop_column("auto_close_reminder_hours")
        batch.drop_column("auto_close_statuses")
