"""Decision: the mail that carries a customer message to a Contact that keeps no messages. Pure.

Called by intake for `save_messages = false`; the original goes along unchanged as message/rfc822.
"""

from __future__ import annotations

import email
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.outgoing.compose import clean_header_text, make_address


def compose_forward(
    *,
    from_name: str,
    from_address: str,
    to_address: str,
    parsed: ParsedMessage,
    raw: bytes,
    message_id: str,
    instance_id: str,
    now: datetime,
) -> EmailMessage:
    """Build the forward: a short note, Reply-To the customer, the original attached as message/rfc822."""
    message = EmailMessage()
    message["From"] = make_address(from_name, from_address)
    message["To"] = make_address("", to_address)
    message["Subject"] = clean_header_text(f"Fwd: {parsed.subject or '(no subject)'}")
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    if parsed.from_addr:
        try:
            message["Reply-To"] = make_address(parsed.from_name or "", parsed.from_addr)
        except ValueError:
            pass  # an unusable sender address: the attached original still has it
    # RFC 3834: a forward we generate answers no one.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Mailbridge-Loop"] = instance_id
    message.set_content(
        f"A message from {parsed.from_addr or 'an unknown sender'} to this Contact. "
        "It is not stored as a ticket (save_messages is off); the original is attached.\n"
    )
    message.add_attachment(email.message_from_bytes(raw, policy=policy.default))
    return message
