"""Mail sources: the MailSource protocol (source) and what implements or serves it: imap (with oauth2 login),
idle (IMAP IDLE watchers), files (stdin, .eml, Maildir, mbox for `mailbridge ingest`), probe (`mailboxes test`).

May import: what ingest may import.
"""
