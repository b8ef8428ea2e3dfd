"""Decision: who besides the customer takes part in a ticket, and who gets an answer in Cc. Pure.

Intake hands in a customer's mail's To and Cc (`cc_from_mail`); an agent's `#cc add|remove ADDRESS` is checked by
`cc_command_problem`; when an answer is relayed, `answer_cc` picks its Cc from the ticket's participants. Our own
addresses, agents' addresses and the customer never become participants, and an address that bounced, floods us or
is blocked is left out of the Cc while it is suppressed. Called by `store.participants` and `service.participants`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from mailbridge.decisions.own_addresses import is_ours

# People in Cc of one ticket at most: enough for a customer's team, few enough that a mail Cc'd to a whole list
# does not make every answer a mass mailing.
MAX_PARTICIPANTS = 10
CC_ACTIONS = ("add", "remove")


@dataclass(frozen=True)
class People:
    """Who may never be a participant: our own addresses (and their sub-addresses), agents, the ticket's customer."""

    own: frozenset[str]
    agents: frozenset[str]
    customer: str

    def why_not(self, address: str) -> str | None:
        """Say why an address cannot be a participant, or None when it can."""
        folded = address.strip().lower()
        if is_ours(folded, self.own):
            return "is one of our own addresses"
        if folded in self.agents:
            return "is an agent's address"
        if folded == self.customer.strip().lower():
            return "is the ticket's customer"
        return None


@dataclass(frozen=True)
class CcPlan:
    """What a customer's mail adds: the new participants, and those left out because the ticket is full."""

    added: tuple[str, ...] = ()
    over_limit: tuple[str, ...] = ()


def cc_from_mail(
    recipients: Iterable[str],
    people: People,
    *,
    sender: str | None,
    current: Collection[str],
    removed: Collection[str],
    suppressed: Collection[str] = (),
    limit: int = MAX_PARTICIPANTS,
) -> CcPlan:
    """Plan the participants a customer's mail adds from its To and Cc (reply-all keeps them).

    Left out: our addresses, agents, the customer, the sender, anyone on the ticket already (`current`), anyone an
    agent removed (`removed`: the agent's decision stands until `#cc add`), and `suppressed` addresses (bounced,
    flooding, blocked). At most `limit` participants in all: the rest is `over_limit`.
    """
    skip = {a.lower() for a in (*current, *removed, *suppressed)} | {(sender or "").lower()}
    wanted = [
        a for a in dict.fromkeys(r.strip().lower() for r in recipients) if a and a not in skip and not people.why_not(a)
    ]
    room = max(limit - len(current), 0)
    return CcPlan(tuple(wanted[:room]), tuple(wanted[room:]))


@dataclass(frozen=True)
class MergeCcPlan:
    """What a merged ticket's participants become on the ticket it joins."""

    added: tuple[str, ...] = ()  # join its Cc
    removed: tuple[str, ...] = ()  # join it as removed: an agent took them out of the merged ticket's Cc
    over_limit: tuple[str, ...] = ()  # left out: the ticket has the most people in Cc
    other_customer: tuple[str, ...] = ()  # left out: the merged ticket was another customer's


def cc_from_merge(
    source_active: Iterable[str],
    source_removed: Iterable[str],
    people: People,
    *,
    current: Collection[str],
    removed: Collection[str],
    same_customer: bool,
    limit: int = MAX_PARTICIPANTS,
) -> MergeCcPlan:
    """Plan what B's participants become on A when ticket B is merged into A (`current`, `removed`: A's).

    B's people in Cc join A's Cc, and those an agent removed from B stay removed on A (a reply-all does not bring
    them back). A's own state of an address stands (an agent's removal on A too), and who cannot be a participant
    of A (A's customer, agents, our addresses) is left out. When B was another customer's ticket, none of its people
    join: their colleagues would read A's customer's answers (an agent adds whom they mean with `#cc add`).
    """
    known = {a.lower() for a in (*current, *removed)}
    joining = [a for a in dict.fromkeys(x.strip().lower() for x in source_active) if a and a not in known]
    joining = [a for a in joining if not people.why_not(a)]
    if not same_customer:
        return MergeCcPlan(other_customer=tuple(joining))
    room = max(limit - len(current), 0)
    taken_out = dict.fromkeys(x.strip().lower() for x in source_removed)
    kept_out = tuple(a for a in taken_out if a and a not in known and a not in joining and not people.why_not(a))
    return MergeCcPlan(tuple(joining[:room]), kept_out, tuple(joining[room:]))


def cc_command_problem(
    action: str, address: str, people: People, *, current: Collection[str], limit: int = MAX_PARTICIPANTS
) -> str | None:
    """Say what is wrong with `#cc add|remove ADDRESS` on this ticket, or None when it can be done."""
    folded = address.lower()
    if action == "remove":
        return None if folded in current else f"#cc remove: {address} is not in Cc of this ticket"
    why = people.why_not(folded)
    if why:
        return f"#cc add: {address} {why}"
    if folded not in current and len(current) >= limit:
        return f"#cc add: this ticket has {limit} people in Cc already (the most)"
    return None


def answer_cc(participants: Iterable[str], people: People, *, suppressed: Collection[str]) -> tuple[str, ...]:
    """The Cc of an answer: the participants, without our addresses, agents, the customer and `suppressed` ones."""
    skip = {a.lower() for a in suppressed}
    found = (a.strip().lower() for a in participants)
    return tuple(a for a in dict.fromkeys(found) if a and a not in skip and not people.why_not(a))
