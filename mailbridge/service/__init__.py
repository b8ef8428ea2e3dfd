"""Service: the mail a change causes (customer notices, surveys, agent notifications, an agent's answer),
rendered and queued in the caller's session. Never sends, never commits.

May import: store, decisions, base.
"""
