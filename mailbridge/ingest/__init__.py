"""Ingest: mail coming in. sources/ feed poll; prepare parses; guard and intake store each message with what it
causes in one commit; only then is it marked on the server. Never sends.

May import: service, store, decisions, base (not outbox, reports, runtime or cli).
"""
