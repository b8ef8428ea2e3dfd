"""Decision: (ticket status, event) -> Transition. Pure; intake and the jobs apply what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mailbridge.models import TicketStatus


class MailKind(StrEnum):
    RECEIPT = "receipt"


@dataclass(frozen=True)
class Transition:
    new_status: TicketStatus | None  # None: the status stays
    mails: tuple[MailKind, ...]
    reason: str


def plan_customer_message(status: TicketStatus | None, *, may_auto_reply: bool, silent: bool) -> Transition:
    """Plan what a customer message does to its ticket; `status` None means a new ticket."""
    answer = may_auto_reply and not silent
    if status is None:
        return Transition(TicketStatus.NEW, (MailKind.RECEIPT,) if answer else (), "customer opened a ticket")
    if status in (TicketStatus.WAITING, TicketStatus.CLOSED):
        return Transition(TicketStatus.OPEN, (), "customer replied")
    return Transition(None, (), "customer added a message")


def plan_automatic_message(status: TicketStatus | None) -> Transition:
    """Plan what automatic mail (out-of-office, lists) does: it never changes a ticket or gets an answer."""
    return Transition(TicketStatus.NEW if status is None else None, (), "automatic message stored")
