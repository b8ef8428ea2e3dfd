"""Decision: ParsedMessage + ThreadEvidence -> TicketMatch. Pure; intake gathers the evidence.

First match wins: In-Reply-To, then References (newest first), then a ticket number in the
subject that belongs to a ticket the sender is part of, else a new ticket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from mailbridge.parse import ParsedMessage


class MatchReason(StrEnum):
    IN_REPLY_TO = "in_reply_to"
    REFERENCES = "references"
    SUBJECT_NUMBER = "subject_number"
    NEW = "new"


@dataclass(frozen=True)
class NumberedTicket:
    """A ticket that a number in the subject points at, with who takes part in it."""

    ticket_id: int
    participants: frozenset[str]


@dataclass(frozen=True)
class ThreadEvidence:
    """What the store knows about the ids and numbers a message mentions."""

    tickets_by_message_id: dict[str, int] = field(default_factory=dict)
    numbered_tickets: tuple[NumberedTicket, ...] = ()


@dataclass(frozen=True)
class TicketMatch:
    ticket_id: int | None
    reason: MatchReason


def match_ticket(parsed: ParsedMessage, evidence: ThreadEvidence) -> TicketMatch:
    """Pick the ticket a message belongs to, and say why."""
    known = evidence.tickets_by_message_id
    if parsed.in_reply_to and parsed.in_reply_to in known:
        return TicketMatch(known[parsed.in_reply_to], MatchReason.IN_REPLY_TO)
    for reference in reversed(parsed.references):
        if reference in known:
            return TicketMatch(known[reference], MatchReason.REFERENCES)
    sender = (parsed.from_addr or "").lower()
    for candidate in evidence.numbered_tickets:
        # A number only counts for people already on that ticket: a stranger who quotes it gets a new ticket.
        if sender and sender in candidate.participants:
            return TicketMatch(candidate.ticket_id, MatchReason.SUBJECT_NUMBER)
    return TicketMatch(None, MatchReason.NEW)
