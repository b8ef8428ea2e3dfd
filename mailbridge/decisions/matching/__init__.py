"""Which ticket a message belongs to: ticket_match (the rules and their evidence), ticket_numbers, reply_tokens
(signed sub-addresses), routing (categories), order_numbers.

May import: base and the other decision packages.
"""
