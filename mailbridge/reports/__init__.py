"""Reports: the read side the CLI shows. search, tickets, messages, outbox, agents, status, stats (queries),
figures (pure computation of the statistics) and render.

May import: service, store, decisions, base (not ingest, outbox, runtime or cli).
"""
