"""PostgreSQL compresses the mail's bytes with lz4 (issue 18)

Revision ID: 0028
Revises: 0027

Every stored mail writes its raw bytes, text and HTML, every outgoing one its signed bytes, every attachment its
content: PostgreSQL compressed each with pglz, a tenth of its CPU in bench/fleet. lz4 does the same job in a
fraction of the time (bench/fleet, 5,000 messages, one daemon: PostgreSQL 2.9 -> 2.5 ms of CPU per stored
message) and gives up at once on data that does not shrink (images, PDFs, archives). Values stored before keep
their compression and stay readable. A server without lz4 (built without it, or before PostgreSQL 14) keeps pglz:
the change is skipped with a notice. SQLite has no column compression: nothing to do.
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

COLUMNS = {
    "message": ("raw", "text_body", "stripped_text", "html_body"),
    "outboxmail": ("raw",),
    "attachment": ("content",),
}


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    statements = " ".join(
        "EXECUTE 'ALTER TABLE {table} {alters}';".format(
            table=table, alters=", ".join(f"ALTER COLUMN {column} SET COMPRESSION {method}" for column in columns)
        )
        for table, columns in COLUMNS.items()
    )
    op.execute(
        f"DO $$ BEGIN {statements} "
        "EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN "
        f"RAISE NOTICE 'column compression {method} not available here: %', SQLERRM; END $$"
    )


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
