"""Decision: planned MailKinds + ticket data -> OutgoingDrafts. Pure (templates render values only)."""

from __future__ import annotations

from jinja2 import Environment

from mailbridge.compose import OutgoingDraft
from mailbridge.config import SupportSettings
from mailbridge.lifecycle import MailKind
from mailbridge.models import Customer, Ticket
from mailbridge.parse import ParsedMessage
from mailbridge.templates import render
from mailbridge.ticket_numbers import format_subject


def reference_line(number: str) -> str:
    """The short line every mail to a customer carries, so replies thread even when ids are rewritten."""
    return f"Ticket: [#{number}]"


def draft_for(kind: MailKind, *, ticket: Ticket, customer: Customer, parsed: ParsedMessage, locale: str,
              support: SupportSettings, templates: Environment, instance_id: str) -> OutgoingDraft:
    """Build the draft for one planned mail answering the customer's message."""
    context = {
        "number": ticket.number,
        "customer_name": customer.name,
        "subject": ticket.subject,
        "from_name": support.from_name,
        "reference_line": reference_line(ticket.number),
    }
    return OutgoingDraft(
        kind=kind.value,
        from_name=support.from_name,
        from_address=support.from_address,
        to_name=customer.name,
        to_address=customer.email,
        subject=format_subject(support.ticket_subject_format, ticket.number, ticket.subject or "(no subject)"),
        body=render(templates, kind.value, locale, context),
        in_reply_to=parsed.message_id,
        references=parsed.references,
        auto_submitted="auto-replied",
        instance_id=instance_id,
    )
