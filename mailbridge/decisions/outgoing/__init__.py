"""Writing mail: compose (drafts -> RFC 5322 bytes), drafts (what a customer notice says), forward, templates
(Jinja2 rendering) and context (MailContext: who we are when we write mail).

May import: base and the other decision packages.
"""
