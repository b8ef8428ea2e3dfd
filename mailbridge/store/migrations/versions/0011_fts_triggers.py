"""SQLite full text kept by triggers on message, like PostgreSQL's expression index: every message, at no cost to intake

Revision ID: 0011
Revises: 0002 ... 0010 but 0006, which 0008 depends on (after every branch: a batch migration that rebuilds `message` drops its triggers,
so any later one of those must create them again)
"""

from alembic import op

revision = "0011"
down_revision = ("0002", "0003", "0004", "0005", "0007", "0008", "0009", "0010")  # 0008 depends on 0006
branch_labels = None
depends_on = None

# message_fts is contentless (content = ''): a row is removed with the 'delete' command and the values it was indexed with.
_INDEXED = "coalesce({row}.subject, ''), coalesce({row}.text_body, '')"
_ADD = f"INSERT INTO message_fts (rowid, subject, body) VALUES (new.id, {_INDEXED.format(row='new')});"
_REMOVE = f"INSERT INTO message_fts (message_fts, rowid, subject, body) VALUES ('delete', old.id, {_INDEXED.format(row='old')});"
TRIGGERS = {
    "message_fts_insert": f"AFTER INSERT ON message BEGIN {_ADD} END",
    "message_fts_delete": f"AFTER DELETE ON message BEGIN {_REMOVE} END",
    "message_fts_update": f"AFTER UPDATE OF subject, text_body ON message BEGIN {_REMOVE} {_ADD} END",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL indexes the column expression itself (0002)
    # Until now intake indexed only the customer mail it filed; index every stored message once, afresh.
    op.execute("INSERT INTO message_fts (message_fts) VALUES ('delete-all')")
    op.execute(f"INSERT INTO message_fts (rowid, subject, body) SELECT id, {_INDEXED.format(row='message')} FROM message")
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
