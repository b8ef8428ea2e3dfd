"""Alembic environment: runs on the connection mailbridge hands in (db.upgrade_schema).

That connection is in one transaction for the whole upgrade, DDL and batch table rebuilds included, on SQLite as on
PostgreSQL (db._schema_transaction); alembic opens none of its own and commits nothing per migration.
"""

from alembic import context
from sqlmodel import SQLModel

import mailbridge.store.models  # noqa: F401  (registers the tables)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
