"""Outbox: mail going out. delivery claims due rows, sends them through smtp (aiosmtplib), signs with dkim, and
records each outcome.

May import: service, store, decisions, base (not ingest, reports, runtime or cli).
"""
