"""Decision: ParsedMessage + ThreadEvidence -> TicketMatch. Pure; intake gathers the evidence
(`tickets.gather_thread_evidence`) and applies the match.

First match wins: a signed reply token in a recipient address, a stored copy of the same mail (same
Message-ID, other bytes), In-Reply-To, References (newest first), a ticket number in the subject, the
reference line of our mail quoted in the body, stored replies that name this message (it arrived after
them), stored mail that shares a reference with it (a parent never seen), then the same customer, Contact
and normalised subject on a ticket not closed too long ago, else a new ticket. Numbers, copies and the
links through other mail count only for people on that ticket. A match on a ticket closed longer ago
than the reopen window opens a new ticket linked to it. A merged ticket stands for the ticket it joined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.kinds import MatchReason

CLOSED = "closed"
DEFAULT_REOPEN_WINDOW_DAYS = 30

# Reply and forward prefixes: en Re/Fwd/FW, de AW/WG, nordic SV/VS, it R/RIF/I, fr TR, pl Odp,
# el Απ/ΣΧΕΤ, tr Ynt, nl Antw/Doorst, es RV, pt Enc/Res, cs Odp/Fw, hu Vá, plus counters like Re[2]: and Re(2):.
_PREFIXES = (
    "re",
    "fwd",
    "fw",
    "aw",
    "wg",
    "sv",
    "vs",
    "r",
    "rif",
    "i",
    "tr",
    "odp",
    "απ",
    "σχετ",
    "ynt",
    "antw",
    "doorst",
    "rv",
    "enc",
    "res",
    "vá",
    "ref",
)
# Matched at a position (`match(text, pos)`), so without `^`. Linear time: the white space before the counter
# belongs to the optional group, so no two unbounded runs of `\s*` meet where the counter is missing.
_PREFIX = re.compile(r"\s*(?:" + "|".join(_PREFIXES) + r")(?:\s*(?:\[\d+\]|\(\d+\)))?\s*[:：]\s*", re.IGNORECASE)
_LIST_TAG = re.compile(r"\s*\[[^\]#]{1,30}\]\s*")
TICKET_MARKER = re.compile(r"\[#\s*\d{6,20}\s*\]")
# The links kept per stored message (`thread_links`): a hostile References header of thousands of ids writes 50 rows.
MAX_THREAD_LINKS = 50
MAX_ID_CHARS = 500


@dataclass(frozen=True)
class StoredCopy:
    """The same mail (Message-ID, sender, subject, text) already stored, and the ticket and Contact it is on."""

    message_row_id: int
    ticket_id: int
    contact_id: int


def copy_in_contact(copies: tuple[StoredCopy, ...], contact_id: int) -> StoredCopy | None:
    """Return the stored copy of this mail that already belongs to this Contact, if any."""
    return next((copy for copy in copies if copy.contact_id == contact_id), None)


def place_copy(
    match: "TicketMatch", copies: tuple[StoredCopy, ...], contact_id: int, matched_contact_id: int | None
) -> "TicketMatch":
    """Give a mail that another Contact already has a ticket of this Contact, linked to the other's.

    A message sent to two Contacts (To: sales, Cc: support) reaches both mailboxes; each Contact gets
    it once. Callers first file mail this Contact already has on its twin's ticket (`copy_in_contact`).
    """
    if not copies or matched_contact_id == contact_id:
        return match
    return TicketMatch(None, MatchReason.OTHER_CONTACT, linked_ticket_id=copies[0].ticket_id)


@dataclass(frozen=True)
class NumberedTicket:
    """A ticket that a number in the subject or body points at, with who takes part in it."""

    ticket_id: int
    participants: frozenset[str]


@dataclass(frozen=True)
class RelatedTicket:
    """A ticket holding stored mail of this message's thread, with who may join it through that mail.

    `participants`: people on the ticket's customer side (its customer, senders of its customer mail; the store
    reads only whether the new message's sender is one; agents are proven by their signed reply address, never by
    a From line) and whom the linking stored mail was written to, since a reply names the author of the parent it
    answers. `has_customer_copy`: the ticket holds customer mail with this
    Message-ID already.
    """

    ticket_id: int
    participants: frozenset[str]
    has_customer_copy: bool = False


@dataclass(frozen=True)
class TicketState:
    status: str
    closed_at: datetime | None


@dataclass(frozen=True)
class ThreadEvidence:
    """What the store knows about the tokens, ids, numbers and subject a message carries."""

    # Stored mail (ours or received) by the Message-ID a message answers: its ticket, and who may join it through
    # that id (whom the mail was written to, and the sender when on the ticket's customer side).
    tickets_by_message_id: dict[str, RelatedTicket] = field(default_factory=dict)
    numbered_tickets: tuple[NumberedTicket, ...] = ()
    token_ticket_ids: tuple[int, ...] = ()  # tickets named by verified reply tokens
    body_referenced_tickets: tuple[NumberedTicket, ...] = ()
    contact_ticket_ids: tuple[int, ...] = ()  # same customer, Contact and subject key; newest first
    # Tickets of this Contact, through other stored mail: with this Message-ID; whose In-Reply-To/References
    # name this message (newest first); that name one of its references that is not stored (newest reference first).
    same_id_tickets: tuple[RelatedTicket, ...] = ()
    referencing_tickets: tuple[RelatedTicket, ...] = ()
    sharing_tickets: tuple[RelatedTicket, ...] = ()
    states: dict[int, TicketState] = field(default_factory=dict)  # every ticket named above (and merge targets)
    # A merged ticket named above -> the ticket it ended up in (merge.follow_merges): its mail lands there.
    merged_into: dict[int, int] = field(default_factory=dict)
    now: datetime | None = None
    reopen_window_days: int = DEFAULT_REOPEN_WINDOW_DAYS


@dataclass(frozen=True)
class TicketMatch:
    ticket_id: int | None
    reason: MatchReason
    linked_ticket_id: int | None = None
    # A copy of customer mail the ticket holds already (other subject or footer): answered and told of once.
    is_repeat: bool = False


def thread_links(parsed: ParsedMessage) -> tuple[str, ...]:
    """Return the Message-IDs a message answers: In-Reply-To, then References newest first; at most 50, not its own."""
    ids = dict.fromkeys(
        i
        for i in (parsed.in_reply_to, *reversed(parsed.references))
        if i and len(i) <= MAX_ID_CHARS and i != parsed.message_id
    )
    return tuple(ids)[:MAX_THREAD_LINKS]


def normalise_subject(subject: str, marker: re.Pattern[str] = TICKET_MARKER) -> str:
    """Strip reply/forward prefixes of many languages, list tags and ticket markers; fold case and spaces."""
    text = marker.sub(" ", subject or "")
    # Walk past the leading prefixes and tags; cutting each off would copy the subject once per prefix.
    pos = 0
    while found := _PREFIX.match(text, pos) or _LIST_TAG.match(text, pos):
        pos = found.end()
    return re.sub(r"\s+", " ", text[pos:]).strip().casefold()


def match_ticket(parsed: ParsedMessage, evidence: ThreadEvidence) -> TicketMatch:
    """Pick the ticket a message belongs to, and say why."""
    found = _explicit_match(parsed, evidence)
    if found is not None:
        ticket_id, reason = found
        ticket_id = evidence.merged_into.get(ticket_id, ticket_id)
        if _is_past_window(evidence, ticket_id):
            return TicketMatch(None, MatchReason.NEW_LINKED, linked_ticket_id=ticket_id)
        is_repeat = reason is MatchReason.SAME_MESSAGE_ID and any(
            t.ticket_id == ticket_id and t.has_customer_copy for t in evidence.same_id_tickets
        )
        return TicketMatch(ticket_id, reason, is_repeat=is_repeat)
    for ticket_id in evidence.contact_ticket_ids:
        ticket_id = evidence.merged_into.get(ticket_id, ticket_id)
        if not _is_past_window(evidence, ticket_id):
            return TicketMatch(ticket_id, MatchReason.CONTACT)
    return TicketMatch(None, MatchReason.NEW)


def _explicit_match(parsed: ParsedMessage, evidence: ThreadEvidence) -> tuple[int, MatchReason] | None:
    """A token, a copy, a message id, a ticket number or a thread link (the last three for people on that ticket)."""
    if evidence.token_ticket_ids:
        return evidence.token_ticket_ids[0], MatchReason.REPLY_TOKEN
    sender = (parsed.from_addr or "").lower()
    # The same mail again (through a list, under another subject): where its first copy went.
    copy = _joinable(evidence.same_id_tickets, sender)
    if copy is not None:
        return copy, MatchReason.SAME_MESSAGE_ID
    # In-Reply-To and References join a ticket only for people on it, like a ticket number: a stranger who copies a
    # thread's ids into a mail of their own gets a new ticket.
    known = evidence.tickets_by_message_id
    replied = known.get(parsed.in_reply_to) if parsed.in_reply_to else None
    if replied is not None and _in_conversation(parsed, sender, replied):
        return replied.ticket_id, MatchReason.IN_REPLY_TO
    for reference in reversed(parsed.references):
        referenced = known.get(reference)
        if referenced is not None and _in_conversation(parsed, sender, referenced):
            return referenced.ticket_id, MatchReason.REFERENCES
    for candidates, reason in (
        (evidence.numbered_tickets, MatchReason.SUBJECT_NUMBER),
        (evidence.body_referenced_tickets, MatchReason.BODY_REFERENCE),
        (evidence.referencing_tickets, MatchReason.REFERENCED_BY),
        (evidence.sharing_tickets, MatchReason.SHARED_REFERENCE),
    ):
        found = _joinable(candidates, sender)
        if found is not None:
            return found, reason
    return None


def _in_conversation(parsed: ParsedMessage, sender: str, linked: RelatedTicket) -> bool:
    """Whether a reply by Message-ID belongs to the linked ticket: its sender is on it, or it is written to someone
    who is (a colleague's reply-all to the customer, a list reply to the list the parent went to).

    Our own addresses are never among the participants (the store leaves them out), so writing to the support
    address proves nothing; a stranger must write to the ticket's people, in the open, to join.
    """
    if sender and sender in linked.participants:
        return True
    return any(address.lower() in linked.participants for address in (*parsed.to_addrs, *parsed.cc_addrs))


def _joinable(candidates: tuple[NumberedTicket | RelatedTicket, ...], sender: str) -> int | None:
    """Return the first ticket the sender takes part in.

    A number or a Message-ID found in other mail only counts for people already on that ticket: a stranger who
    quotes a number, or reuses an id seen on a list, gets a new ticket and never joins another customer's.
    """
    return next((c.ticket_id for c in candidates if sender and sender in c.participants), None)


def _is_past_window(evidence: ThreadEvidence, ticket_id: int) -> bool:
    state = evidence.states.get(ticket_id)
    if state is None or state.status != CLOSED or state.closed_at is None or evidence.now is None:
        return False
    return evidence.now - state.closed_at > timedelta(days=evidence.reopen_window_days)
