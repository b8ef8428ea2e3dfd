"""The commands that run mailbridge and work its tickets: run, status, stats, ingest, tickets, customers,
messages, outbox.

One Typer sub-app per file; no queries of their own (reports and store hold them).
"""
