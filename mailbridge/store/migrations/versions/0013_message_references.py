"""message references: every Message-ID a stored inbound message names in In-Reply-To or References, keyed by that id

Revision ID: 0013
Revises: 0012

Threading (issue 15) looks up the stored replies to a message that arrives after them, and stored mail sharing a
reference with a new one. Mail stored before this revision is filled in here, in batches, by the same rule intake
applies to new mail (In-Reply-To and the newest 50 References, none longer than 500 characters, not its own id).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BATCH = 5000
# Frozen here on purpose: a migration keeps doing what it did when it was written (ticket_match.thread_links).
MAX_LINKS = 50
MAX_ID_CHARS = 500

_message = sa.table(
    "message",
    sa.column("id", sa.Integer),
    sa.column("direction", sa.String),
    sa.column("message_id", sa.String),
    sa.column("in_reply_to", sa.String),
    sa.column("references", sa.Text),
)
_links = sa.table("messagereference", sa.column("referenced_id", sa.String), sa.column("message_row_id", sa.Integer))


def upgrade() -> None:
    op.create_table(
        "messagereference",
        sa.Column("referenced_id", sa.String(), nullable=False),
        sa.Column("message_row_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["message_row_id"], ["message.id"]),
        sa.PrimaryKeyConstraint("referenced_id", "message_row_id"),
    )
    op.create_index("ix_messagereference_message_row_id", "messagereference", ["message_row_id"])
    _fill(op.get_bind())


def _fill(connection: sa.Connection) -> None:
    """Insert the links of every stored inbound message that names another, BATCH messages at a time."""
    after = 0
    while True:
        rows = connection.execute(
            sa.select(_message.c.id, _message.c.message_id, _message.c.in_reply_to, _message.c.references)
            .where(
                _message.c.id > after,
                _message.c.direction == "in",
                sa.or_(_message.c.in_reply_to.is_not(None), _message.c.references != ""),
            )
            .order_by(_message.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        links = [
            {"referenced_id": referenced, "message_row_id": row_id}
            for row_id, own_id, in_reply_to, references in rows
            for referenced in _thread_links(own_id, in_reply_to, (references or "").split())
        ]
        if links:
            connection.execute(sa.insert(_links), links)
        after = rows[-1][0]


def _thread_links(own_id: str | None, in_reply_to: str | None, references: list[str]) -> list[str]:
    ids = dict.fromkeys(i for i in (in_reply_to, *reversed(references)) if i and len(i) <= MAX_ID_CHARS and i != own_id)
    return list(ids)[:MAX_LINKS]


def downgrade() -> None:
    op.drop_table("messagereference")
