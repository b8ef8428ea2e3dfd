"""Decision: planned MailKinds + ticket data -> OutgoingDrafts. Pure (templates render values only)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from jinja2 import Environment

from mailbridge.base.config.settings import SupportSettings
from mailbridge.decisions.inbound.names import safe_display_name
from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.kinds import MailKind
from mailbridge.decisions.matching.reply_tokens import CUSTOMER, make_token, reply_address
from mailbridge.decisions.matching.ticket_numbers import format_subject
from mailbridge.decisions.outgoing.compose import OutgoingDraft
from mailbridge.decisions.outgoing.templates import render
from mailbridge.decisions.outgoing.thread_headers import SeenMail, ThreadHeaders, thread_for_customer


class Ticket(Protocol):
    """What a draft reads of a ticket (the store's Ticket row has it)."""

    id: int | None
    number: str
    subject: str
    created_at: datetime | None


class Customer(Protocol):
    name: str
    email: str


class Contact(Protocol):
    email: str
    accept_attachments: bool
    from_name: str | None  # a brand's own From name; None: [support] from_name


def reference_line(number: str) -> str:
    """The short line every mail to a customer carries, so replies thread even when ids are rewritten."""
    return f"Ticket: [#{number}]"


def ticket_reply_address(ticket: Ticket, support: SupportSettings, contact: Contact | None = None) -> str | None:
    """The ticket's signed sub-address (contact+<token>@...), or None without a configured secret."""
    if support.secret is None:
        return None
    assert ticket.id is not None, "a reply address is made for a stored ticket"
    issued = ticket.created_at.date() if ticket.created_at else None
    token = make_token(ticket.id, support.secret.value, purpose=CUSTOMER, issued_day=issued)
    return reply_address(contact.email if contact else support.from_address, token)


def draft_for(
    kind: MailKind,
    *,
    ticket: Ticket,
    customer: Customer,
    contact: Contact | None,
    parsed: ParsedMessage,
    locale: str,
    support: SupportSettings,
    templates: Environment,
    instance_id: str,
    thread: ThreadHeaders | None = None,
    extra: dict | None = None,
) -> OutgoingDraft:
    """Build the draft for one planned mail answering the customer's message.

    `thread`: the ticket's chain as the customer saw it; None for a new ticket, whose chain is this message alone.
    """
    if thread is None:
        thread = thread_for_customer([SeenMail(parsed.message_id, True, parsed.references)])
    return notice_draft(
        kind,
        ticket=ticket,
        customer=customer,
        contact=contact,
        locale=locale,
        support=support,
        templates=templates,
        instance_id=instance_id,
        in_reply_to=thread.in_reply_to,
        references=thread.references,
        auto_submitted="auto-replied",
        extra=extra,
    )


def notice_draft(
    kind: MailKind,
    *,
    ticket: Ticket,
    customer: Customer,
    contact: Contact | None,
    locale: str,
    support: SupportSettings,
    templates: Environment,
    instance_id: str,
    in_reply_to: str | None,
    references: tuple[str, ...],
    auto_submitted: str = "auto-generated",
    extra: dict | None = None,
) -> OutgoingDraft:
    """Build the draft for one mail to the ticket's customer, from the Contact's address, threaded to `in_reply_to`.

    The threading ids come from thread_headers.thread_for_customer; the subject is always the ticket's `[#number]`.
    """
    # Cleaned again when shown: a name stored before names.safe_display_name existed may hold a link.
    name = safe_display_name(customer.name)
    from_name = (contact.from_name if contact else None) or support.from_name
    context = {
        "number": ticket.number,
        "customer_name": name,
        "subject": ticket.subject,
        "from_name": from_name,
        "reference_line": reference_line(ticket.number),
        "attachments_accepted": contact.accept_attachments if contact else True,
        **(extra or {}),
    }
    return OutgoingDraft(
        kind=kind.value,
        from_name=from_name,
        from_address=contact.email if contact else support.from_address,
        to_name=name,
        to_address=customer.email,
        subject=format_subject(support.ticket_subject_format, ticket.number, ticket.subject or "(no subject)"),
        body=render(templates, kind.value, locale, context),
        in_reply_to=in_reply_to,
        references=references,
        auto_submitted=auto_submitted,
        instance_id=instance_id,
        reply_to=ticket_reply_address(ticket, support, contact),
    )
