"""Decision: a ticket's mail as one reader saw it -> the In-Reply-To and References of the next mail to them. Pure.

The customer's side (`thread_for_customer`) answers their latest message and lists the ticket's chain as they saw it:
their own messages and the mails we sent them, never an id only agents saw. The agent's side (`thread_for_agent`)
chains the mails we sent one agent about one ticket. Called by the service modules that queue mail (service.*) and
by intake for the receipt; the ids they hand in are read from the Message and outbox rows (RFC 5322 §3.6.4).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailbridge.decisions.outgoing.compose import MAX_REFERENCES, MSG_ID

# Message-IDs this program draws (compose.new_message_id), signed or not: a customer's References that names one
# we did not send them (an agent's notification, a made-up id) is dropped.
_DRAWN_BY_US = re.compile(r"^<mb\.[0-9a-f]{20}(?:\.[0-9a-f]{12})?@[^<>\s@]+>$")


@dataclass(frozen=True)
class SeenMail:
    """One mail of a ticket as its customer saw it, oldest first: one they wrote, or one we sent them."""

    message_id: str | None
    by_customer: bool
    # The References the customer's own mail carried (their chain, possibly from before the ticket); ours: ().
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class ThreadHeaders:
    in_reply_to: str | None
    references: tuple[str, ...]


def thread_for_customer(mails: Sequence[SeenMail], hidden: Iterable[str] = ()) -> ThreadHeaders:
    """Thread a mail to the customer: In-Reply-To their latest message, References the ticket's chain, capped.

    `hidden` lists ids the customer never saw (an agent's own mail, a notification); none of them is ever written.
    """
    never = set(hidden)
    sent = {m.message_id for m in mails if not m.by_customer and m.message_id}
    chain: list[str] = []
    for mail in mails:
        if mail.by_customer:
            chain += [r for r in mail.references if _usable(r, never) and (r in sent or not _DRAWN_BY_US.match(r))]
        if mail.message_id and _usable(mail.message_id, never):
            chain.append(mail.message_id)
    chain = list(dict.fromkeys(chain))
    own = [m.message_id for m in mails if m.by_customer and m.message_id and _usable(m.message_id, never)]
    parent = own[-1] if own else None
    return ThreadHeaders(parent, _capped(chain, (own[0], parent) if own else ()))


def thread_for_agent(earlier: Sequence[str]) -> ThreadHeaders:
    """Chain a mail to one agent about one ticket to the mails we sent them about it before, oldest first."""
    chain = list(dict.fromkeys(i for i in earlier if MSG_ID.match(i)))
    return ThreadHeaders(chain[-1] if chain else None, _capped(chain, (chain[0], chain[-1]) if chain else ()))


def _usable(message_id: str, never: set[str]) -> bool:
    return bool(MSG_ID.match(message_id)) and message_id not in never


def _capped(chain: list[str], pinned: tuple[str | None, ...]) -> tuple[str, ...]:
    """At most MAX_REFERENCES ids in their order: the pinned ones (the root, the parent) and the newest others.

    The root comes first (RFC 5322 §3.6.4 keeps the start of the thread), so compose.thread_ids cuts nothing more.
    """
    if len(chain) <= MAX_REFERENCES:
        return tuple(chain)
    must = {i for i in pinned if i in chain} or {chain[0]}
    others = [i for i in chain if i not in must]
    chosen = must | set(others[len(others) - (MAX_REFERENCES - len(must)) :])
    return tuple(i for i in chain if i in chosen)
