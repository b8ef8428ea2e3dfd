"""Store: the database. models (tables), db (engine, sessions, transactions), migrations/ (Alembic), and one
module per kind of row: tickets, contacts, agents, ratings, outbox_queue, mailbox_state.

Functions take `session=` and never commit; the stage that calls them owns the transaction.
May import: decisions, base.
"""
