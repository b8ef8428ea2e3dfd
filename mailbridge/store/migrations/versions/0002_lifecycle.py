"""lifecycle: ticket threading key, links, categories, timers, SLA, order numbers, full-text index

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact") as batch:
        batch.add_column(sa.Column("auto_close_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("first_response_hours", sa.Float(), nullable=True))
        batch.add_column(sa.Column("escalation_address", sa.String(), nullable=True))
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("subject_key", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("linked_ticket_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("category", sa.String(), nullable=True))
        batch.add_column(sa.Column("assigned_agent", sa.String(), nullable=True))
        batch.add_column(sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sla_reported_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key("fk_ticket_linked_ticket_id", "ticket", ["linked_ticket_id"], ["id"])
        batch.create_index("ix_ticket_category", ["category"])
        batch.create_index("ix_ticket_thread_key", ["customer_id", "contact_id", "subject_key"])
    # Existing tickets count their current status from their last change.
    op.execute("UPDATE ticket SET status_changed_at = updated_at")
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("order_number", sa.String(), nullable=True))
        batch.create_index("ix_message_order_number", ["order_number"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE message_fts USING fts5(subject, body, content = '', tokenize = 'unicode61 remove_diacritics 2')")
    else:
        op.execute("CREATE INDEX ix_message_fulltext ON message USING gin "
                   "(to_tsvector('simple', coalesce(subject, '') || ' ' || coalesce(text_body, '')))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE message_fts")
    else:
        op.execute("DROP INDEX ix_message_fulltext")
    with op.batch_alter_table("message") as batch:
        batch.drop_index("ix_message_order_number")
        batch.drop_column("order_number")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_index("ix_ticket_thread_key")
        batch.drop_index("ix_ticket_category")
        batch.drop_constraint("fk_ticket_linked_ticket_id", type_="foreignkey")
        for column in ("sla_reported_at", "first_response_at", "status_changed_at", "assigned_agent",
                       "category", "linked_ticket_id", "subject_key"):
            batch.drop_column(column)
    with op.batch_alter_table("contact") as batch:
        for column in ("escalation_address", "first_response_hours", "auto_close_days"):
            batch.drop_column(column)
