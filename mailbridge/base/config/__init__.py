"""Configuration: mailbridge.toml -> frozen Settings, checked fully once at start.

settings (the Settings tree, load_settings), reader (the typed Section reader whose errors name file, section
and key), one reader per section (mailbox, rules, survey, ingest), edit (mailboxes add/remove on the file) and
starter (the file `init` writes). May import: base only.
"""
