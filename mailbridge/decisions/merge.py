"""Decision: merging one ticket into another, and splitting a new topic off into a ticket of its own. Pure.

`plan_merge` says whether ticket B may join ticket A (refusals as one line) and what the change records;
`follow_merges` finds the ticket that mail for a merged ticket lands in (a bounded walk, safe against a cycle);
`plan_split` picks the messages that leave with a new topic. Applied by `service.ticket_merge`; the threading
lookups of `store.tickets` follow merges through `follow_merges`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mailbridge.base.errors import CommandError
from mailbridge.decisions.kinds import Direction, MessageKind, TicketStatus

# The longest chain of merges followed (B into A, A into C, ...): a longer one stops at its last ticket read.
MAX_MERGE_CHAIN = 20


@dataclass(frozen=True)
class MergeSide:
    """What the merge decision reads of one ticket."""

    id: int
    number: str
    status: str
    customer_id: int
    contact_id: int
    merged_into_number: str | None = None  # status `merged`: the ticket it joined


@dataclass(frozen=True)
class MergePlan:
    """B (`source_id`) joins A (`target_id`): B's messages move to A, B becomes `merged`, B's customer is told once."""

    source_id: int
    target_id: int
    other_customer: bool  # B's customer is not A's: told of the merge; answers on A still go to A's customer
    source_reason: str  # B's history
    target_reason: str  # A's history


def messages_moved(count: int) -> str:
    """Say how many messages a merge or split moved: "1 message moved", "3 messages moved"."""
    return f"{count} message{'' if count == 1 else 's'} moved"


def plan_merge(source: MergeSide, target: MergeSide) -> MergePlan:
    """Decide whether ticket `source` may join ticket `target`.

    Raises: CommandError, one line saying why not: the same ticket, a ticket merged already (either side; a merge
    back into a ticket that joined this one would make a loop), or a spam ticket (its sender is told nothing).
    """
    if source.id == target.id:
        raise CommandError(f"ticket {source.number} cannot be merged into itself")
    if source.status == TicketStatus.MERGED:
        raise CommandError(f"ticket {source.number} was merged into {source.merged_into_number} already")
    if target.status == TicketStatus.MERGED:
        if target.merged_into_number == source.number:
            raise CommandError(
                f"ticket {target.number} was merged into {source.number}: "
                f"merging {source.number} into it would make a loop"
            )
        raise CommandError(
            f"ticket {target.number} was merged into {target.merged_into_number}: "
            f"merge into {target.merged_into_number} instead"
        )
    for side in (source, target):
        if side.status == TicketStatus.SPAM:
            raise CommandError(f"ticket {side.number} is spam: set it open first to merge it")
    other_customer = source.customer_id != target.customer_id
    target_reason = f"ticket {source.number} merged into this one"
    if other_customer:
        target_reason += " (another customer's: told of the merge; answers here go to this ticket's customer)"
    return MergePlan(
        source_id=source.id,
        target_id=target.id,
        other_customer=other_customer,
        source_reason=f"merged into ticket {target.number}",
        target_reason=target_reason,
    )


def follow_merges(ticket_id: int, merged_into: Mapping[int, int | None], limit: int = MAX_MERGE_CHAIN) -> int:
    """Return the ticket that mail for `ticket_id` lands in: the end of its chain of merges.

    `merged_into` maps a ticket to the one it joined (absent or None: not merged). At most `limit` steps, and a
    ticket seen before ends the walk (a cycle no merge creates, but a hand-edited database might).
    """
    seen = {ticket_id}
    current = ticket_id
    for _ in range(limit):
        following = merged_into.get(current)
        if following is None or following in seen:
            break
        seen.add(following)
        current = following
    return current


@dataclass(frozen=True)
class SplitCandidate:
    """One stored message of the ticket being split, in stored order."""

    id: int
    kind: str
    direction: str
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]


def plan_split(number: str, messages: Sequence[SplitCandidate], from_id: int) -> tuple[int, ...]:
    """Pick the messages that leave ticket `number` for a new ticket, starting at message `from_id`.

    They are that message, which a customer wrote, and every later message that answers it or one picked before
    it (In-Reply-To or References): the customer's follow-ups and our answers on the new topic. Everything else
    stays, the mail of the original topic included.

    Raises: CommandError when the message is not on the ticket, is not a customer's, or opened the ticket.
    """
    ordered = sorted(messages, key=lambda m: m.id)
    start = next((m for m in ordered if m.id == from_id), None)
    if start is None:
        raise CommandError(f"message {from_id} is not on ticket {number} (`tickets show {number}` lists its messages)")
    if start.kind != MessageKind.CUSTOMER or start.direction != Direction.INBOUND:
        raise CommandError(f"message {from_id} is not a customer's message: only what a customer wrote starts a ticket")
    if not any(m.id < from_id and m.kind == MessageKind.CUSTOMER for m in ordered):
        raise CommandError(f"message {from_id} opened ticket {number}: there is no new topic to split off")
    picked = [start.id]
    ids = {start.message_id} if start.message_id else set()
    for message in ordered:
        if message.id <= from_id:
            continue
        answers = {message.in_reply_to, *message.references} - {None, ""}
        if answers & ids:
            picked.append(message.id)
            if message.message_id:
                ids.add(message.message_id)
    return tuple(picked)
