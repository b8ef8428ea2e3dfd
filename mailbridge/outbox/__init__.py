"""Outbox: mail going out. delivery claims due rows, sends them through smtp (aiosmtplib) as stored, and
records each outcome; dkim signs each mail once, when it is queued (the runtime hands it in as MailContext.sign).

May import: service, store, decisions, base (not ingest, reports, runtime or cli).
"""
