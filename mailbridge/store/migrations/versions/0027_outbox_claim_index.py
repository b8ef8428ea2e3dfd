"""the outbox's claims (issue 18): `outboxmail.priority` and `ix_outboxmail_claim`; `outboxmail.claimed_by`

Revision ID: 0027
Revises: 0026

A claim ordered the queued rows by a CASE over `kind`, which no index serves: with a backlog of thousands of
receipts every claim of five read and sorted all of them (25 ms each at 7,000 queued, a third of PostgreSQL's time
in a fleet benchmark). The priority is now kept on the row, written when the mail is queued, and
`ix_outboxmail_claim` holds the rows by status in claim order, so a claim walks them in order and stops at the five
due ones it takes (stepping over the rows of a higher priority that wait for a retry, and other relays' mail). It begins with
the status, so it stands in for `ix_outboxmail_status` too, which goes.

Only mail waiting to be sent is given its priority here (a history of sent mail is not rewritten); `outbox retry`
sets it on mail it puts back in the queue.

`claimed_by` names the daemon (its instance) that claimed a mail now `sending`: when a daemon is known dead (a daemon
that starts on its host finds its process gone) its claims go back in the queue at once, instead of waiting out the
two-minute SENDING_LEASE.
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# decisions.outbox_priority as of this revision (a copy: a later change of it must not change what this one did);
# every other kind is 1, a mail of a person.
ALERT = ("mailbox_alert", "job_alert", "flood_alert", "sla_warning")
BULK = ("receipt", "handling_started", "auto_closed", "auto_close_reminder", "survey", "survey_thanks", "merged")


def upgrade() -> None:
    op.add_column(
        "outboxmail",
        sa.Column("priority", sa.Integer(), nullable=False, server_default="1"),
    )
    op.add_column("outboxmail", sa.Column("claimed_by", sa.String(), nullable=True))
    for priority, kinds in ((0, ALERT), (2, BULK)):
        listed = ", ".join(f"'{kind}'" for kind in kinds)
        op.execute(
            f"UPDATE outboxmail SET priority = {priority} WHERE kind IN ({listed}) AND status IN ('queued', 'sending')"
        )
    op.create_index("ix_outboxmail_claim", "outboxmail", ["status", "priority", "next_attempt_at", "id"])
    op.drop_index("ix_outboxmail_status", table_name="outboxmail")


def downgrade() -> None:
    op.create_index("ix_outboxmail_status", "outboxmail", ["status"])
    op.drop_index("ix_outboxmail_claim", table_name="outboxmail")
    with op.batch_alter_table("outboxmail") as batch:  # SQLite rebuilds the table
        batch.drop_column("claimed_by")
        batch.drop_column("priority")
