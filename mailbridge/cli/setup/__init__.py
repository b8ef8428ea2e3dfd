"""The commands that set mailbridge up: config, db, init, mailboxes/imap, smtp, templates, contacts, agents, texts.

One Typer sub-app per file; no queries of their own (reports and store hold them).
"""
