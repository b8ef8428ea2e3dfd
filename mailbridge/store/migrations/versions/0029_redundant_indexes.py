"""eight indexes that another index begins with go (issue 18)

Revision ID: 0029
Revises: 0028

An index on column A is redundant beside an index on (A, B): both databases find rows by A through the second one
alike. Each redundant one cost an entry per stored row and, on the outbox, another per status change (the status is
in the claim index, so PostgreSQL writes a new version of the row and an entry in every index of the table at each
claim and send). Gone:

- `ix_message_from_addr`: `ix_message_sender_stored` (from_addr, stored_at);
- `ix_outboxmail_rcpt_to`: `ix_outboxmail_rcpt_created` (rcpt_to, created_at);
- `ix_outboxmail_ticket_id`: `ix_outboxmail_ticket_created` (ticket_id, created_at);
- `ix_ticket_customer_id`: `ix_ticket_thread_key` (customer_id, contact_id, subject_key), which also serves the
  foreign key's checks when a customer is erased;
- `ix_ticketparticipant_ticket_id`, `ix_agentcontact_agent_id`, `ix_textmodule_contact_id`,
  `ix_contactreplytext_contact_id`: the unique constraint of the table begins with the column.

`tests/integration/test_schema_check.py` keeps it so: no plain index is the leading part of another of its table.
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

REDUNDANT = (
    ("message", "ix_message_from_addr", ["from_addr"]),
    ("outboxmail", "ix_outboxmail_rcpt_to", ["rcpt_to"]),
    ("outboxmail", "ix_outboxmail_ticket_id", ["ticket_id"]),
    ("ticket", "ix_ticket_customer_id", ["customer_id"]),
    ("ticketparticipant", "ix_ticketparticipant_ticket_id", ["ticket_id"]),
    ("agentcontact", "ix_agentcontact_agent_id", ["agent_id"]),
    ("textmodule", "ix_textmodule_contact_id", ["contact_id"]),
    ("contactreplytext", "ix_contactreplytext_contact_id", ["contact_id"]),
)


def upgrade() -> None:
    for table, name, _columns in REDUNDANT:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for table, name, columns in REDUNDANT:
        op.create_index(name, table, columns)
